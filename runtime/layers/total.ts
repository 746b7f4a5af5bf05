import { headerTuple, headerUint } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import type { LayerContext, LayerFactory, View } from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import { OrderKind, OrderLayer, OrderRound, parseStamps, type StampRange } from './order.js';

/** Header kinds of the rotating-token total-order layer. */
export const TotalKind = {
  ...OrderKind,
  /** [2, ackNo, nextRank, firstGseq, [[rank, fromTseq, toTseq]...]] the token: stamps global
   * sequence numbers on messages the holder has, in that order, and passes the token on. */
  Ack: 2,
} as const;

interface Ack {
  from: MemberId;
  ackNo: number;
  next: number;
  first: number;
  stamps: StampRange[];
}

class TokenRound extends OrderRound {
  /** Acks ahead of `ackNext`, by ackNo and sender: only the one of the member the token reaches
   * is applied. Keyed by ackNo alone, a later ackNo from a member out of turn replaced the
   * holder's own Ack that waited there, and was then refused: ordering stopped (session 30). */
  readonly pendingAcks = new Map<number, Map<MemberId, Ack>>();
  ackNext = 0;
  holder = 0;
  ackInFlight = false;
}

/**
 * TOTAL: RMP's rotating token. Each message is multicast once by its sender; the token site
 * multicasts an ACK that stamps global sequence numbers on the messages it holds and names
 * the next site, which takes the token only once it holds every stamped message. When the
 * token has passed every member, what lies behind it is held everywhere (stable). An idle
 * group keeps the token still. Every call waits for every member's turn with the token, so
 * the slowest member sets the group's pace (the `seq` layer waits for a quorum instead).
 */
class Total extends OrderLayer<TokenRound> {
  constructor(ctx: LayerContext) {
    super(ctx, 'total');
    this.c.acks = 0;
    this.c.emptyAcks = 0;
    this.c.acksOutOfTurn = 0;
  }

  protected newRound(view: View): TokenRound {
    return new TokenRound(view, this.ctx.self);
  }

  protected afterData(): void {
    this.tryToken();
  }

  protected afterView(): void {
    this.tryToken();
  }

  protected onControl(r: TokenRound, kind: number, h: unknown[], from: MemberId): void {
    if (kind !== TotalKind.Ack) throw new DecodeError('DECODE_BAD_SHAPE', `total: unknown kind ${kind}`);
    headerTuple(h, 'total', 5);
    const ackNo = headerUint(h[1], 'total', 'ackNo');
    const next = headerUint(h[2], 'total', 'next');
    const first = headerUint(h[3], 'total', 'first');
    if (next >= r.n) throw new DecodeError('DECODE_BAD_SHAPE', 'total: next site out of range');
    const stamps = parseStamps('total', h[4], r.n);
    if (ackNo < r.ackNext) return;
    // Only the token holder stamps: one out of turn now is refused at once.
    if (ackNo === r.ackNext && r.rankOf(from) !== r.holder)
      throw new DecodeError('DECODE_BAD_SHAPE', `total: ack ${ackNo} out of turn`);
    let at = r.pendingAcks.get(ackNo);
    if (!at) {
      at = new Map();
      r.pendingAcks.set(ackNo, at);
    }
    at.set(from, { from, ackNo, next, first, stamps });
    for (let a = this.inTurn(r); a; a = this.inTurn(r)) {
      this.c.acksOutOfTurn! += r.pendingAcks.get(r.ackNext)!.size - 1;
      r.pendingAcks.delete(r.ackNext);
      this.applyAck(r, a);
    }
    this.deliverReady(r);
    this.tryToken();
  }

  /** The token holder's Ack for `ackNext`, if it is here. */
  private inTurn(r: TokenRound): Ack | undefined {
    const holder = r.view.members[r.holder];
    return holder === undefined ? undefined : r.pendingAcks.get(r.ackNext)?.get(holder);
  }

  private applyAck(r: TokenRound, a: Ack): void {
    const fromRank = r.rankOf(a.from);
    // Only the token holder stamps, and stamps continue exactly where the last ACK stopped.
    if (fromRank !== r.holder) throw new DecodeError('DECODE_BAD_SHAPE', `total: ack ${a.ackNo} out of turn`);
    r.applyStamps('total', a.first, a.stamps);
    r.holds[fromRank] = r.nextGseq - 1;
    r.holder = a.next;
    r.ackNext++;
    if (a.from === this.ctx.self) r.ackInFlight = false;
    this.c.acks!++;
  }

  /** Take the token if it is ours and we hold everything stamped; stamp what we have. */
  private tryToken(): void {
    const r = this.round;
    if (!r || this.blocked || r.ackInFlight || r.holder !== r.selfRank) return;
    for (let rank = 0; rank < r.n; rank++) if (r.senders[rank]!.next <= r.stampedUpTo[rank]!) return;
    const stamps = r.unstamped(r.stampedUpTo);
    const last = r.nextGseq - 1;
    // Everyone, us included, must have announced (by passing the token) that they hold the
    // last stamp; until then the token keeps moving so `safe`/`majority` messages get delivered.
    const unstable = r.holds.some((h) => h < last);
    if (stamps.length === 0 && !(unstable && r.n > 1)) return; // idle: keep the token still
    if (stamps.length === 0) this.c.emptyAcks!++;
    r.ackInFlight = true;
    this.castControl([TotalKind.Ack, r.ackNext, (r.selfRank + 1) % r.n, r.nextGseq, stamps]);
  }
}

export const total: LayerFactory = {
  name: 'total',
  provides: ['total'],
  requires: ['virtual-synchrony'],
  create: (ctx) => new Total(ctx),
};
