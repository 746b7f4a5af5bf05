/**
 * The client protocol: what a non-member client and the members exchange, each message the
 * payload of one `PacketType.Client` packet (runtime/wire/packet.ts) with no headers. The
 * payload is a msgpack array whose first element is the kind. Documented in docs/rpc.md.
 *
 * Client → member: `call`, `calls`, `outcome?`, `hello`.
 * Member → client: `reply`, `replies`, `accepted`, `reject`, `outcome`, `view`, `pad`, `cookie`.
 *
 * Without a group key a client packet may carry one header, the receiving member's cookie for
 * the client's address (runtime/rpc/address-proof.ts); with a key it carries none.
 *
 * {@link decodeClientPacket} accepts any bytes and throws nothing but `DecodeError`: the
 * receivers count and drop what it refuses.
 */

import { checkAuth, type PacketAuth } from '../wire/auth.js';
import { DecodeError } from '../wire/errors.js';
import type { Endpoint } from '../wire/packet.js';
import { decodeFixedHeader, decodePacket, encodePacket, PacketType } from '../wire/packet.js';
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

/** Ask the contact to run a call (or, for `first`, to resend the reply of a known one). */
export interface CallPacket {
  kind: 'call';
  id: string;
  service: string;
  method: string;
  args: Uint8Array;
  mode: ReplyMode;
  /**
   * The member the client addresses (its contact). Another member at that address, a new
   * incarnation after a crash, drops the packet: a delayed copy meant for the dead one must not
   * put the request into the order behind an outcome answer that called it not-found.
   */
  to?: string;
  /**
   * The client's settled watermark (for ids of its own client id): it will never ask about a
   * request of its own numbered at or below this again, so the group may drop those outcomes.
   */
  settled?: number;
  /**
   * Counters at or below `settled` the client has not settled: its requests far behind its
   * newest that are still pending or unanswered (outcomes.ts, `MAX_KEPT` at most). The group
   * keeps their outcomes while the floor passes them. Absent when there are none.
   */
  keep?: number[];
  /**
   * The client's issue of this request: each call of the id (the first, and every reissue) gets
   * one above those it started before, at least the clock's milliseconds. Every packet of one
   * issue carries the same number, to whichever member it goes. A fence refuses the copies of
   * the issues up to the one it names (docs/rpc.md, "Issues and fencing"). Absent from a client
   * of an earlier release (issue 0; such a client asks for no fence).
   */
  issue?: number;
  /**
   * The history of the group ({@link ViewPacket.history}) the client first sent this request
   * in, when a member had told it one. A member whose state belongs to another history does not
   * order it (it may have run in that one, whose record is lost): it answers with its view, and
   * the client learns the history changed (docs/rpc.md, "When the whole group loses its
   * majority"). Absent: no history known (then any member orders it), or a client of an
   * earlier release.
   */
  history?: number;
}

/**
 * Several calls to one contact in one packet: the calls a client started in one turn of its event
 * loop (e.g. those its callers made on the replies of one `replies` packet). The contact treats
 * each as if it came alone, in this order, and orders them together.
 */
export interface CallsPacket {
  kind: 'calls';
  calls: CallPacket[];
}

/** Ask any member what it knows of a request (its recorded reply, if committed). */
export interface OutcomeQueryPacket {
  kind: 'outcome?';
  id: string;
  /**
   * Members to fence, from a client of an earlier release: read and ignored (the group fences
   * issues now, {@link OutcomeQueryPacket.upTo}).
   */
  fence?: string[];
  /**
   * The client's number for this query, echoed in the answer: a `pending` or `not-found` is
   * true when it is made, so the client takes it only as the answer to the query it asked. A
   * late or duplicated answer to an earlier query (made before the client's reissue reached the
   * member) read as the answer to a later one made a stale `not-found` final (RPC seed
   * 100022395, test/sim/FINDINGS.md item 58). Absent from a client of an earlier release.
   */
  q?: number;
  /**
   * The highest issue of the request the client sent and gave up on (0: none). If the answer
   * would be `not-found`, the asked member has the group *fence* those issues (an ordered
   * `fence`: their copies ordered later are refused, wherever they were cast and however late
   * they arrive), so the answer becomes final once the fence is applied. Sent with `q`; its
   * presence makes the answer carry `fencedUpTo`. Absent from a client of an earlier release.
   */
  upTo?: number;
}

