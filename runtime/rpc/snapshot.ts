/**
 * What a replica's snapshot holds, and its format (docs/rpc.md, "State transfer"): the
 * application state, the outcome table, the locks and pending handler calls, the last call time,
 * the view applied last, and what was delivered but not yet applied. {@link parseSnapshot} holds
 * the bytes, which come from another process, to the standard of a packet.
 */
import type { MemberId } from '../stack/member.js';
import type { ReplyMode } from './api.js';
import { decodeValue, encodeValue, SNAPSHOT_LIMITS } from './codec.js';
import { SnapshotError } from './errors.js';
import { LockTable } from './locks.js';
import type { GroupMsg } from './messages.js';
import { type OutcomeLimits, OutcomeTable } from './outcomes.js';
import { bad, bytes, int, mode, requestId, str, strings } from './result.js';

/** A view as the replica applied it. */
export interface AppliedView {
  id: number;
  members: MemberId[];
}

/** A handler call in the order whose holder has not yet cast its completion. Replicated. */
export interface PendingHandler {
  id: string;
  lock: string;
  runner: MemberId;
  client: string;
  mode: ReplyMode;
  contact: MemberId;
  view: AppliedView;
  at: number;
}

/**
 * One unit of the apply queue: a delivered cast, a view change, or a whole state to install
 * (deferred while an async method of an earlier history still runs, see `Replica.restore`).
 * `fresh` marks a view of this member's current incarnation (not one from a snapshot's backlog).
 */
export type Item =
  | { t: 'msg'; payload: Uint8Array; sender: MemberId; viewId: number; msg?: GroupMsg }
  | { t: 'view'; viewId: number; members: MemberId[]; fresh?: boolean }
  | { t: 'restore'; state: Uint8Array };

/** A snapshot's parts, checked (see {@link parseSnapshot}). */
export interface SnapshotParts {
  app: unknown;
  outcomes: OutcomeTable;
  locks: LockTable;
  pending: Map<string, PendingHandler>;
  lastNow: number;
  applied: AppliedView;
  backlog: Delivered[];
  /** Requests at the backlog's head the outcome table already counted (see `OutcomeTable.snapshot`). */
  unapplied?: number;
}

/** An item of a snapshot's backlog (never a `restore`). */
export type Delivered = Exclude<Item, { t: 'restore' }>;

const SNAPSHOT_VERSION = 1;

export const delivered = (items: Item[]): Delivered[] =>
  items.filter((i): i is Delivered => i.t !== 'restore');

/** Whether `parts` is, byte for byte, the state `start` encodes with the same request heading its backlog. */
export function opensWith(parts: SnapshotParts, start: Uint8Array): boolean {
  const first = parts.backlog[0];
  if (first?.t !== 'msg') return false;
  return Buffer.compare(encodeSnapshot({ ...parts, backlog: [first] }), start) === 0;
}

/** The snapshot format, version {@link SNAPSHOT_VERSION} (docs/rpc.md, "State transfer"). */
export function encodeSnapshot(p: SnapshotParts): Uint8Array {
  const pending = [...p.pending.values()].map((h) => [
    h.id,
    h.lock,
    h.runner,
    h.client,
    h.mode,
    h.contact,
    h.view.id,
    h.view.members,
    h.at,
  ]);
  const backlog = p.backlog.map((i) =>
    i.t === 'msg' ? ['m', i.payload, i.sender, i.viewId] : ['v', i.viewId, i.members],
  );
  return encodeValue([
    SNAPSHOT_VERSION,
    p.app,
    p.outcomes.snapshot(p.unapplied ?? 0),
    p.locks.snapshot(),
    pending,
    p.lastNow,
    p.applied.id,
    p.applied.members,
    backlog,
  ]);
}

/**
 * Decodes and checks a whole snapshot into fresh tables, touching nothing of the replica: the
 * bytes come from another process and are held to the same standard as packets. Throws only
 * {@link SnapshotError} (its `cause` says what was wrong).
 */
export function parseSnapshot(state: Uint8Array, limits: Partial<OutcomeLimits>): SnapshotParts {
  try {
    const v = decodeValue(state, SNAPSHOT_LIMITS);
    if (!Array.isArray(v) || v[0] !== SNAPSHOT_VERSION || v.length !== 9)
      throw new SnapshotError('state snapshot is not a troupe rpc snapshot of this version');
    const [, app, outcomeState, lockState, pendingState, lastNow, viewId, members, backlogState] = v;
    const outcomes = new OutcomeTable(limits);
    outcomes.restore(outcomeState);
    const locks = new LockTable();
    locks.restore(lockState);
    if (!Array.isArray(pendingState) || !Array.isArray(backlogState))
      bad('pending and backlog must be arrays');
    const pending = new Map<string, PendingHandler>();
    for (const t of pendingState as unknown[]) {
      if (!Array.isArray(t) || t.length !== 9) bad('pending handler call must have 9 fields');
      const p = t as unknown[];
      const h: PendingHandler = {
        id: requestId(p[0]),
        lock: str(p[1], 'lock', 256),
        runner: str(p[2], 'runner', 64),
        client: str(p[3], 'client address', 256),
        mode: mode(p[4]),
        contact: str(p[5], 'contact', 64),
        view: { id: int(p[6], 'view id'), members: strings(p[7], 'view members') },
        at: int(p[8], 'time'),
      };
      pending.set(h.id, h);
    }
    const backlog = (backlogState as unknown[]).map((t): Delivered => {
      if (Array.isArray(t) && t[0] === 'm' && t.length === 4)
        return {
          t: 'msg',
          payload: bytes(t[1], 'message'),
          sender: str(t[2], 'sender', 64),
          viewId: int(t[3], 'view id'),
        };
      if (Array.isArray(t) && t[0] === 'v' && t.length === 3)
        return { t: 'view', viewId: int(t[1], 'view id'), members: strings(t[2], 'view members') };
      return bad('backlog item must be a message or a view');
    });
    return {
      app,
      outcomes,
      locks,
      pending,
      lastNow: int(lastNow, 'lastNow'),
      applied: { id: int(viewId, 'view id'), members: strings(members, 'view members') },
      backlog,
    };
  } catch (e) {
    if (e instanceof SnapshotError) throw e;
    const why = e instanceof Error ? e.message : 'not an error';
    throw new SnapshotError(`state snapshot rejected: ${why}`, { cause: e });
  }
}
