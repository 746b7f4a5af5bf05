import { headerTuple, headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import {
  type DeliveryMeta,
  type DownEvent,
  downWith,
  type Layer,
  type LayerContext,
  type Msg,
  type Ordering,
  pushHeader,
  type QoS,
  type Resilience,
  type UpEvent,
  type View,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** Header kinds every total-order layer shares; each layer numbers its own control kinds from 2. */
export const OrderKind = {
  /** [0, order] not totally ordered: passed through (order: 0 unreliable, 1 reliable, 2 fifo). */
  Pass: 0,
  /** [1, tseq, resilience, k, awaited?] a totally ordered message; tseq counts the sender's ones in
   * the view; `awaited` 1 when only the sender's delivery is awaited (QoS `awaited: 'sender'`),
   * absent otherwise. */
  Data: 1,
} as const;

const ORDERS: readonly Ordering[] = ['unreliable', 'reliable', 'fifo'];
/** The Pass header of each order: one array each for all (nothing writes to a header). */
const PASS: readonly (readonly unknown[])[] = ORDERS.map((_, order) =>
  Object.freeze([OrderKind.Pass, order]),
);
const RESILIENCE: readonly Resilience[] = ['none', 'k', 'majority', 'safe'];

export interface Held {
  msg: Msg;
  from: MemberId;
  resilience: Resilience;
  k: number;
  /** Only the sender's delivery is awaited (QoS `awaited: 'sender'`). */
  senderOnly: boolean;
  meta: DeliveryMeta;
}

interface SenderQueue {
  /** Messages received so far (contiguous: membership delivers each sender in order). */
  next: number;
  msgs: Map<number, Held>;
}

/** A stamp range on the wire: the sender's rank and its ordered messages `lo..hi`. */
export type StampRange = [rank: number, lo: number, hi: number];

/**
 * Most messages one stamping message (seq's Order, total's Ack) may stamp. A stamper with more
 * waiting sends several. A receiver holds a stamp per message until the message is delivered,
 * so without a bound one header naming a range of 2^24 took 18 s and 1.8 GB at each receiver
 * and left its round half-applied (review of session 19).
 */
export const MAX_STAMPS = 65_536;

/**
 * The stamps of one round not delivered yet: global sequence numbers `base..base + size - 1`
 * with each one's sender rank and tseq, in a ring that grows by doubling. Stamps are appended
 * in gseq order and delivered from the front, so this is what a Map by gseq held, without a
 * `[rank, tseq]` pair and a hash-table entry (and its rehashes) per ordered message.
 */
export class StampLog {
  private ranks = new Float64Array(64);
  private tseqs = new Float64Array(64);
  /** Index of `base`'s stamp in the ring. */
  private head = 0;
  /** The gseq of the first stamp held. */
  private base = 0;
  size = 0;

  /** Whether the stamp of `gseq` is held. */
  has(gseq: number): boolean {
    return gseq >= this.base && gseq < this.base + this.size;
  }

  /** The sender rank stamped `gseq` (held: see {@link has}). */
  rankOf(gseq: number): number {
    return this.ranks[this.at(gseq)]!;
  }

  /** The sender's tseq stamped `gseq` (held: see {@link has}). */
  tseqOf(gseq: number): number {
    return this.tseqs[this.at(gseq)]!;
  }

  /** Stamp the next gseq (`base + size`) with `rank`'s message `tseq`. */
  push(rank: number, tseq: number): void {
    if (this.size === this.ranks.length) this.grow();
    const i = (this.head + this.size) & (this.ranks.length - 1);
    this.ranks[i] = rank;
    this.tseqs[i] = tseq;
    this.size++;
  }

  /** Drop the stamps up to `gseq` (their messages were delivered). */
  release(gseq: number): void {
    while (this.size > 0 && this.base <= gseq) {
      this.head = (this.head + 1) & (this.ranks.length - 1);
      this.base++;
      this.size--;
    }
  }

  private at(gseq: number): number {
    if (!this.has(gseq)) throw new RangeError(`no stamp for gseq ${gseq}`);
    return (this.head + (gseq - this.base)) & (this.ranks.length - 1);
  }

  private grow(): void {
    const n = this.ranks.length;
    const ranks = new Float64Array(2 * n);
    const tseqs = new Float64Array(2 * n);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & (n - 1);
      ranks[k] = this.ranks[i]!;
      tseqs[k] = this.tseqs[i]!;
    }
    this.ranks = ranks;
    this.tseqs = tseqs;
    this.head = 0;
  }
}

/** The order state of one view shared by every ordering; a new view starts a fresh one. */
export class OrderRound {
  readonly n: number;
  readonly selfRank: number;
  readonly senders: SenderQueue[];
  /** gseq → rank and tseq, for stamped messages not yet delivered (`deliverNext` onwards). */
  readonly stamps = new StampLog();
  readonly stampedUpTo: number[];
  /** Per rank: every gseq up to this one is known to be held there (message and stamp). */
  readonly holds: number[];
  nextGseq = 0;
  deliverNext = 0;
  myTseq = 0;
  /** Our own ordered casts by tseq, until their loop-back arrives: membership discards those
   * past the cut a view ends at, and we cast them again in the next view. */
  readonly unreturned = new Map<number, { msg: Msg; qos: QoS }>();

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

  /** Give the next global sequence numbers, from `first`, to `stamps`; gaps are refused. */
  applyStamps(layer: string, first: number, stamps: readonly StampRange[]): void {
    if (first !== this.nextGseq) throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: stamps out of turn`);
    // Checked whole before any of it is applied: a refused header leaves the round as it was.
    let count = 0;
    let last = -1;
    for (const [rank, lo, hi] of stamps) {
      if (lo !== this.stampedUpTo[rank]! + 1)
        throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: stamp gap`);
      // Ranks ascend (as `unstamped` lists them): two ranges for one rank, both from its next
      // message, would stamp those messages twice.
      if (rank <= last) throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: stamp ranks out of order`);
      last = rank;
      count += hi - lo + 1;
    }
    if (count > MAX_STAMPS)
      throw new DecodeError(
        'DECODE_BAD_SHAPE',
        `${layer}: ${count} stamps in one message (at most ${MAX_STAMPS})`,
      );
    for (const [rank, lo, hi] of stamps) {
      for (let t = lo; t <= hi; t++) {
        this.stamps.push(rank, t);
        this.nextGseq++;
      }
      this.stampedUpTo[rank] = hi;
    }
  }

  /** Ranges of received messages not yet stamped past `upTo` (per rank: last stamped or issued),
   * at most {@link MAX_STAMPS} messages in all (the rest are left for the next stamping).
   * `ownCasts`: this member's own ordered casts count from when it cast them, not from their
   * loop-back (a stamper holds what it cast; its stream carries the stamp after the message). */
  unstamped(upTo: readonly number[], ownCasts = false): StampRange[] {
    const out: StampRange[] = [];
    let room = MAX_STAMPS;
    for (let rank = 0; rank < this.n && room > 0; rank++) {
      const lo = upTo[rank]! + 1;
      const last = ownCasts && rank === this.selfRank ? this.myTseq - 1 : this.senders[rank]!.next - 1;
      const hi = Math.min(last, lo + room - 1);
      if (hi >= lo) {
        out.push([rank, lo, hi]);
        room -= hi - lo + 1;
      }
    }
    return out;
  }
}

/** Parse a wire list of stamp ranges for a view of `n` members. */
export function parseStamps(layer: string, v: unknown, n: number): StampRange[] {
  return headerTuple(v, layer, 0).map((s) => {
    const t = headerTuple(s, layer, 3);
    const rank = headerUint(t[0], layer, 'rank');
    const lo = headerUint(t[1], layer, 'from');
    const hi = headerUint(t[2], layer, 'to');
    if (rank >= n || hi < lo) throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: bad stamp`);
    return [rank, lo, hi] as StampRange;
  });
}