/** Ask a member for its view; doubles as the client's heartbeat to its contact. */
export interface HelloPacket {
  kind: 'hello';
  /** The view id the client knows, 0 if none. */
  viewId: number;
  /**
   * The largest packet the client's transport takes (`maxDatagram`): the member keeps its
   * answers to it within it, and answers with a `view` that says its own. Absent from a client
   * of an earlier release (2 fields), which gets the 5-field `view` it reads.
   */
  maxDatagram?: number;
  /**
   * Bytes of padding (zeros, ignored): without a group key a member answers a hello with at most
   * {@link HELLO_AMPLIFICATION} times its bytes, so that a hello from a forged source address
   * draws no more than that towards it; a client pads its hellos to what the view it asks for
   * needs ({@link encodeHello}). Absent: none (a client of an earlier release sends 2 or 3 fields).
   */
  padding?: number;
  /**
   * Without a key: a number the member's `view` in answer echoes ({@link ViewPacket.echo}), and
   * its views pushed later too. A keyless client takes a view only with the echo of a hello it
   * sent to that address, so a view spoofed from a member's address is not taken (docs/rpc.md,
   * "Views the client trusts"). In [2^52, 2^53): 52 random bits, always 9 bytes (a float64). Absent: a client of an earlier
   * release (it then sends padding, even of 0 bytes, as the 4th field).
   */
  nonce?: number;
  /**
   * What the client reads that a client of an earlier release would refuse: bit
   * {@link WANTS_HISTORY}, the view's `history`. Absent from a client of an earlier release
   * (then the 4 fields before it are all there: padding empty, nonce nil when it has none).
   */
  wants?: number;
}

/** {@link HelloPacket.wants}: the client reads {@link ViewPacket.history}. */
export const WANTS_HISTORY = 1;

/**
 * Without a key, a member's answer to a packet that does not prove its source address (no valid
 * cookie) is at most this many times the packet's bytes (QUIC's bound for an address not yet
 * validated): a larger view is answered with a `pad` notice, a larger outcome with a `cookie`.
 */
export const HELLO_AMPLIFICATION = 3;

/**
 * A keyless client's hellos are at least this many bytes: a view of about 20 members fits
 * {@link HELLO_AMPLIFICATION} times it, so most groups answer the first hello with their view.
 */
export const HELLO_MIN_BYTES = 200;

/** The most a `pad` notice makes a client pad its hellos to (a view of some 1,800 members fits 3×). */
export const HELLO_MAX_BYTES = 16 * 1024;

/**
 * What a keyless hello is padded to after a `pad` notice asking for `need` bytes, from `current`:
 * at most double (a forged notice buys one hello twice the size), at most `max` (the sender's
 * datagram) and {@link HELLO_MAX_BYTES}. The sender says hello again only when it grew, so a
 * notice it cannot satisfy gets no answer and two parties cannot ping-pong.
 */
export function paddedHello(current: number, need: number, max = HELLO_MAX_BYTES): number {
  return Math.max(HELLO_MIN_BYTES, Math.min(need, 2 * current, HELLO_MAX_BYTES, max));
}

/**
 * A member's answer to a keyless hello too small for its view: say hello again with at least
 * `need` bytes. Smaller than any hello it answers.
 */
export interface PadPacket {
  kind: 'pad';
  need: number;
}

/** One member's answer to a request. */
export interface ReplyPacket {
  kind: 'reply';
  id: string;
  member: string;
  /** The view the request was ordered in (for queries: the answering member's view). */
  viewId: number;
  members: string[];
  result: Result;
}

/**
 * Several replies of one member to one client, all ordered in (or, for queries, answered in) the
 * same view: what the member had to send that client in one turn, in one packet. Each entry
 * means exactly what a {@link ReplyPacket} with the same fields would.
 */
export interface RepliesPacket {
  kind: 'replies';
  member: string;
  viewId: number;
  members: string[];
  replies: { id: string; result: Result }[];
}

