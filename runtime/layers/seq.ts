import { StackConfigError } from '../errors.js';
import { headerTuple, headerUint } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import type { LayerContext, LayerFactory, View } from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import { OrderKind, OrderLayer, OrderRound, parseStamps, type StampRange } from './order.js';

/** Header kinds of the sequencer total-order layer. */
export const SeqKind = {
  ...OrderKind,
  /** [2, firstGseq, [[rank, fromTseq, toTseq]...]] sequencer → all: the next global sequence
   * numbers, in that order; the sequencer holds every message it stamps. */
  Order: 2,
  /** [3, hold, seen] member → all: I hold every stamped message up to `hold` (message and
   * stamp), and I have received the sequencer's stamps up to `seen`. */
  Ack: 3,
} as const;

/** Options of the `seq` layer (lag bounds). A bound of 0 is off. */
export interface SeqOptions {
  /** Report a member whose receipt of the stamps trails the sequencer by this long (ms). */
  lagReportMs: number;
  /** Remove a member whose receipt of the stamps trails the sequencer by this long (ms). */
  lagRemoveMs: number;
  /** Report a member this many payload bytes of ordered messages behind the sequencer. */
  lagReportBytes: number;
  /** Remove a member this many payload bytes of ordered messages behind the sequencer. */
  lagRemoveBytes: number;
  /** While it receives stamps that need no acknowledgement (resilience `none`), a member still
   * acknowledges at least this often (ms), so the sequencer can measure its lag. */
  ackMs: number;
}

export const SEQ_DEFAULTS: SeqOptions = {
  lagReportMs: 1_000,
  lagRemoveMs: 5_000,
  lagReportBytes: 4_000_000,
  lagRemoveBytes: 32_000_000,
  ackMs: 100,
};

/** One Order the sequencer issued, kept until every member has acknowledged seeing it. */
interface Issued {
  last: number;
  at: number;
  /** Payload bytes stamped before this Order (cumulative). */
  bytesBefore: number;
}

class SeqRound extends OrderRound {
  /** The sequencer's rank: the view's coordinator. */
  readonly seqRank = 0;
  /** Per rank: the highest gseq that member has announced receiving the stamp of. */
  readonly seen: number[];
  // Sequencer only: what it has stamped (its Orders are applied when they come back).
  readonly issued: number[];
  issuedGseq = 0;
  issuedBytes = 0;
  readonly log: Issued[] = [];
  stampQueued = false;
  /** Members reported lagging (rank), and those removed for it. */
  readonly reported = new Set<number>();
  readonly removed = new Set<number>();
  lastCheck: number;
  // Non-sequencer: what this member last announced.
  ackedHold = -1;
  ackedSeen = -1;
  ackQueued = false;

  constructor(view: View, self: MemberId, now: number) {
    super(view, self);
    this.seen = view.members.map(() => -1);
    this.issued = view.members.map(() => -1);
    this.lastCheck = now;
  }

  get sequencer(): boolean {
    return this.selfRank === this.seqRank;
  }
}

/**
 * SEQ: a fixed sequencer per view (the coordinator, rank 0; a view change hands the role to
 * the next view's coordinator). Each message is multicast once by its sender; the sequencer
 * multicasts Orders stamping global sequence numbers on the messages it has, in arrival order,
 * batched per turn. A stamped message is delivered as soon as its resilience holds: `none` at
 * once, `k`/`majority` when k others/a majority announced (Ack) holding it and every earlier
 * stamp, `safe` when everyone did. The sequencer's Order is its own announcement. So ordering
 * waits for a quorum, never for the slowest member (except `safe`, by definition).
 *
 * The sequencer also judges lag: a member whose Acks show it trails the stamps by more than a
 * bound (time or bytes) is reported, then removed. Only the sequencer's own stream to a member
 * and that member's stream back enter the measure, so a member waiting for a slow third
 * member's message is never blamed for it.
 */
class Seq extends OrderLayer<SeqRound> {
  private readonly checkMs: number;