/**
 * What every total-order layer does alike: pass other orderings through, number the member's
 * ordered casts, hold received ones per sender, deliver stamped ones in stamp order once their
 * resilience is met, and end a view identically at every survivor. A subclass decides how
 * stamps are made and how holding is announced.
 */
export abstract class OrderLayer<R extends OrderRound> implements Layer {
  protected round: R | undefined;
  protected blocked = false;
  private queued: { msg: Msg; qos: QoS }[] = [];
  protected readonly c: Record<string, number> = {
    ordered: 0,
    skippedAtViewEnd: 0,
    orderedAtViewEnd: 0,
    recastAtViewEnd: 0,
  };

  constructor(
    protected readonly ctx: LayerContext,
    protected readonly layer: string,
  ) {}

  protected abstract newRound(view: View): R;
  /** A control message of the subclass (kind ≥ 2) arrived from `from`. */
  protected abstract onControl(r: R, kind: number, h: unknown[], from: MemberId): void;
  /** An ordered message arrived and was stored. */
  protected abstract afterData(r: R): void;
  /** A new view's round started (casts queued during the flush are already sent). */
  protected abstract afterView(r: R): void;
  /** This member passed one of its ordered casts down (it comes back later, looped back). */
  protected afterCast(_r: R): void {}

  down(ev: DownEvent): void {
    if (ev.type === 'cast' && ev.qos.order === 'total') {
      if (this.blocked || !this.round) this.queued.push({ msg: ev.msg, qos: ev.qos });
      else this.castTotal(ev.msg, ev.qos);
      return;
    }
    if (ev.type === 'cast' || ev.type === 'send') {
      const order = ev.type === 'send' ? 2 : Math.max(0, ORDERS.indexOf(ev.qos.order));
      this.ctx.passDown(downWith(ev, pushHeader(ev.msg, PASS[order])));
      return;
    }
    this.ctx.passDown(ev);
  }

