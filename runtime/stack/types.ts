import type { MemberId } from './member.js';

/**
 * A message on its way through the stack. Each layer pushes one header on the way down and
 * pops it on the way up; `payload` is shared by reference and never copied by a layer.
 *
 * A plain `{ headers, payload }` is a message; so is a {@link Stacked}, what {@link pushHeader}
 * and {@link fromHeaders} build, whose `headers` are computed when read.
 */
export interface Msg {
  /** Layer headers, top-most first; the bottom-most header is last. */
  readonly headers: readonly unknown[];
  readonly payload: Uint8Array;
}

/** The headers of a message that has none (shared: nothing writes to it). */
const NO_HEADERS: readonly unknown[] = Object.freeze([]);

/**
 * A message as the stack builds it: the message `below` with one header more, `top` (the
 * bottom-most, pushed last). A persistent stack: a push makes one node and copies nothing, and
 * the message a pop returns is `below` itself, so neither way allocates per header beyond the
 * node. Immutable, like every message: a layer that keeps one (nak's retransmission buffer,
 * gms's forwarding log) keeps what it saw, whatever is pushed on it or popped off it later;
 * nodes are shared, never written. The header list is built only when `headers` is read (com
 * encoding a packet, pack packing one, a held message's size).
 */
export class Stacked implements Msg {
  constructor(
    /** The bottom-most header (the one pushed last). */
    readonly top: unknown,
    /** This message without `top`. */
    readonly below: Msg,
    readonly payload: Uint8Array,
    /** How many headers: `headers.length`. */
    readonly depth: number,
  ) {}

  get headers(): readonly unknown[] {
    const out = new Array<unknown>(this.depth);
    let i = this.depth - 1;
    let m: Msg = this;
    for (; m instanceof Stacked; m = m.below) out[i--] = m.top;
    const base = m.headers;
    for (let j = 0; j <= i; j++) out[j] = base[j];
    return out;
  }
}

/** How many headers `msg` carries, without building its header list. */
export function headerCount(msg: Msg): number {
  return msg instanceof Stacked ? msg.depth : msg.headers.length;
}

/** The top-most header of `msg` (the first pushed), without building its header list. */
export function firstHeader(msg: Msg): unknown {
  let m = msg;
  for (; m instanceof Stacked; m = m.below) if (m.depth === 1) return m.top;
  return m.headers[0];
}

/** A message of `headers` (top-most first) and `payload`, as a {@link Stacked}: its layers' pops
 * take nothing but a field read. */
export function fromHeaders(headers: readonly unknown[], payload: Uint8Array): Msg {
  let m: Msg = { headers: NO_HEADERS, payload };
  for (let i = 0; i < headers.length; i++) m = new Stacked(headers[i], m, payload, i + 1);
  return m;
}

/** A message of `payload` with one header (or none). */
export function message(payload: Uint8Array, header?: unknown): Msg {
  const m: Msg = { headers: NO_HEADERS, payload };
  return header === undefined ? m : new Stacked(header, m, payload, 1);
}

/** Push a header (returns a new message; the payload is shared, `msg` is not changed). */
export function pushHeader(msg: Msg, header: unknown): Msg {
  return new Stacked(header, msg, msg.payload, headerCount(msg) + 1);
}

/** Pop the bottom-most header. Returns undefined when there is none (a malformed packet). */
export function popHeader(msg: Msg): [unknown, Msg] | undefined {
  if (msg instanceof Stacked) return [msg.top, msg.below];
  const n = msg.headers.length;
  if (n === 0) return undefined;
  return [msg.headers[n - 1], { headers: msg.headers.slice(0, n - 1), payload: msg.payload }];
}

/**
 * `v` (a decoded header value, or a payload) with every byte array in it copied out of the
 * buffer it views. Decoding hands out byte fields as views into the received datagram: a layer
 * that holds a stranger's message detaches it, so what it counts is all it keeps alive.
 */