/** The request is in the group's order (or, for `ordered: false`, was forwarded as a query). */
export interface AcceptedPacket {
  kind: 'accepted';
  id: string;
  viewId: number;
  /** Members of that view: who answers in `all`/`majority` mode. */
  members: string[];
  ordered: boolean;
  /**
   * The client's issue of the copy that is in the order (for a running handler call: the issue
   * asked about). A copy of an earlier issue may yet be refused by a fence, so a client takes
   * an `accepted` only of its call's issue or a later one. Absent from a member of an earlier
   * release.
   */
  issue?: number;
}

/** The contact refused the call before ordering it (bad arguments, unknown method, expired id). */
export interface RejectPacket {
  kind: 'reject';
  id: string;
  member: string;
  result: Result;
}

/**
 * What a member knows of a request (`TroupeClient.outcome`): `committed` (ordered and applied;
 * the result is kept), `pending` (ordered or being ordered, not yet applied here), `interrupted`
 * (a handler call whose lock holder failed before it answered), `expired` (applied once, its
 * record since dropped by the outcome table's bounds), `not-found` (never ordered: safe to
 * reissue once the answer is `settled`).
 */
export type OutcomeStatus = 'committed' | 'pending' | 'interrupted' | 'expired' | 'not-found';

export interface OutcomePacket {
  kind: 'outcome';
  id: string;
  member: string;
  status: OutcomeStatus;
  /** The answering member's installed view. */
  viewId: number;
  members: string[];
  /** For `committed`: the recorded result. */
  result: Result | undefined;
  /** For `committed`/`interrupted`: the view the request was ordered in. */
  orderedIn: number | undefined;
  /** Always empty: where an earlier release listed fenced members (its clients still read it). */
  fenced: string[];
  /** The query's `q`, when it had one. */
  q?: number;
  /**
   * The highest issue of this request whose copies the group refuses, as applied at the answering
   * member (0: none); sent when the query carried `upTo`.
   */
  fencedUpTo?: number;
}

/**
 * The smallest datagram limit a `hello` or `view` may advertise; a smaller one is ignored (the
 * sender's transport default stands). No real path carries less (IPv6's minimum MTU is 1,280
 * bytes), and without a key a forged packet from a spoofed address saying 1 byte would
 * otherwise refuse every call (or answer) as too large.
 */
export const MIN_ADVERTISED_DATAGRAM = 1_200;

/** A membership hint: the sender's installed view. */
export interface ViewPacket {
  kind: 'view';
  member: string;
  viewId: number;
  members: string[];
  addresses: string[];
  /**
   * The largest packet the sending member's transport takes: a call to it must fit. Sent only
   * to a client whose `hello` gave its own (a client of an earlier release refuses 6 fields);
   * absent from a member of an earlier release.
   */
  maxDatagram?: number;
  /**
   * Without a key: this member's cookie for the client's address ({@link COOKIE_BYTES} bytes),
   * which the client's later packets to it carry (docs/rpc.md, "Cookies without a key").
   */
  cookie?: Uint8Array;
  /**
   * Without a key: the `nonce` of the client's latest hello to this member (answered, or heard
   * before a push), so the client can tell the view answers it. Sent with a cookie only.
   */
  echo?: number;
  /**
   * Which history of the group the member's state belongs to (`GroupHandle.history`): the same
   * number from every member whose state descends from one founding, another once the group was
   * founded again after it lost its majority (docs/rpc.md, "When the whole group loses its
   * majority"). Sent only to a client whose hello asked for it ({@link WANTS_HISTORY}; a client
   * of an earlier release refuses 9 fields), and only once the member's state is settled.
   */
  history?: number;
}

/**
 * Without a key: the member's cookie for the client's address, in answer to a packet that did
 * not carry it (a call, which is then not served, a query that may fence, or an outcome query
 * whose answer is larger than {@link HELLO_AMPLIFICATION} times it). Never larger than the
 * packet it answers: a packet smaller than a notice gets none.
 */
export interface CookiePacket {
  kind: 'cookie';
  cookie: Uint8Array;
}

/** The bytes of a member's cookie for a client address. */
export const COOKIE_BYTES = 8;

