/**
 * Messages replicas exchange inside the group (payloads of `GroupHandle.cast`/`send`). Every
 * ordered one is applied by every replica at the same point of the total order.
 *
 * | kind | sent as | fields |
 * |---|---|---|
 * | `request` | ordered cast by the contact | id, service, method, args, mode, client address, contact, timestamp, settled watermark, issue, kept counters (when any) |
 * | `done` | ordered cast by a lock holder | id, runner, result (a handler call completed) |
 * | `acquire` / `release` | ordered cast | lock, member |
 * | `forward` | point-to-point from the contact | an unordered query to answer in `all`/`majority` mode |
 * | `fence` | ordered cast by a member asked `outcome?` | id, highest issue whose later copies are refused, caster, its clock |
 * | `requests` | ordered cast by the contact | several encoded `request`s of that contact, applied one after another at the batch's place in the order |
 */
import type { MemberId } from '../stack/member.js';
import type { ReplyMode } from './api.js';
import { decodeValue, encodeValue } from './codec.js';
import { MAX_KEPT } from './outcomes.js';
import {
  bad,
  bytes,
  int,
  ints,
  mode,
  type Result,
  requestId,
  resultFromTuple,
  resultToTuple,
  shown,
  str,
  strings,
} from './result.js';

export interface RequestMsg {
  kind: 'request';
  id: string;
  service: string;
  method: string;
  /** msgpack-encoded argument array, validated by every replica before the method runs. */
  args: Uint8Array;
  mode: ReplyMode;
  /** The client's transport address, where replies go. */
  client: string;
  /** The member that put the request into the order. */
  contact: MemberId;
  /** The contact's clock when it ordered the request; replicas make it monotonic. */
  ts: number;
  /** The client's settled watermark from its `call` packet (outcomes.ts), when it sent one. */
  settled: number | undefined;
  /** The client's unsettled counters at or below `settled` (its `call` packet's `keep`). */
  keep?: number[] | undefined;
  /**
   * The client's issue of the request this copy comes from (its `call` packet's; 0 from a client
   * of an earlier release). A fence refuses the copies of the issues up to the one it names,
   * wherever and whenever they were cast (docs/rpc.md, "Issues and fencing").
   */
  issue: number;
}

export interface DoneMsg {
  kind: 'done';
  id: string;
  runner: MemberId;
  result: Result;
}

export interface LockMsg {
  kind: 'acquire' | 'release';
  lock: string;
  member: MemberId;
}

export interface ForwardMsg {
  kind: 'forward';
  id: string;
  service: string;
  method: string;
  args: Uint8Array;
  mode: ReplyMode;
  client: string;
  /** The ordering view id and members the contact told the client about. */
  viewId: number;
}

/**
 * From here on in the order, copies of request `id` of issue `upTo` or lower are refused
 * (docs/rpc.md, "Issues and fencing"). A fence of an earlier release named members; it decodes with `upTo`
 * 0, which refuses nothing.
 */
export interface FenceMsg {
  kind: 'fence';
  id: string;
  upTo: number;
  /** The member that cast it, and its clock then: two casts of one fence are distinct messages. */
  by: MemberId;
  at: number;
}

/**
 * Requests a contact batched into one ordered cast while its previous one was being ordered
 * (replica.ts, "Batching"). Each part is an encoded `request` of the same contact: every replica
 * applies them in this order at the batch's place in the total order, exactly as if each had
 * been cast alone back to back.
 */
export interface RequestsMsg {
  kind: 'requests';
  parts: Uint8Array[];
}

/** Most requests one `requests` message carries (a bound checked on decode). */
export const MAX_BATCH_PARTS = 256;

export type GroupMsg = RequestMsg | DoneMsg | LockMsg | ForwardMsg | FenceMsg | RequestsMsg;

const KIND = { request: 1, done: 2, acquire: 3, release: 4, forward: 5, fence: 6, requests: 7 } as const;