  constructor(
    ctx: LayerContext,
    private readonly o: SeqOptions,
  ) {
    super(ctx, 'seq');
    Object.assign(this.c, { orders: 0, acks: 0, lagReports: 0, lagRemovals: 0, lagMsMax: 0 });
    const bounds = [o.lagReportMs, o.lagRemoveMs].filter((b) => b > 0);
    this.checkMs = bounds.length > 0 ? Math.max(10, Math.min(...bounds) / 4) : 0;
  }

  protected newRound(view: View): SeqRound {
    return new SeqRound(view, this.ctx.self, this.ctx.now());
  }

  protected afterView(r: SeqRound): void {
    this.ctx.clearTimer('ack');
    if (r.sequencer && r.n > 1 && this.checkMs > 0) this.ctx.setTimer('lag', this.checkMs);
    else this.ctx.clearTimer('lag');
  }

  protected afterData(r: SeqRound): void {
    if (r.sequencer) {
      if (r.stampQueued) return;
      r.stampQueued = true;
      // Stamp once per turn: everything that arrived in one datagram shares one Order.
      this.ctx.defer(() => {
        r.stampQueued = false;
        if (this.round === r) this.stamp(r);
      });
    } else this.advanceHold(r);
  }

  private stamp(r: SeqRound): void {
    if (this.blocked) return;
    const stamps = r.unstamped(r.issued);
    if (stamps.length === 0) return;
    const first = r.issuedGseq;
    const bytesBefore = r.issuedBytes;
    for (const [rank, lo, hi] of stamps) {
      for (let t = lo; t <= hi; t++) r.issuedBytes += r.senders[rank]!.msgs.get(t)?.msg.payload.length ?? 0;
      r.issuedGseq += hi - lo + 1;
      r.issued[rank] = hi;
    }
    if (this.checkMs > 0) r.log.push({ last: r.issuedGseq - 1, at: this.ctx.now(), bytesBefore });
    this.c.orders!++;
    this.castControl([SeqKind.Order, first, stamps]);
  }

  protected onControl(r: SeqRound, kind: number, h: unknown[], from: MemberId): void {
    const rank = r.rankOf(from);
    if (kind === SeqKind.Order) {
      headerTuple(h, 'seq', 3);
      const first = headerUint(h[1], 'seq', 'first');
      const stamps: StampRange[] = parseStamps('seq', h[2], r.n);
      if (rank !== r.seqRank) throw new DecodeError('DECODE_BAD_SHAPE', 'seq: order from a non-sequencer');
      r.applyStamps('seq', first, stamps);
      r.holds[r.seqRank] = r.nextGseq - 1;
      r.seen[r.seqRank] = r.nextGseq - 1;
      if (!r.sequencer) this.advanceHold(r);
      this.deliverReady(r);
      return;
    }
    if (kind === SeqKind.Ack) {
      headerTuple(h, 'seq', 3);
      const hold = headerUint(h[1], 'seq', 'hold');
      const seen = headerUint(h[2], 'seq', 'seen');
      if (hold > seen) throw new DecodeError('DECODE_BAD_SHAPE', 'seq: ack holds more than it has seen');
      if (rank === r.seqRank || rank === r.selfRank) return;
      this.c.acks!++;
      r.holds[rank] = Math.max(r.holds[rank]!, hold);
      r.seen[rank] = Math.max(r.seen[rank]!, seen);
      this.deliverReady(r);
      return;
    }
    throw new DecodeError('DECODE_BAD_SHAPE', `seq: unknown kind ${kind}`);
  }

  /** Non-sequencer: extend what this member holds (every stamp and its message) and announce it;
   * at once when a resilient message needs the announcement, else within `ackMs`. */
  private advanceHold(r: SeqRound): void {
    let hold = r.holds[r.selfRank]!;
    let urgent = false;
    for (let g = hold + 1; g < r.nextGseq; g++) {
      if (g < r.deliverNext) {
        hold = g; // delivered, so it was held
        continue;
      }
      const [rank, tseq] = r.stamps.get(g)!;
      const held = r.senders[rank]!.msgs.get(tseq);
      if (!held) break;
      if (held.resilience !== 'none') urgent = true;
      hold = g;
    }
    r.holds[r.selfRank] = hold;
    if (urgent && hold > r.ackedHold) this.queueAck(r);
    else if (r.nextGseq - 1 > r.ackedSeen) this.ctx.setTimer('ack', this.o.ackMs);
  }