/**
 * A member's cookies change every this many ms (of its clock); one is taken for this period and
 * the next, so it proves its address for 10 to 20 minutes. A client asks again for a cookie half
 * a period old (its contact's come with every view answering its heartbeats).
 */
export const COOKIE_PERIOD_MS = 10 * 60_000;

/**
 * A keyless client pads an `outcome?` to a member whose cookie it lacks to this many bytes, so
 * that most answers fit {@link HELLO_AMPLIFICATION} times it without a round trip for the cookie.
 */
export const UNPROVEN_QUERY_BYTES = 200;

export type ClientPacket =
  | CallPacket
  | CallsPacket
  | OutcomeQueryPacket
  | HelloPacket
  | ReplyPacket
  | RepliesPacket
  | AcceptedPacket
  | RejectPacket
  | OutcomePacket
  | ViewPacket
  | PadPacket
  | CookiePacket;

const KIND = {
  call: 1,
  'outcome?': 2,
  hello: 3,
  reply: 10,
  accepted: 11,
  reject: 12,
  outcome: 13,
  view: 14,
  replies: 15,
  pad: 16,
  cookie: 17,
  calls: 4,
} as const;

/** Most calls one `calls` packet carries (a bound on the work one packet makes). */
export const MAX_BATCHED_CALLS = 256;

/** Most replies one `replies` packet carries (an entry is at least a few bytes: a bound on work per packet). */
export const MAX_BATCHED_REPLIES = 256;

const STATUSES: readonly OutcomeStatus[] = ['committed', 'pending', 'interrupted', 'expired', 'not-found'];

function tuple(p: ClientPacket): unknown[] {
  switch (p.kind) {
    case 'calls':
      return [KIND.calls, p.calls.map(tuple)];
    case 'call':
      return [
        KIND.call,
        p.id,
        p.service,
        p.method,
        p.args,
        p.mode,
        p.to ?? null,
        p.settled ?? null,
        // Appended fields: the shortest form that holds what the call says.
        ...(p.issue !== undefined || p.keep !== undefined || p.history !== undefined ? [p.issue ?? 0] : []),
        ...(p.keep !== undefined || p.history !== undefined ? [p.keep ?? []] : []),
        ...(p.history !== undefined ? [p.history] : []),
      ];
    case 'outcome?':
      // Later fields were appended: the shortest form that holds what the query says.
      return [
        KIND['outcome?'],
        p.id,
        p.fence ?? null,
        ...(p.q !== undefined || p.upTo !== undefined ? [p.q ?? 0] : []),
        ...(p.upTo !== undefined ? [p.upTo] : []),
      ];
    case 'hello':
      return [
        KIND.hello,
        p.viewId,
        // Appended fields: the shortest form that holds what the hello says.
        ...(p.maxDatagram !== undefined || p.padding || p.nonce !== undefined || p.wants !== undefined
          ? [p.maxDatagram ?? 0]
          : []),
        ...(p.padding || p.nonce !== undefined || p.wants !== undefined
          ? [new Uint8Array(p.padding ?? 0)]
          : []),
        ...(p.nonce !== undefined || p.wants !== undefined ? [p.nonce ?? null] : []),
        ...(p.wants !== undefined ? [p.wants] : []),
      ];
    case 'pad':
      return [KIND.pad, p.need];
    case 'reply':
      return [KIND.reply, p.id, p.member, p.viewId, p.members, resultToTuple(p.result)];
    case 'accepted':
      return [
        KIND.accepted,
        p.id,
        p.viewId,
        p.members,
        p.ordered,
        ...(p.issue !== undefined ? [p.issue] : []),
      ];
    case 'reject':
      return [KIND.reject, p.id, p.member, resultToTuple(p.result)];
    case 'outcome':
      return [
        KIND.outcome,
        p.id,
        p.member,
        p.status,
        p.viewId,
        p.members,
        p.result ? resultToTuple(p.result) : null,
        p.orderedIn ?? null,
        p.fenced,
        ...(p.q !== undefined || p.fencedUpTo !== undefined ? [p.q ?? 0] : []),
        ...(p.fencedUpTo !== undefined ? [p.fencedUpTo] : []),
      ];
    case 'view':
      return [
        KIND.view,
        p.member,
        p.viewId,
        p.members,
        p.addresses,
        // Appended fields: the shortest form that holds what the view says.
        ...(p.maxDatagram !== undefined || p.cookie || p.history !== undefined ? [p.maxDatagram ?? 0] : []),
        ...(p.cookie || p.history !== undefined ? [p.cookie ?? null] : []),
        ...((p.cookie && p.echo !== undefined) || p.history !== undefined
          ? [p.cookie && p.echo !== undefined ? p.echo : null]
          : []),
        ...(p.history !== undefined ? [p.history] : []),
      ];
    case 'cookie':
      return [KIND.cookie, p.cookie];
    case 'replies':
      return [
        KIND.replies,
        p.member,
        p.viewId,
        p.members,
        p.replies.map((r) => [r.id, resultToTuple(r.result)]),
      ];
  }
}