  private castTotal(msg: Msg, qos: QoS): void {
    const r = this.round!;
    const res = RESILIENCE.indexOf(qos.resilience ?? 'none');
    r.unreturned.set(r.myTseq, { msg, qos });
    const header = [OrderKind.Data, r.myTseq++, Math.max(0, res), qos.k ?? 0];
    if (qos.awaited === 'sender') header.push(1);
    this.ctx.passDown({ type: 'cast', msg: pushHeader(msg, header), qos: { order: 'fifo' } });
    this.afterCast(r);
  }

  /** Cast one of the subclass's control headers (reliable FIFO, under virtual synchrony). */
  protected castControl(header: unknown[]): void {
    this.ctx.passDown({
      type: 'cast',
      msg: pushHeader({ headers: [], payload: EMPTY }, header),
      qos: { order: 'fifo' },
    });
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
      case 'view': {
        // Our casts of the ended view that never came back lie past its cut: no survivor
        // delivered them (one that did stepped down), so they go first in the new view, before
        // those queued during the flush. The cut can end short of casts we made: an adopted
        // promise's cut was fixed before they reached anyone.
        const lost = this.round ? [...this.round.unreturned].sort((a, b) => a[0] - b[0]) : [];
        this.c.recastAtViewEnd! += lost.length;
        this.endRound();
        const r = this.newRound(ev.view);
        this.round = r;
        this.blocked = false;
        this.ctx.passUp(ev);
        const q = [...lost.map(([, c]) => c), ...this.queued];
        this.queued = [];
        for (const { msg, qos } of q) this.castTotal(msg, qos);
        this.afterView(r);
        return;
      }
      default:
        this.ctx.passUp(ev);
    }
  }

  private onDeliver(msg: Msg, from: MemberId, cast: boolean, meta: DeliveryMeta): void {
    const L = this.layer;
    const { h, kind, rest } = popKindHeader(msg, L);
    // An unreliable cast (membership's Unreliable kind) is unnumbered by design, so anyone with a
    // member's source address can send one without a key: only an application's unreliable cast
    // comes so. Ordered messages, controls and reliable casts come numbered on the sender's
    // stream; taken from an unreliable cast, 200 forged datagrams placed 314 messages in a
    // member's total-order stream, other ones at each receiver, and the replicas diverged
    // (review37, test/stack/spoofed-member.test.ts).
    if (meta.unreliable && (kind !== OrderKind.Pass || h[1] !== 0))
      throw new DecodeError('DECODE_BAD_SHAPE', `${L}: an ordered or reliable message in an unreliable cast`);
    if (kind === OrderKind.Pass) {
      const order = ORDERS[headerUint(h[1], L, 'order')];
      if (!order) throw new DecodeError('DECODE_BAD_SHAPE', `${L}: bad order`);
      const up = { seq: meta.seq, viewId: meta.viewId, gseq: meta.gseq, qos: { order } };
      this.ctx.passUp({ type: 'deliver', msg: rest, from, cast, meta: up });
      return;
    }
    const r = this.round;
    if (!r || !cast) throw new DecodeError('DECODE_BAD_SHAPE', `${L}: ordered message outside a view`);
    const rank = r.rankOf(from);
    if (rank < 0) return; // membership filters these; a stale one is harmless to drop
    if (kind === OrderKind.Data) {
      headerTuple(h, L, 4);
      const tseq = headerUint(h[1], L, 'tseq');
      const resilience = RESILIENCE[headerUint(h[2], L, 'resilience')];
      const k = headerUint(h[3], L, 'k');
      if (!resilience) throw new DecodeError('DECODE_BAD_SHAPE', `${L}: bad resilience`);
      const awaited = h.length > 4 ? headerUint(h[4], L, 'awaited') : 0;
      if (awaited > 1) throw new DecodeError('DECODE_BAD_SHAPE', `${L}: bad awaited`);
      const q = r.senders[rank]!;
      if (tseq !== q.next) throw new DecodeError('DECODE_BAD_SHAPE', `${L}: sender order broken`);
      q.next++;
      if (rank === r.selfRank) r.unreturned.delete(tseq);
      q.msgs.set(tseq, { msg: rest, from, resilience, k, senderOnly: awaited === 1, meta });
      this.deliverReady(r);
      this.afterData(r);
      return;
    }
    this.onControl(r, kind, h, from);
  }

  /** Whether enough members hold `gseq` for its resilience. */
  private resilient(r: R, held: Held, gseq: number): boolean {
    if (held.resilience === 'none') return true;
    let others = 0;
    r.holds.forEach((h, rank) => {
      if (rank !== r.selfRank && h >= gseq) others++;
    });
    return others >= othersNeeded(held, r.n);
  }

  /** Deliver, in stamp order, every stamped message held here whose resilience is met. */
  protected deliverReady(r: R): void {
    while (r.deliverNext < r.nextGseq) {
      const rank = r.stamps.rankOf(r.deliverNext);
      const tseq = r.stamps.tseqOf(r.deliverNext);
      const held = r.senders[rank]!.msgs.get(tseq);
      if (!held || !this.resilient(r, held, r.deliverNext)) return;
      this.deliver(r, rank, tseq, held, r.deliverNext);
      r.stamps.release(r.deliverNext);
      r.deliverNext++;
    }
  }

  private deliver(r: R, rank: number, tseq: number, held: Held, gseq: number): void {
    r.senders[rank]!.msgs.delete(tseq);
    this.c.ordered!++;
    const qos: QoS = { order: 'total', resilience: held.resilience };
    if (held.resilience === 'k') qos.k = held.k;
    this.ctx.passUp({
      type: 'deliver',
      msg: held.msg,
      from: held.from,
      cast: true,
      // Every field named, not spread: one object shape for every delivery. A spread of the
      // metas the layers below build (each its own shape) cost ~20 % of a cast's CPU.
      meta: { seq: held.meta.seq, viewId: held.meta.viewId, gseq, qos },
    });
  }

  /** The view ends: deliver what every survivor holds, in an order every survivor computes alike
   * (virtual synchrony below guarantees every survivor holds the same messages and stamps). */
  private endRound(): void {
    const r = this.round;
    if (!r) return;
    for (let g = r.deliverNext; g < r.nextGseq; g++) {
      const rank = r.stamps.rankOf(g);
      const tseq = r.stamps.tseqOf(g);
      const held = r.senders[rank]!.msgs.get(tseq);
      if (!held) {
        this.c.skippedAtViewEnd!++; // stamped by a member that failed; no survivor has it
        continue;
      }
      this.deliver(r, rank, tseq, held, g);
    }
    let g = r.nextGseq;
    r.senders.forEach((q, rank) => {
      const tseqs = [...q.msgs.keys()].sort((a, b) => a - b);
      for (const t of tseqs) {
        this.c.orderedAtViewEnd!++;
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

/**
 * How many members besides the deliverer must hold `held` (message and stamp) before it is
 * delivered in a view of `n`: `k` of them (at most all others), more than half of the view with
 * the deliverer, or every other member.
 */
export function othersNeeded(held: Held, n: number): number {
  switch (held.resilience) {
    case 'none':
      return 0;
    case 'k':
      return Math.min(held.k, n - 1);
    case 'majority':
      return Math.floor(n / 2);
    case 'safe':
      return n - 1;
  }
}