  private queueAck(r: SeqRound): void {
    if (r.ackQueued) return;
    r.ackQueued = true;
    this.ctx.defer(() => {
      r.ackQueued = false;
      if (this.round === r) this.sendAck(r);
    });
  }

  private sendAck(r: SeqRound): void {
    const hold = r.holds[r.selfRank]!;
    const seen = r.nextGseq - 1;
    if (this.blocked || r.sequencer || (hold <= r.ackedHold && seen <= r.ackedSeen)) return;
    r.ackedHold = hold;
    r.ackedSeen = seen;
    this.ctx.clearTimer('ack');
    this.castControl([SeqKind.Ack, hold, seen]);
  }

  timer(key: string): void {
    const r = this.round;
    if (!r) return;
    if (key === 'ack') this.sendAck(r);
    else if (key === 'lag') this.checkLag(r);
  }

  /** Sequencer: measure each member's lag behind the stamps; report, then remove, laggards. */
  private checkLag(r: SeqRound): void {
    if (!r.sequencer) return;
    const now = this.ctx.now();
    this.ctx.setTimer('lag', this.checkMs);
    const late = now - r.lastCheck > 2 * this.checkMs;
    r.lastCheck = now;
    // The sequencer itself did not run for a while (paused, a long burst): the Acks it has not
    // read yet say nothing about the others. Judge again once it has caught up.
    if (late || this.blocked) return;
    let minSeen = r.issuedGseq - 1;
    for (let rank = 0; rank < r.n; rank++) {
      if (rank === r.selfRank) continue;
      const seen = r.seen[rank]!;
      minSeen = Math.min(minSeen, seen);
      const behind = seen < r.issuedGseq - 1 ? r.log.find((e) => e.last > seen) : undefined;
      const lagMs = behind ? now - behind.at : 0;
      const lagBytes = behind ? r.issuedBytes - behind.bytesBefore : 0;
      this.c.lagMsMax = Math.max(this.c.lagMsMax!, lagMs);
      if (!behind) {
        r.reported.delete(rank);
        continue;
      }
      const over = (bound: number, v: number) => bound > 0 && v > bound;
      const member = r.view.members[rank]!;
      if (
        !r.reported.has(rank) &&
        (over(this.o.lagReportMs, lagMs) || over(this.o.lagReportBytes, lagBytes))
      ) {
        r.reported.add(rank);
        this.c.lagReports!++;
        this.ctx.passUp({ type: 'lagging', member, lagMs, lagBytes, removing: false });
      }
      if (
        !r.removed.has(rank) &&
        (over(this.o.lagRemoveMs, lagMs) || over(this.o.lagRemoveBytes, lagBytes))
      ) {
        r.removed.add(rank);
        this.c.lagRemovals!++;
        this.ctx.trace(() => `remove ${member}: ${Math.round(lagMs)} ms, ${lagBytes} bytes behind`);
        this.ctx.passUp({ type: 'lagging', member, lagMs, lagBytes, removing: true });
        this.ctx.passDown({
          type: 'suspect',
          member,
          reason: `lagging ${Math.round(lagMs)} ms, ${lagBytes} bytes behind`,
        });
      }
    }
    while (r.log.length > 0 && r.log[0]!.last <= minSeen) r.log.shift();
  }
}

export const seq: LayerFactory<SeqOptions> = {
  name: 'seq',
  provides: ['total'],
  requires: ['virtual-synchrony'],
  create: (ctx, o) => {
    const opts = { ...SEQ_DEFAULTS, ...o };
    for (const k of ['lagReportMs', 'lagRemoveMs', 'lagReportBytes', 'lagRemoveBytes'] as const) {
      const v = opts[k];
      if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0))
        throw new StackConfigError('STACK_BAD_OPTION', `seq option ${k} must be a non-negative number`);
    }
    if (!(typeof opts.ackMs === 'number' && Number.isFinite(opts.ackMs) && opts.ackMs > 0))
      throw new StackConfigError('STACK_BAD_OPTION', 'seq option ackMs must be a positive number');
    return new Seq(ctx, opts);
  },
};