/**
 * Encodes a client-protocol message into a `PacketType.Client` packet of group `groupId`,
 * signed with `auth` (the group key and this sender's counter) when given, for `receiver` when
 * the sender knows the endpoint at the destination (the tag then names it).
 */
export function encodeClientPacket(
  p: ClientPacket,
  groupId: number,
  sender: Endpoint,
  auth?: PacketAuth,
  receiver?: Endpoint,
  /** Without a key: the receiving member's cookie for our address, or padding in its stead. */
  head?: ClientHead,
): Uint8Array {
  const packet = {
    type: PacketType.Client,
    flags: 0,
    groupId,
    sender,
    // Not part of the message: a keyless client's proof of its address travels beside it.
    headers:
      head === undefined
        ? []
        : ['cookie' in head ? [HEAD.cookie, head.cookie] : [HEAD.pad, new Uint8Array(head.pad)]],
    payload: encodeValue(tuple(p)),
  };
  return auth ? auth.encode(packet, receiver) : encodePacket(packet);
}

/**
 * A keyless client packet's one header: the receiving member's cookie for the sender's address
 * (runtime/rpc/address-proof.ts), or, from a client without it, `pad` bytes of padding (ignored)
 * that let the member's answer be larger.
 */
export type ClientHead = { cookie: Uint8Array } | { pad: number };

/** A client packet header is `[HEAD.cookie, bytes]` or `[HEAD.pad, bytes]`. */
const HEAD = { cookie: 1, pad: 2 } as const;

/**
 * A packet of at least `minBytes`: `encode(0)`, or, when shorter, `encode(n)` with `n` bytes of
 * padding, whose own msgpack header (bin 8: 2 bytes, bin 16: 3) counts towards `minBytes`.
 */
export function padTo(minBytes: number, encode: (padding: number) => Uint8Array): Uint8Array {
  const plain = encode(0);
  if (plain.length >= minBytes) return plain;
  let padding = minBytes - plain.length - 2;
  if (padding > 0xff) padding--;
  const padded = encode(Math.max(1, padding));
  return padded.length >= minBytes ? padded : encode(Math.max(1, padding) + minBytes - padded.length);
}

/**
 * A keyless client's hello of at least `minBytes` (padded when shorter), encoded by `encode`:
 * a member answers it with a view of up to {@link HELLO_AMPLIFICATION} times that.
 */
export function encodeHello(
  p: HelloPacket,
  minBytes: number,
  encode: (p: ClientPacket) => Uint8Array,
): Uint8Array {
  return padTo(minBytes, (padding) => encode(padding ? { ...p, padding } : p));
}

/**
 * A keyless client's packet `p` to a member, encoded by `encode`: with the member's `cookie` when
 * it has one. A hello is padded to `helloBytes` (a member answers one without the cookie with at
 * most 3 times its bytes), and an `outcome?` without the cookie to {@link UNPROVEN_QUERY_BYTES},
 * so that its answer usually fits 3 times it (a call without one is not served: no padding helps).
 */