export function detach<T>(v: T): T {
  if (v instanceof Uint8Array) return v.slice() as T;
  if (!Array.isArray(v)) return v;
  return v.map(detach) as T;
}

/** Ordering guarantee of one cast (RMP's per-packet QoS). */
export type Ordering = 'unreliable' | 'reliable' | 'fifo' | 'total';
/** When a totally ordered message may be delivered (RMP): as soon as ordered, after K other
 * members hold it, after a majority holds it, or once every member holds it (stable). */
export type Resilience = 'none' | 'k' | 'majority' | 'safe';

/** The quality of service of one cast: its ordering and, for total order, its resilience. */
export interface QoS {
  order: Ordering;
  resilience?: Resilience;
  /** For `resilience: 'k'`: how many other members must hold the message. */
  k?: number;
  /**
   * For total order with a resilience: whose delivery someone is waiting for. `sender`: only the
   * sender's (an RPC contact answering a `first`-mode call alone), so the other members may
   * announce that they hold the message within the sequencer's `lazyAckMs` instead of at once,
   * where no member's delivery needs their announcement sooner. `all` (the default): every
   * member's delivery is awaited, and each announces at once whatever a resilient delivery needs.
   * Which messages are delivered, and in what order, is the same either way.
   */
  awaited?: 'sender' | 'all';
}

export const RELIABLE_FIFO: QoS = { order: 'fifo' };

/** A view: an agreed membership list, members in rank order (rank 0 is the coordinator). */
export interface View {
  id: number;
  members: readonly MemberId[];
  /** Transport addresses of the members, same order as `members`. */
  addresses: readonly string[];
  /** Which flush installed it: two views with one id but different epochs are different views. */
  epoch?: number;
}

/** Events travelling down, from the application towards the network. */
export type DownEvent =
  | { type: 'cast'; msg: Msg; qos: QoS }
  | { type: 'send'; to: MemberId; msg: Msg; qos: QoS }
  /** A view was installed above; lower layers adjust their peer sets. */
  | { type: 'view'; view: View }
  /** Every member of the view holds `seqs[sender]` and everything before it (per sender stream). */
  | { type: 'stable'; seqs: ReadonlyMap<MemberId, number> }
  /** Forget a member entirely (it left or failed); drop its streams and buffers. */
  | { type: 'forget'; member: MemberId }
  /** Start receiving `member`'s stream at `seq` (a joiner does not repair what came before). */
  | { type: 'expect'; member: MemberId; seq: number }
  /**
   * Where does this member's reliable cast stream stand? The reliable layer (capability
   * `join-points`) answers at once, before this call returns, with a `castNext` up event: the
   * number its next cast will carry, which others take as a join point (`expect`).
   */
  | { type: 'castNext' }
  /**
   * Before its first view, membership proved that `member` receives at `address` (its Here or
   * its Join echoed the challenge our Join carried there): com sends to it there and, without a
   * key, refuses its stack packets from anywhere else; the reliable layer asks where its
   * point-to-point stream begins (there) only for a sender so pinned (FINDINGS 215). A view
   * drops every pin: its members' addresses are the view's.
   */
  | { type: 'pin'; member: MemberId; address: string }
  /** A layer above asks membership to remove a member (e.g. flow control gave up waiting for it). */
  | { type: 'suspect'; member: MemberId; reason: string }
  /** Start membership: find the group through the seeds (or form it) and join. `lastView`: the
   * view this process was last in (a previous incarnation, `self` there, stopped: lost its
   * majority, was excluded, yielded), which bounds whether its vote counts in a founding.
   * `admitAfter`: a damped rejoin (the stack's clock, ms): until then the joiner finds the group
   * and votes in a founding, but asks no running group to admit it. */
  | { type: 'join'; lastView?: LastView; admitAfter?: number }
  /** A discovery packet to one transport address, or to the whole network when `to` is null
   * (multicast beacon); used before a member has a view. */
  | { type: 'probe'; to: string | null; msg: Msg }
  /**
   * Membership's report nonces in view `viewId` (gms `reportNonce`): this member's own, and each
   * other member's as its heartbeats carried it. Stability gossip echoes them: unreliable casts,
   * they would otherwise be anyone's who can put a member's address on a datagram (no key).
   */
  | { type: 'nonces'; viewId: number; own: string; heard: ReadonlyMap<MemberId, string> }
  | { type: 'leave' };