export function encodeGroupMsg(m: GroupMsg): Uint8Array {
  switch (m.kind) {
    case 'request':
      return encodeValue([
        KIND.request,
        m.id,
        m.service,
        m.method,
        m.args,
        m.mode,
        m.client,
        m.contact,
        m.ts,
        m.settled ?? null,
        m.issue,
        // Appended when present: most requests have nothing kept and keep the earlier 11 fields.
        ...(m.keep !== undefined ? [m.keep] : []),
      ]);
    case 'done':
      return encodeValue([KIND.done, m.id, m.runner, resultToTuple(m.result)]);
    case 'acquire':
    case 'release':
      return encodeValue([KIND[m.kind], m.lock, m.member]);
    case 'forward':
      return encodeValue([KIND.forward, m.id, m.service, m.method, m.args, m.mode, m.client, m.viewId]);
    case 'fence':
      return encodeValue([KIND.fence, m.id, m.upTo, m.by, m.at]);
    case 'requests':
      return encodeValue([KIND.requests, m.parts]);
  }
}

/**
 * Elements 1–6 of a request or a forward (the call as the client made it), in a literal the
 * caller completes: no second object spread into the first (a copy and a slow shape per request
 * at every replica), and one shape per kind.
 */
function callFields(v: unknown[], kind: 'request' | 'forward') {
  return {
    kind,
    id: requestId(v[1]),
    service: str(v[2], 'service', 256),
    method: str(v[3], 'method', 256),
    args: bytes(v[4], 'args'),
    mode: mode(v[5]),
    client: str(v[6], 'client address', 256),
  };
}

/** A fence's issue; an earlier release's fence named members instead (checked, then refuses nothing). */
function fencedIssue(v: unknown): number {
  if (!Array.isArray(v)) return int(v, 'fenced issue');
  strings(v, 'fenced members', 64);
  return 0;
}

/** Decodes and checks a group message; throws only `DecodeError`. */
export function decodeGroupMsg(payload: Uint8Array): GroupMsg {
  const v = decodeValue(payload);
  if (!Array.isArray(v)) return bad('group message must be an array');
  switch (v[0]) {
    case KIND.request:
      if (v.length !== 11 && v.length !== 12) bad('request has 11 or 12 fields');
      {
        const r = callFields(v, 'request') as RequestMsg;
        r.contact = str(v[7], 'contact', 64);
        r.ts = int(v[8], 'timestamp');
        r.settled = v[9] === null ? undefined : int(v[9], 'settled watermark');
        // An earlier release's contact put a boolean (after-fence) here: its clients' issue, 0.
        r.issue = typeof v[10] === 'boolean' ? 0 : int(v[10], 'issue');
        r.keep = v.length === 12 ? ints(v[11], 'kept counters', MAX_KEPT) : undefined;
        return r;
      }
    case KIND.done:
      if (v.length !== 4) bad('done has 4 fields');
      return {
        kind: 'done',
        id: requestId(v[1]),
        runner: str(v[2], 'runner', 64),
        result: resultFromTuple(v[3]),
      };
    case KIND.acquire:
    case KIND.release:
      if (v.length !== 3) bad('lock message has 3 fields');
      return {
        kind: v[0] === KIND.acquire ? 'acquire' : 'release',
        lock: str(v[1], 'lock', 256),
        member: str(v[2], 'member', 64),
      };
    case KIND.forward:
      if (v.length !== 8) bad('forward has 8 fields');
      {
        const f = callFields(v, 'forward') as ForwardMsg;
        f.viewId = int(v[7], 'view id');
        return f;
      }
    case KIND.fence:
      if (v.length !== 5) bad('fence has 5 fields');
      return {
        kind: 'fence',
        id: requestId(v[1]),
        upTo: fencedIssue(v[2]),
        by: str(v[3], 'fencing member', 64),
        at: int(v[4], 'fence time'),
      };
    case KIND.requests: {
      if (v.length !== 2) bad('requests has 2 fields');
      const parts = v[1];
      if (!Array.isArray(parts) || parts.length < 1 || parts.length > MAX_BATCH_PARTS)
        bad(`requests carries 1 to ${MAX_BATCH_PARTS} parts`);
      return { kind: 'requests', parts: (parts as unknown[]).map((p) => bytes(p, 'request part')) };
    }
    default:
      return bad(`unknown group message kind ${shown(v[0])}`);
  }
}