export function keylessPacket(
  p: ClientPacket,
  cookie: Uint8Array | undefined,
  helloBytes: number,
  encode: (p: ClientPacket, head?: ClientHead) => Uint8Array,
): Uint8Array {
  const head = cookie && { cookie };
  if (p.kind === 'hello') return encodeHello(p, helloBytes, (q) => encode(q, head));
  if (head || p.kind !== 'outcome?') return encode(p, head);
  return padTo(UNPROVEN_QUERY_BYTES, (pad) => encode(p, pad ? { pad } : undefined));
}

function cookie(v: unknown): Uint8Array {
  const b = bytes(v, 'cookie');
  if (b.length !== COOKIE_BYTES) bad(`a cookie is ${COOKIE_BYTES} bytes, got ${b.length}`);
  return b;
}

/** The cookie a client packet's header carries, if any ({@link ClientHead}). */
function head(headers: unknown[]): Uint8Array | undefined {
  if (headers.length === 0) return undefined;
  if (headers.length > 1) return bad('a client packet carries at most one header');
  const h = headers[0];
  if (!Array.isArray(h) || h.length !== 2 || (h[0] !== HEAD.cookie && h[0] !== HEAD.pad))
    return bad('a client packet header is [1, cookie] or [2, padding]');
  if (h[0] === HEAD.cookie) return cookie(h[1]);
  bytes(h[1], 'padding');
  return undefined;
}

function fields(v: unknown[], n: number, kind: string): void {
  if (v.length !== n) bad(`${kind} has ${n} fields, got ${v.length}`);
}