/** The view a process was last in, as a rejoining incarnation remembers it. */
export interface LastView {
  members: readonly MemberId[];
  addresses: readonly string[];
  /** The process's member id in that view. */
  self: MemberId;
}

/**
 * `ev` carrying `msg` instead, as a literal that names every field, so every layer passes one
 * object shape. Layers used to pass `{ ...ev, msg }`: V8 clones a spread per source shape, and
 * spreads of the many shapes the layers below build are slow (the order layer's spread of its
 * delivery metas alone was ~20 % of a cast's CPU in `bench/group-cpu.ts`, session 21; these
 * event spreads showed no gain of their own beyond that machine's noise).
 */
export function deliverWith(ev: DeliverEvent, msg: Msg): DeliverEvent {
  return { type: 'deliver', msg, from: ev.from, cast: ev.cast, meta: ev.meta };
}

/** {@link deliverWith} for a cast or a send on its way down. */
export function downWith<E extends CastOrSend>(ev: E, msg: Msg): E {
  return (
    ev.type === 'cast' ? { type: 'cast', msg, qos: ev.qos } : { type: 'send', to: ev.to, msg, qos: ev.qos }
  ) as E;
}

/** A delivery on its way up. */
export type DeliverEvent = Extract<UpEvent, { type: 'deliver' }>;
/** A cast or a send on its way down. */
export type CastOrSend = Extract<DownEvent, { type: 'cast' | 'send' }>;

/** Extra facts a layer attaches to a delivered message. */
export interface DeliveryMeta {
  /** Sequence number in the sender's reliable stream. */
  seq?: number;
  /** The view the message was delivered in (set by membership). */
  viewId?: number;
  /** Position in the view's total order (set by the total-order layer). */
  gseq?: number;
  /** The QoS the sender chose (set by the total-order layer). */
  qos?: QoS;
  /**
   * Came as an unreliable cast (set by membership for its Unreliable kind, which is unnumbered by
   * design): only an application's unreliable cast comes so, never an ordered or FIFO message.
   */
  unreliable?: boolean;
}

/** Who came and went between two views. */
export interface ViewDelta {
  previousId: number | undefined;
  joined: MemberId[];
  left: MemberId[];
  failed: MemberId[];
}

/** Where one lineage of a group stands: its installed view and that view's coordinator. */
export interface LineagePosition {
  viewId: number;
  epoch: number;
  coordinator: MemberId;
}

/** Two lineages of one group met: this member's (`ours`, which yields) and the winner. */
export interface LineageMeeting {
  ours: LineagePosition;
  theirs: LineagePosition;
}

