import { headerTuple, headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import {
  type DeliveryMeta,
  type DownEvent,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type Msg,
  type Ordering,
  pushHeader,
  type QoS,
  type Resilience,
  type UpEvent,
  type View,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** Header kinds of the total-order layer. */
export const TotalKind = {
  /** [0, order] not totally ordered: passed through (order: 0 unreliable, 1 reliable, 2 fifo). */
  Pass: 0,
  /** [1, tseq, resilience, k] a totally ordered message; tseq counts the sender's ones in the view. */
  Data: 1,
  /** [2, ackNo, nextRank, firstGseq, [[rank, fromTseq, toTseq]...]] the token: stamps global
   * sequence numbers on messages the holder has, in that order, and passes the token on. */
  Ack: 2,
} as const;

const ORDERS: readonly Ordering[] = ['unreliable', 'reliable', 'fifo'];
const RESILIENCE: readonly Resilience[] = ['none', 'k', 'majority', 'safe'];

interface Held {
  msg: Msg;
  from: MemberId;
  resilience: Resilience;
  k: number;
  meta: DeliveryMeta;
}

interface SenderQueue {
  /** Messages received so far (contiguous: membership delivers each sender in order). */
  next: number;
  msgs: Map<number, Held>;
}

interface Ack {
  from: MemberId;
  ackNo: number;
  next: number;
  first: number;
  stamps: [number, number, number][];
}

/** The order state of one view; a new view starts a fresh one. */
class Round {
  readonly n: number;
  readonly selfRank: number;
  readonly senders: SenderQueue[];
  /** gseq → [rank, tseq], for stamped messages not yet delivered. */
  readonly stamps = new Map<number, [number, number]>();
  readonly stampedUpTo: number[];
  /** Per rank: every gseq up to this one is known to be held there. */
  readonly holds: number[];
  readonly pendingAcks = new Map<number, Ack>();
  nextGseq = 0;
  deliverNext = 0;
  ackNext = 0;
  holder = 0;
  ackInFlight = false;
  myTseq = 0;

  constructor(
    readonly view: View,
    self: MemberId,
  ) {
    this.n = view.members.length;
    this.selfRank = view.members.indexOf(self);
    this.senders = view.members.map(() => ({ next: 0, msgs: new Map() }));
    this.stampedUpTo = view.members.map(() => -1);
    this.holds = view.members.map(() => -1);
  }

  rankOf(m: MemberId): number {
    return this.view.members.indexOf(m);
  }
}

/**
 * TOTAL: RMP's rotating token. Each message is multicast once by its sender; the token site
 * multicasts an ACK that stamps global sequence numbers on the messages it holds and names
 * the next site, which takes the token only once it holds every stamped message. When the
 * token has passed every member, what lies behind it is held everywhere (stable). An idle
 * group keeps the token still. At a view change (virtual synchrony below guarantees every
 * survivor holds the same messages and ACKs), stamped messages are delivered in stamp order
 * and the unstamped rest in a fixed order (sender rank, then sender order), so every survivor
 * ends the view identically.
 */
class Total implements Layer {
  private round: Round | undefined;
  private blocked = false;
  private queued: { msg: Msg; qos: QoS }[] = [];
  private readonly c = { ordered: 0, acks: 0, emptyAcks: 0, skippedAtViewEnd: 0, orderedAtViewEnd: 0 };

  constructor(private readonly ctx: LayerContext) {}

  down(ev: DownEvent): void {
    if (ev.type === 'cast' && ev.qos.order === 'total') {
      if (this.blocked || !this.round) this.queued.push({ msg: ev.msg, qos: ev.qos });
      else this.castTotal(ev.msg, ev.qos);
      return;
    }
    if (ev.type === 'cast' || ev.type === 'send') {
      const order = ev.type === 'send' ? 2 : Math.max(0, ORDERS.indexOf(ev.qos.order));
      this.ctx.passDown({ ...ev, msg: pushHeader(ev.msg, [TotalKind.Pass, order]) });
      return;
    }
    this.ctx.passDown(ev);
  }

  private castTotal(msg: Msg, qos: QoS): void {
    const r = this.round!;
    const res = RESILIENCE.indexOf(qos.resilience ?? 'none');
    const header = [TotalKind.Data, r.myTseq++, Math.max(0, res), qos.k ?? 0];
    this.ctx.passDown({ type: 'cast', msg: pushHeader(msg, header), qos: { order: 'fifo' } });
  }

  up(ev: UpEvent): void {
    switch (ev.type) {
      case 'deliver':
        this.onDeliver(ev.msg, ev.from, ev.cast, ev.meta);
        return;
      case 'block':
        this.blocked = true;
        this.ctx.passUp(ev);
        return;
      case 'view':
        this.endRound();
        this.round = new Round(ev.view, this.ctx.self);
        this.blocked = false;
        this.ctx.passUp(ev);
        this.releaseQueued();
        this.tryToken();
        return;
      default:
        this.ctx.passUp(ev);
    }
  }

  private releaseQueued(): void {
    const q = this.queued;
    this.queued = [];
    for (const { msg, qos } of q) this.castTotal(msg, qos);
  }

  private onDeliver(msg: Msg, from: MemberId, cast: boolean, meta: DeliveryMeta): void {
    const { h, kind, rest } = popKindHeader(msg, 'total');
    if (kind === TotalKind.Pass) {
      const order = ORDERS[headerUint(h[1], 'total', 'order')];
      if (!order) throw new DecodeError('DECODE_BAD_SHAPE', 'total: bad order');
      this.ctx.passUp({ type: 'deliver', msg: rest, from, cast, meta: { ...meta, qos: { order } } });
      return;
    }
    const r = this.round;
    if (!r || !cast) throw new DecodeError('DECODE_BAD_SHAPE', 'total: ordered message outside a view');
    const rank = r.rankOf(from);
    if (rank < 0) return; // membership filters these; a stale one is harmless to drop
    if (kind === TotalKind.Data) {
      headerTuple(h, 'total', 4);
      const tseq = headerUint(h[1], 'total', 'tseq');
      const resilience = RESILIENCE[headerUint(h[2], 'total', 'resilience')];
      const k = headerUint(h[3], 'total', 'k');
      if (!resilience) throw new DecodeError('DECODE_BAD_SHAPE', 'total: bad resilience');
      const q = r.senders[rank]!;
      if (tseq !== q.next) throw new DecodeError('DECODE_BAD_SHAPE', 'total: sender order broken');
      q.next++;
      q.msgs.set(tseq, { msg: rest, from, resilience, k, meta });
      this.deliverReady(r);
      this.tryToken();
      return;
    }
    if (kind === TotalKind.Ack) {
      this.onAck(r, this.parseAck(h, from, r));
      return;
    }
    throw new DecodeError('DECODE_BAD_SHAPE', `total: unknown kind ${kind}`);
  }

  private parseAck(h: unknown[], from: MemberId, r: Round): Ack {
    headerTuple(h, 'total', 5);
    const ackNo = headerUint(h[1], 'total', 'ackNo');
    const next = headerUint(h[2], 'total', 'next');
    const first = headerUint(h[3], 'total', 'first');
    if (next >= r.n) throw new DecodeError('DECODE_BAD_SHAPE', 'total: next site out of range');
    const stamps = headerTuple(h[4], 'total', 0).map((s) => {
      const t = headerTuple(s, 'total', 3);
      const rank = headerUint(t[0], 'total', 'rank');
      const lo = headerUint(t[1], 'total', 'from');
      const hi = headerUint(t[2], 'total', 'to');
      if (rank >= r.n || hi < lo) throw new DecodeError('DECODE_BAD_SHAPE', 'total: bad stamp');
      return [rank, lo, hi] as [number, number, number];
    });
    return { from, ackNo, next, first, stamps };
  }

  private onAck(r: Round, ack: Ack): void {
    if (ack.ackNo < r.ackNext) return;
    r.pendingAcks.set(ack.ackNo, ack);
    for (let a = r.pendingAcks.get(r.ackNext); a; a = r.pendingAcks.get(r.ackNext)) {
      r.pendingAcks.delete(r.ackNext);
      this.applyAck(r, a);
    }
    this.deliverReady(r);
    this.tryToken();
  }

  private applyAck(r: Round, a: Ack): void {
    const fromRank = r.rankOf(a.from);
    // Only the token holder stamps, and stamps continue exactly where the last ACK stopped.
    if (fromRank !== r.holder || a.first !== r.nextGseq)
      throw new DecodeError('DECODE_BAD_SHAPE', `total: ack ${a.ackNo} out of turn`);
    for (const [rank, lo, hi] of a.stamps) {
      if (lo !== r.stampedUpTo[rank]! + 1) throw new DecodeError('DECODE_BAD_SHAPE', 'total: stamp gap');
      for (let t = lo; t <= hi; t++) r.stamps.set(r.nextGseq++, [rank, t]);
      r.stampedUpTo[rank] = hi;
    }
    r.holds[fromRank] = r.nextGseq - 1;
    r.holder = a.next;
    r.ackNext++;
    if (a.from === this.ctx.self) r.ackInFlight = false;
    this.c.acks++;
  }

  /** Whether enough members hold `gseq` for its resilience. */
  private resilient(r: Round, held: Held, gseq: number): boolean {
    if (held.resilience === 'none') return true;
    let others = 0;
    r.holds.forEach((h, rank) => {
      if (rank !== r.selfRank && h >= gseq) others++;
    });
    switch (held.resilience) {
      case 'k':
        return others >= Math.min(held.k, r.n - 1);
      case 'majority':
        return (others + 1) * 2 > r.n;
      case 'safe':
        return others === r.n - 1;
    }
  }

  private deliverReady(r: Round): void {
    while (r.deliverNext < r.nextGseq) {
      const [rank, tseq] = r.stamps.get(r.deliverNext)!;
      const held = r.senders[rank]!.msgs.get(tseq);
      if (!held || !this.resilient(r, held, r.deliverNext)) return;
      this.deliver(r, rank, tseq, held, r.deliverNext);
      r.stamps.delete(r.deliverNext);
      r.deliverNext++;
    }
  }

  private deliver(r: Round, rank: number, tseq: number, held: Held, gseq: number): void {
    r.senders[rank]!.msgs.delete(tseq);
    this.c.ordered++;
    const qos: QoS = { order: 'total', resilience: held.resilience };
    if (held.resilience === 'k') qos.k = held.k;
    this.ctx.passUp({
      type: 'deliver',
      msg: held.msg,
      from: held.from,
      cast: true,
      meta: { ...held.meta, gseq, qos },
    });
  }

  /** Take the token if it is ours and we hold everything stamped; stamp what we have. */
  private tryToken(): void {
    const r = this.round;
    if (!r || this.blocked || r.ackInFlight || r.holder !== r.selfRank) return;
    for (let rank = 0; rank < r.n; rank++) if (r.senders[rank]!.next <= r.stampedUpTo[rank]!) return;
    const stamps: [number, number, number][] = [];
    for (let rank = 0; rank < r.n; rank++) {
      const hi = r.senders[rank]!.next - 1;
      if (hi > r.stampedUpTo[rank]!) stamps.push([rank, r.stampedUpTo[rank]! + 1, hi]);
    }
    const last = r.nextGseq - 1;
    // Everyone, us included, must have announced (by passing the token) that they hold the
    // last stamp; until then the token keeps moving so `safe`/`majority` messages get delivered.
    const unstable = r.holds.some((h) => h < last);
    if (stamps.length === 0 && !(unstable && r.n > 1)) return; // idle: keep the token still
    if (stamps.length === 0) this.c.emptyAcks++;
    r.ackInFlight = true;
    const header = [TotalKind.Ack, r.ackNext, (r.selfRank + 1) % r.n, r.nextGseq, stamps];
    this.ctx.passDown({
      type: 'cast',
      msg: pushHeader({ headers: [], payload: EMPTY }, header),
      qos: { order: 'fifo' },
    });
  }

  /** The view ends: deliver what every survivor holds, in an order every survivor computes alike. */
  private endRound(): void {
    const r = this.round;
    if (!r) return;
    for (let g = r.deliverNext; g < r.nextGseq; g++) {
      const [rank, tseq] = r.stamps.get(g)!;
      const held = r.senders[rank]!.msgs.get(tseq);
      if (!held) {
        this.c.skippedAtViewEnd++; // stamped by a member that failed; no survivor has it
        continue;
      }
      this.deliver(r, rank, tseq, held, g);
    }
    let g = r.nextGseq;
    r.senders.forEach((q, rank) => {
      const tseqs = [...q.msgs.keys()].sort((a, b) => a - b);
      for (const t of tseqs) {
        this.c.orderedAtViewEnd++;
        this.deliver(r, rank, t, q.msgs.get(t)!, g++);
      }
    });
    this.round = undefined;
  }

  stats(): Record<string, number> {
    const r = this.round;
    let held = 0;
    if (r) for (const q of r.senders) held += q.msgs.size;
    return { ...this.c, held, stamped: r?.nextGseq ?? 0 };
  }
}

const EMPTY = new Uint8Array(0);

export const total: LayerFactory = {
  name: 'total',
  provides: ['total'],
  requires: ['virtual-synchrony'],
  create: (ctx) => new Total(ctx),
};