function parse(v: unknown): ClientPacket {
  if (!Array.isArray(v)) return bad('client message must be an array');
  switch (v[0]) {
    case KIND.call: {
      // The issue (9 fields), the kept counters (10) and the history (11) came later; earlier
      // clients send fewer. With 11, no kept counters are an empty list.
      if (v.length < 8 || v.length > 11) fields(v, 11, 'call');
      const keep = v.length >= 10 ? ints(v[9], 'kept counters', MAX_KEPT) : [];
      return {
        kind: 'call',
        id: requestId(v[1]),
        service: str(v[2], 'service', 256),
        method: str(v[3], 'method', 256),
        args: bytes(v[4], 'args'),
        mode: mode(v[5]),
        ...(v[6] === null ? {} : { to: str(v[6], 'member', 64) }),
        ...(v[7] === null ? {} : { settled: int(v[7], 'settled watermark') }),
        ...(v.length >= 9 ? { issue: int(v[8], 'issue') } : {}),
        ...(keep.length > 0 ? { keep } : {}),
        ...(v.length === 11 ? { history: int(v[10], 'history') } : {}),
      };
    }
    case KIND['outcome?']:
      // The query number (4 fields), then the fenced issue (5) came later: earlier clients send fewer.
      if (v.length !== 3 && v.length !== 4) fields(v, 5, 'outcome?');
      return {
        kind: 'outcome?',
        id: requestId(v[1]),
        ...(v[2] === null ? {} : { fence: strings(v[2], 'fence', 64) }),
        ...(v.length >= 4 ? { q: int(v[3], 'query number') } : {}),
        ...(v.length === 5 ? { upTo: int(v[4], 'fenced issue') } : {}),
      };
    case KIND.calls: {
      fields(v, 2, 'calls');
      const list = v[1];
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCHED_CALLS)
        bad(`calls must be a list of 1 to ${MAX_BATCHED_CALLS} calls`);
      return {
        kind: 'calls',
        calls: (list as unknown[]).map((e) => {
          if (!Array.isArray(e) || e[0] !== KIND.call) bad('a calls entry must be a call');
          return parse(e) as CallPacket;
        }),
      };
    }
    case KIND.hello:
      // The client's datagram limit (3 fields), padding (4), the nonce (5), then what it reads
      // (6) came later; earlier clients send fewer. With 6, a keyed client's nonce is nil.
      if (v.length < 2 || v.length > 6) fields(v, 6, 'hello');
      return {
        kind: 'hello',
        viewId: int(v[1], 'view id'),
        ...(v.length >= 3 ? { maxDatagram: int(v[2], 'max datagram') } : {}),
        ...(v.length >= 4 ? { padding: bytes(v[3], 'padding').length } : {}),
        ...(v.length >= 5 && !(v.length === 6 && v[4] === null) ? { nonce: int(v[4], 'nonce') } : {}),
        ...(v.length === 6 ? { wants: int(v[5], 'wants') } : {}),
      };
    case KIND.pad:
      fields(v, 2, 'pad');
      return { kind: 'pad', need: int(v[1], 'needed bytes') };
    case KIND.reply:
      fields(v, 6, 'reply');
      return {
        kind: 'reply',
        id: requestId(v[1]),
        member: str(v[2], 'member', 64),
        viewId: int(v[3], 'view id'),
        members: strings(v[4], 'members'),
        result: resultFromTuple(v[5]),
      };
    case KIND.replies: {
      fields(v, 5, 'replies');
      const list = v[4];
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCHED_REPLIES)
        bad(`replies must be a list of 1 to ${MAX_BATCHED_REPLIES} entries`);
      return {
        kind: 'replies',
        member: str(v[1], 'member', 64),
        viewId: int(v[2], 'view id'),
        members: strings(v[3], 'members'),
        replies: (list as unknown[]).map((e) => {
          if (!Array.isArray(e) || e.length !== 2) bad('a replies entry has 2 fields');
          const [id, result] = e as unknown[];
          return { id: requestId(id), result: resultFromTuple(result) };
        }),
      };
    }
    case KIND.accepted:
      // The issue came later (6 fields); a member of an earlier release sends 5.
      if (v.length !== 5) fields(v, 6, 'accepted');
      if (typeof v[4] !== 'boolean') bad('accepted.ordered must be a boolean');
      return {
        kind: 'accepted',
        id: requestId(v[1]),
        viewId: int(v[2], 'view id'),
        members: strings(v[3], 'members'),
        ordered: v[4] as boolean,
        ...(v.length === 6 ? { issue: int(v[5], 'issue') } : {}),
      };
    case KIND.reject: {
      fields(v, 4, 'reject');
      // A refusal carries why: no member sends one with a value. Taken, it ended a call with no
      // error of its own to give (FINDINGS 264).
      const result = resultFromTuple(v[3]);
      if (result.ok) bad('a reject carries an error, not a value');
      return { kind: 'reject', id: requestId(v[1]), member: str(v[2], 'member', 64), result };
    }
    case KIND.outcome: {
      if (v.length !== 9 && v.length !== 10) fields(v, 11, 'outcome');
      const status = v[3];
      if (typeof status !== 'string' || !STATUSES.includes(status as OutcomeStatus))
        bad(`outcome status must be one of ${STATUSES.join(', ')}`);
      return {
        kind: 'outcome',
        id: requestId(v[1]),
        member: str(v[2], 'member', 64),
        status: status as OutcomeStatus,
        viewId: int(v[4], 'view id'),
        members: strings(v[5], 'members'),
        result: v[6] === null ? undefined : resultFromTuple(v[6]),
        orderedIn: v[7] === null ? undefined : int(v[7], 'ordered-in view id'),
        fenced: strings(v[8], 'fenced', 64),
        ...(v.length >= 10 ? { q: int(v[9], 'query number') } : {}),
        ...(v.length === 11 ? { fencedUpTo: int(v[10], 'fenced issue') } : {}),
      };
    }
    case KIND.view: {
      // The member's datagram limit (6 fields), its cookie (7), the echo of the client's nonce
      // (8), then its history (9) came later; earlier members send fewer. With 9, a keyed
      // member's cookie and echo are nil.
      if (v.length < 5 || v.length > 9) fields(v, 9, 'view');
      const full = v.length === 9;
      const members = strings(v[3], 'members');
      const addresses = strings(v[4], 'addresses');
      if (members.length !== addresses.length) bad('view members and addresses differ in length');
      return {
        kind: 'view',
        member: str(v[1], 'member', 64),
        viewId: int(v[2], 'view id'),
        members,
        addresses,
        ...(v.length >= 6 ? { maxDatagram: int(v[5], 'max datagram') } : {}),
        ...(v.length >= 7 && !(full && v[6] === null) ? { cookie: cookie(v[6]) } : {}),
        ...(v.length >= 8 && !(full && v[7] === null) ? { echo: int(v[7], 'echo') } : {}),
        ...(full ? { history: int(v[8], 'history') } : {}),
      };
    }
    case KIND.cookie:
      fields(v, 2, 'cookie');
      return { kind: 'cookie', cookie: cookie(v[1]) };
    default:
      return bad(`unknown client message kind ${shown(v[0])}`);
  }
}