/** Events travelling up, from the network towards the application. */
export type UpEvent =
  | { type: 'deliver'; msg: Msg; from: MemberId; cast: boolean; meta: DeliveryMeta }
  /** A packet from an endpoint outside the group's stack traffic (join requests, beacons). */
  | {
      type: 'discovery';
      msg: Msg;
      from: MemberId;
      address: string;
      /** com verified it under the group key (so `address` was not forged by anyone without it). */
      authenticated?: boolean;
    }
  | { type: 'view'; view: View; delta?: ViewDelta }
  | { type: 'suspect'; member: MemberId; silentMs: number }
  /** The ordering layer measured `member` trailing the group by `lagMs`/`lagBytes`; with
   * `removing`, past the removal bound, and it asked membership to remove the member. */
  | { type: 'lagging'; member: MemberId; lagMs: number; lagBytes: number; removing: boolean }
  /** A flush started: casts are held until the next view. */
  | { type: 'block' }
  /** This member is no longer in the primary partition (or was excluded); it stopped. With
   * `yielded`, it met another lineage of the group that wins (docs/protocol.md, "Lineages"). */
  | { type: 'partitioned'; viewId: number; reason: string; yielded?: LineageMeeting }
  /** This member left the group cleanly. */
  | { type: 'left' }
  /**
   * A joiner confirmed a founder's proposal: it may be counted in a view of `view.members`
   * without ever installing it. The driver remembers it as a last view until one is installed.
   */
  | { type: 'bound'; view: LastView }
  /**
   * Whether this member may speak for its group's history to clients now (membership's
   * judgement: it runs on time, holds no deliveries after a long stop, suspects no majority),
   * on each change. Past `stallMs` of overdue timers the driver takes it as false before the
   * stack has run again (a process that just woke).
   */
  | { type: 'speaking'; speaking: boolean; stallMs: number }
  | { type: 'stable'; seqs: ReadonlyMap<MemberId, number> }
  /** Messages `fromSeq..toSeq` of `from`'s stream can no longer be recovered. */
  | { type: 'lost'; from: MemberId; fromSeq: number; toSeq: number }
  /** The answer to a `castNext` down event: the number this member's next reliable cast carries. */
  | { type: 'castNext'; seq: number };

/** What a stack asks its driver to do. */
export type Effect =
  /** Send bytes to one address, or to the whole group when `to` is null. */
  | { kind: 'transmit'; to: string | null; bytes: Uint8Array }
  /** The fan-out peer list changed (for transports without IP multicast). */
  | { kind: 'peers'; addresses: readonly string[] }
  /** An event reached the top of the stack. */
  | { kind: 'up'; event: UpEvent }
  /** A layer threw something other than a refusal of bad input: a bug, reported, not rethrown. */
  | { kind: 'error'; layer: string; error: unknown };

/** What a layer may do. Nothing else: no sockets, no clocks, no global randomness. */
export interface LayerContext {
  readonly self: MemberId;
  readonly groupName: string;
  /** The injected clock, in milliseconds. */
  now(): number;
  /** The injected random source. */
  random(): number;
  passDown(ev: DownEvent): void;
  passUp(ev: UpEvent): void;
  /** Effects only the bottom layer produces (transmit, peers). */
  emit(effect: Effect): void;
  /** Run `fn` after the current event has been fully handled (used for loop-back). */
  defer(fn: () => void): void;
  /**
   * Run `fn` once all deferred work of the current event is done (it may defer more, which runs
   * before the event's effects are returned). Optional: a test harness may leave it out.
   */
  atRunEnd?(fn: () => void): void;
  /** (Re)arm the timer named `key` to fire `delayMs` from now; replaces an armed one. */
  setTimer(key: string, delayMs: number): void;
  clearTimer(key: string): void;
  /** Trace line (cheap no-op unless tracing). */
  trace(line: () => string): void;
}

/** A protocol layer: a state machine driven by events. */
export interface Layer {
  down(ev: DownEvent): void;
  up(ev: UpEvent): void;
  timer?(key: string): void;
  /** Only the bottom layer: raw bytes from the transport. */
  receive?(bytes: Uint8Array, from: string): void;
  /** Counters and sizes for diagnostics and the simulator's buffer checks. */
  stats?(): Record<string, number>;
}

/** How a layer is made, and what it needs below it and gives above it (Horus's property table). */
export interface LayerFactory<O = Record<string, unknown>> {
  readonly name: string;
  readonly provides: readonly string[];
  readonly requires: readonly string[];
  create(ctx: LayerContext, options: Partial<O>): Layer;
}

/** One entry of a stack specification. */
export interface LayerSpec {
  name: string;
  options?: Record<string, unknown>;
}