/**
 * Why a received packet was dropped: not a packet, another group's, a bad message, not
 * authenticated by the group key (or authenticated while the receiver has none), or a replay.
 */
export type DropReason = 'malformed' | 'foreign' | 'unauthenticated' | 'replayed';

export class ClientPacketDrop extends DecodeError {
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(
      reason === 'unauthenticated'
        ? 'DECODE_UNAUTHENTICATED'
        : reason === 'replayed'
          ? 'DECODE_REPLAYED'
          : 'DECODE_BAD_SHAPE',
      message,
    );
  }
}

/**
 * Decodes a client packet of group `groupId`, verified with `auth` (the group key and this
 * receiver's replay windows) when given; without it, an authenticated packet is refused.
 * Throws a {@link ClientPacketDrop} (a `DecodeError`) for anything else; never anything else.
 */
/** A client packet as decoded: the message, its sender's endpoint, and the cookie it carried. */
export interface DecodedClientPacket {
  packet: ClientPacket;
  sender: Endpoint;
  cookie?: Uint8Array;
}

export function decodeClientPacket(
  raw: Uint8Array,
  groupId: number,
  auth?: PacketAuth,
  self?: Endpoint,
): DecodedClientPacket {
  try {
    const h = decodeFixedHeader(raw);
    if (h.type !== PacketType.Client)
      throw new ClientPacketDrop('foreign', `packet type ${h.type} is not Client`);
    if (h.groupId !== groupId >>> 0)
      throw new ClientPacketDrop('foreign', `packet of group ${h.groupId}, not ${groupId >>> 0}`);
    let plain: Uint8Array;
    try {
      plain = checkAuth(auth, raw, h, self).bytes;
    } catch (e) {
      // A stale packet (time outside the freshness bound) is a late replay or a skewed clock:
      // counted with the replays.
      if (e instanceof DecodeError && e.code === 'DECODE_UNAUTHENTICATED')
        throw new ClientPacketDrop('unauthenticated', e.message);
      if (e instanceof DecodeError && (e.code === 'DECODE_REPLAYED' || e.code === 'DECODE_STALE'))
        throw new ClientPacketDrop('replayed', e.message);
      throw e;
    }
    const pkt = decodePacket(plain);
    // Under a key the key proves the sender: a header would be a client of another kind.
    if (auth && pkt.headers.length !== 0) bad('a client packet under a key carries no header');
    const carried = head(pkt.headers);
    const packet = parse(decodeValue(pkt.payload));
    return { packet, sender: pkt.sender, ...(carried ? { cookie: carried } : {}) };
  } catch (e) {
    if (e instanceof ClientPacketDrop) throw e;
    if (e instanceof DecodeError) throw new ClientPacketDrop('malformed', e.message);
    throw new ClientPacketDrop('malformed', `unexpected decode failure: ${(e as Error).message}`);
  }
}

/**
 * {@link decodeClientPacket} for a receive path: a dropped packet is counted under its reason
 * in `counters` and gives `undefined`; nothing is thrown.
 */
export function readClientPacket(
  raw: Uint8Array,
  groupId: number,
  auth: PacketAuth | undefined,
  counters: Record<DropReason, number>,
  self?: Endpoint,
  /** Told why a packet was dropped (a member answers some drops with a refusal notice). */
  onDrop?: (reason: DropReason) => void,
): DecodedClientPacket | undefined {
  try {
    return decodeClientPacket(raw, groupId, auth, self);
  } catch (e) {
    const reason = e instanceof ClientPacketDrop ? e.reason : 'malformed';
    counters[reason]++;
    onDrop?.(reason);
    return undefined;
  }
}

/** Member → client kinds; the client drops the others, and members drop these. */
export const TO_CLIENT: ReadonlySet<ClientPacket['kind']> = new Set([
  'reply',
  'replies',
  'accepted',
  'reject',
  'outcome',
  'view',
  'pad',
  'cookie',
]);
