import { StackConfigError } from '../errors.js';
import { headerTuple, headerUint } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import type { LayerContext, LayerFactory, View } from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import {
  type Held,
  OrderKind,
  OrderLayer,
  OrderRound,
  othersNeeded,
  parseStamps,
  type StampRange,
} from './order.js';

/** Header kinds of the sequencer total-order layer. */
export const SeqKind = {
  ...OrderKind,
  /** [2, firstGseq, [[rank, fromTseq, toTseq]...]] sequencer → all: the next global sequence
   * numbers, in that order; the sequencer holds every message it stamps. */
  Order: 2,
  /** [3, hold, seen] member → all: I hold every stamped message up to `hold` (message and
   * stamp), and I have received the sequencer's stamps up to `seen`. */
  Ack: 3,
  /** [4, nextGseq] member → all: an ordered message has waited here longer than `sequencerStallMs` for
   * its stamp, or the stamps were late for a `sequencerSlowShare` of the last `sequencerSlowWindowMs`
   * while the other members' Acks were not, while this member ran (stamps up to `nextGseq − 1`
   * received). A complaint about the sequencer; a majority of the other members complaining
   * removes it. */
  Stall: 4,
  /** [5] member → all: an ordered message has waited here half of `sequencerStallMs` for its
   * stamp; the sequencer answers with Have. Not a complaint. */
  Waiting: 5,
  /** [6, [next...]] sequencer → all: per rank, how many ordered messages of that member it has
   * received. A message it has not received is no stall of its own (a loss its sender has not
   * repaired yet, e.g. a sender that stopped right after its cast): the stall rule waits for the
   * sender, whom failure detection judges, instead of removing a sequencer that runs. */
  Have: 6,
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
  /**
   * A member announces (Acks) a message it holds at once when a member's delivery needs that
   * announcement and may be awaited; where only the sequencer needs it for another member's
   * message, one member's Ack at once serves (the sender's, when every delivery is awaited) or
   * none (QoS `awaited: 'sender'`), and the rest go within this long (ms), one Ack covering the
   * messages of several calls. At most `ackMs`; keep it well under `sequencerLateMs / 2`, the
   * pace rule's bound for a peer's Ack.
   */
  lazyAckMs: number;
  /** Complain about the sequencer when an ordered message waits this long for its stamp (ms);
   * complaints from a majority of the other members remove it. 0 is off. */
  sequencerStallMs: number;
  /** The sliding window over which a member judges the sequencer's pace (ms); 0 is off. A sequencer
   * stopped briefly but often never trips `sequencerStallMs`, yet sets the group's pace. */
  sequencerSlowWindowMs: number;
  /** Complain when, within the window, the stamps were late (past `sequencerLateMs`) at least this
   * share of the time this member ran, and at least twice as often as the other members' Acks and
   * this member's own checks. */
  sequencerSlowShare: number;
  /** A stamp (or an Ack) that has not come this long after its message (stamp) counts as late (ms). */
  sequencerLateMs: number;
}

export const SEQ_DEFAULTS: SeqOptions = {
  lagReportMs: 1_000,
  lagRemoveMs: 5_000,
  lagReportBytes: 4_000_000,
  lagRemoveBytes: 32_000_000,
  ackMs: 100,
  lazyAckMs: 1,
  sequencerStallMs: 500,
  sequencerSlowWindowMs: 1_000,
  sequencerSlowShare: 0.5,
  sequencerLateMs: 10,
};

/** One slice of the slow-sequencer window: ms this member ran and measured, ms the stamps were
 * late, and per rank ms that member's Acks were late. */
interface PaceSlice {
  id: number;
  ran: number;
  stamps: number;
  acks: number[];
  /** ms this member's own checks came late (past `sequencerLateMs`): it did not run either. */
  self: number;
}

/** Slices per window: the window slides by a tenth of itself. */
const SLICES = 10;

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
  /** Sequencer: the `stamp` timer is armed for its own casts of this turn (see {@link Seq.afterCast}). */
  stampArmed = false;
  /** Members reported lagging (rank), and those removed for it. */
  readonly reported = new Set<number>();
  readonly removed = new Set<number>();
  lastCheck: number;
  // Non-sequencer: what this member last announced.
  ackedHold = -1;
  ackedSeen = -1;
  ackQueued = false;
  /** When the armed `ack` timer fires (infinity: not armed). Later Orders never push it back (it
   * bounds the Ack's delay); a lazy Ack due sooner brings it forward. */
  ackDue = Number.POSITIVE_INFINITY;
  /** Per rank: since when its oldest received, unstamped ordered message has waited here
   * (undefined: none waits). Reset when a stamp for that rank arrives, so it never overstates. */
  readonly waitSince: (number | undefined)[];
  /** Per rank: when its last Stall complaint arrived (self included). */
  readonly stallAt: (number | undefined)[];
  lastStallSent = Number.NEGATIVE_INFINITY;
  /** Non-sequencer: when this member last sent Waiting. Sequencer: when it last sent Have. */
  lastWaitingSent = Number.NEGATIVE_INFINITY;
  /** Non-sequencer: the sequencer's last Have (per rank: ordered messages it had received), and when. */
  seqHave: number[] | undefined;
  seqHaveAt = Number.NEGATIVE_INFINITY;
  lastStallCheck: number;
  /** Non-sequencer: the stall timer is off because nothing was pending at the last check (see
   * {@link Seq.rest}); the next message that waits for a stamp, or Order awaiting Acks, re-arms it. */
  stallResting = false;
  sequencerRemoved = false;
  /** Non-sequencer: the pace window, oldest slice first. */
  readonly pace: PaceSlice[] = [];
  /** Non-sequencer: Orders received ([last gseq, when]; those within `sequencerLateMs / 2` of
   * each other merged, keeping the earliest time), until every other member's Ack covers them. */
  readonly received: { last: number; at: number }[] = [];
  /** Non-sequencer: when the last Order arrived (the round's start before the first). */
  lastOrderAt: number;

  constructor(view: View, self: MemberId, now: number) {
    super(view, self);
    this.seen = view.members.map(() => -1);
    this.issued = view.members.map(() => -1);
    this.waitSince = view.members.map(() => undefined);
    this.stallAt = view.members.map(() => undefined);
    this.lastCheck = now;
    this.lastStallCheck = now;
    this.lastOrderAt = now;
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
  private readonly stallCheckMs: number;
  private readonly stallLateMs: number;
  private readonly paceOn: boolean;
  private readonly complaintMs: number;

  constructor(
    ctx: LayerContext,
    private readonly o: SeqOptions,
  ) {
    super(ctx, 'seq');
    Object.assign(this.c, {
      orders: 0,
      acks: 0,
      lagReports: 0,
      lagRemovals: 0,
      lagMsMax: 0,
      stallsSent: 0,
      stallsReceived: 0,
      sequencerRemovals: 0,
      stampWaitMsMax: 0,
      stampLatePctMax: 0,
      paceComplaints: 0,
      stallsExcused: 0,
    });
    const bounds = [o.lagReportMs, o.lagRemoveMs].filter((b) => b > 0);
    this.checkMs = bounds.length > 0 ? Math.max(10, Math.min(...bounds) / 4) : 0;
    const stallCheck = o.sequencerStallMs > 0 ? Math.max(5, o.sequencerStallMs / 4) : 0;
    this.paceOn = o.sequencerSlowWindowMs > 0;
    // The pace is sampled often enough to see stops of a few `sequencerLateMs`.
    const paceCheck = this.paceOn
      ? Math.max(5, Math.min(o.sequencerLateMs, o.sequencerSlowWindowMs / 20))
      : 0;
    this.stallCheckMs = Math.min(...[stallCheck, paceCheck].filter((t) => t > 0), Number.POSITIVE_INFINITY);
    if (!Number.isFinite(this.stallCheckMs)) this.stallCheckMs = 0;
    // A check this late means this member itself did not run. Timers on a busy machine run tens
    // of ms late, and a check that counts for nothing measures nothing: the pace rule tolerates a
    // slice of its window, the stall rule half its bound.
    this.stallLateMs = Math.max(
      2 * this.stallCheckMs,
      this.paceOn ? o.sequencerSlowWindowMs / SLICES : o.sequencerStallMs / 2,
    );
    // A complaint counts while it is this recent; either rule's complaints are re-sent at half of it.
    this.complaintMs = Math.max(o.sequencerStallMs, o.sequencerSlowWindowMs / 2);
  }

  protected newRound(view: View): SeqRound {
    return new SeqRound(view, this.ctx.self, this.ctx.now());
  }

  protected afterView(r: SeqRound): void {
    this.ctx.clearTimer('ack');
    r.ackDue = Number.POSITIVE_INFINITY;
    if (r.sequencer && r.n > 1 && this.checkMs > 0) this.ctx.setTimer('lag', this.checkMs);
    else this.ctx.clearTimer('lag');
    // Without a majority of the others left once the sequencer goes (n < 3), removing it would
    // stall the group instead: only the failure detector judges it there.
    if (!r.sequencer && r.n >= 3 && this.stallCheckMs > 0) this.ctx.setTimer('stall', this.stallCheckMs);
    else this.ctx.clearTimer('stall');
  }

  protected afterData(r: SeqRound): void {
    if (!r.sequencer && this.stallCheckMs > 0) this.noteWaiting(r, this.ctx.now());
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

  /**
   * Sequencer: its own casts are stamped in the turn they are cast, not when they come back, so
   * the Order leaves in the same packet as the messages it stamps (pack flushes at the end of the
   * run its timer fires in). A call whose contact is the sequencer then costs each other member
   * one datagram, not two. A zero-delay timer rather than a deferral: every cast of the turn is
   * its own stack run, and one Order stamps them all.
   */
  protected override afterCast(r: SeqRound): void {
    if (!r.sequencer || this.blocked || r.stampArmed) return;
    r.stampArmed = true;
    this.ctx.setTimer('stamp', 0);
  }

  private stamp(r: SeqRound): void {
    if (this.blocked) return;
    // Each Order stamps at most MAX_STAMPS messages: more waiting take several.
    for (let stamps = r.unstamped(r.issued, true); stamps.length > 0; stamps = r.unstamped(r.issued, true))
      this.stampOnce(r, stamps);
  }

  private stampOnce(r: SeqRound, stamps: StampRange[]): void {
    const first = r.issuedGseq;
    const bytesBefore = r.issuedBytes;
    for (const [rank, lo, hi] of stamps) {
      for (let t = lo; t <= hi; t++) {
        // Its own casts may not have come back yet: they are still in `unreturned`.
        const held = r.senders[rank]!.msgs.get(t) ?? (rank === r.selfRank ? r.unreturned.get(t) : undefined);
        r.issuedBytes += held?.msg.payload.length ?? 0;
      }
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
      if (this.stallCheckMs > 0) for (const [sr] of stamps) r.waitSince[sr] = undefined;
      if (!r.sequencer && this.paceOn && r.nextGseq > first) this.noteOrder(r, r.nextGseq - 1);
      r.lastOrderAt = this.ctx.now();
      if (!r.sequencer && this.stallCheckMs > 0) this.noteWaiting(r, this.ctx.now());
      r.holds[r.seqRank] = r.nextGseq - 1;
      r.seen[r.seqRank] = r.nextGseq - 1;
      if (!r.sequencer) this.advanceHold(r);
      this.deliverReady(r);
      return;
    }
    if (kind === SeqKind.Ack) {
      headerTuple(h, 'seq', 3);
      // -1: nothing held yet, while an Order (seen) already came: a stamp can arrive before
      // its message. Refused, it was lost, and the sequencer's lag rule removed a healthy member.
      const hold = h[1] === -1 ? -1 : headerUint(h[1], 'seq', 'hold');
      const seen = headerUint(h[2], 'seq', 'seen');
      if (hold > seen) throw new DecodeError('DECODE_BAD_SHAPE', 'seq: ack holds more than it has seen');
      if (rank === r.seqRank || rank === r.selfRank) return;
      this.c.acks!++;
      r.holds[rank] = Math.max(r.holds[rank]!, hold);
      r.seen[rank] = Math.max(r.seen[rank]!, seen);
      this.deliverReady(r);
      return;
    }
    if (kind === SeqKind.Stall) {
      headerTuple(h, 'seq', 2);
      headerUint(h[1], 'seq', 'nextGseq');
      // During a flush the sequencer stops stamping by design: that is no stall.
      if (rank === r.seqRank || rank === r.selfRank || this.blocked) return;
      this.c.stallsReceived!++;
      r.stallAt[rank] = this.ctx.now();
      this.judgeSequencer(r);
      return;
    }
    if (kind === SeqKind.Waiting) {
      headerTuple(h, 'seq', 1);
      if (!r.sequencer || rank === r.selfRank || this.blocked) return;
      const now = this.ctx.now();
      if (now - r.lastWaitingSent < this.o.sequencerStallMs / 8) return;
      r.lastWaitingSent = now;
      this.castControl([SeqKind.Have, r.senders.map((q) => q.next)]);
      return;
    }
    if (kind === SeqKind.Have) {
      headerTuple(h, 'seq', 2);
      const have = headerTuple(h[1], 'seq', r.n).map((v) => headerUint(v, 'seq', 'have'));
      if (have.length !== r.n) throw new DecodeError('DECODE_BAD_SHAPE', 'seq: have of another view size');
      if (rank !== r.seqRank) throw new DecodeError('DECODE_BAD_SHAPE', 'seq: have from a non-sequencer');
      if (r.sequencer) return;
      r.seqHave = have;
      r.seqHaveAt = this.ctx.now();
      return;
    }
    throw new DecodeError('DECODE_BAD_SHAPE', `seq: unknown kind ${kind}`);
  }

  /** Start the wait clock of every rank that has received, unstamped ordered messages. */
  private noteWaiting(r: SeqRound, now: number): void {
    for (let rank = 0; rank < r.n; rank++)
      if (r.waitSince[rank] === undefined && r.senders[rank]!.next - 1 > r.stampedUpTo[rank]!) {
        r.waitSince[rank] = now;
        if (r.stallResting) this.wake(r, now);
      }
  }

  /**
   * Non-sequencer: complain when an ordered message has waited longer than `sequencerStallMs` for
   * its stamp, or when the stamps set the pace (see {@link Seq.pace}). A check that runs late (this
   * member itself did not run) complains about nobody: what it did not read yet may well hold the
   * stamps.
   */
  private checkStall(r: SeqRound): void {
    const now = this.ctx.now();
    this.ctx.setTimer('stall', this.stallCheckMs);
    const dt = now - r.lastStallCheck;
    const late = dt > this.stallLateMs;
    r.lastStallCheck = now;
    if (late || this.blocked || r.sequencerRemoved) {
      // Restart the clocks: the wait so far includes this member's own stop.
      if (late)
        for (let rank = 0; rank < r.n; rank++) if (r.waitSince[rank] !== undefined) r.waitSince[rank] = now;
      return;
    }
    let oldest = now;
    let rawOldest = now;
    // A rank whose oldest unstamped message the sequencer said (recently) it has not received
    // waits for its sender, not for the sequencer: failure detection judges a sender that
    // stopped, and one that runs again repairs the sequencer. The sender itself knows it runs
    // (its own stop restarts its clocks, above), so it never excuses its own rank, and a
    // sender that complains runs: its message still missing at the sequencer cannot reach it
    // (a one-way cut), and the stall rule judges the sequencer as before.
    const fresh = r.seqHave !== undefined && now - r.seqHaveAt <= this.complaintMs;
    let lacking = false;
    r.waitSince.forEach((t, rank) => {
      if (t === undefined) return;
      rawOldest = Math.min(rawOldest, t);
      const at = r.stallAt[rank];
      const running = rank === r.selfRank || (at !== undefined && now - at <= this.complaintMs);
      if (fresh && !running && r.seqHave![rank]! <= r.stampedUpTo[rank]! + 1) {
        lacking = true;
        return;
      }
      oldest = Math.min(oldest, t);
    });
    const wait = now - oldest;
    this.c.stampWaitMsMax = Math.max(this.c.stampWaitMsMax!, wait);
    if (
      this.o.sequencerStallMs > 0 &&
      now - rawOldest > this.o.sequencerStallMs / 2 &&
      now - r.lastWaitingSent >= this.complaintMs / 2
    ) {
      // Ask the sequencer what it has before anyone complains (see SeqKind.Have).
      r.lastWaitingSent = now;
      this.castControl([SeqKind.Waiting]);
    }
    if (lacking) this.c.stallsExcused!++;
    const stalled = this.o.sequencerStallMs > 0 && wait > this.o.sequencerStallMs;
    const slow = this.paceOn && this.pace(r, now, dt, wait);
    if (!stalled && !slow) {
      this.rest(r);
      return;
    }
    if (slow) this.c.paceComplaints!++;
    r.stallAt[r.selfRank] = now;
    if (now - r.lastStallSent >= this.complaintMs / 2) {
      r.lastStallSent = now;
      this.c.stallsSent!++;
      this.castControl([SeqKind.Stall, r.nextGseq]);
    }
    this.judgeSequencer(r);
  }

  /** Non-sequencer: note an Order's arrival, for the other members' Ack delays. */
  private noteOrder(r: SeqRound, last: number): void {
    const now = this.ctx.now();
    const tail = r.received.at(-1);
    // Merged entries keep the earliest time: an Ack then looks later than it was, never earlier.
    if (tail && now - tail.at < this.o.sequencerLateMs / 2) tail.last = last;
    else r.received.push({ last, at: now });
    if (r.stallResting) this.wake(r, now);
  }

  /**
   * Non-sequencer, at a check that found nothing pending (no message waits for its stamp, every
   * Order received is covered by the other members' Acks): stop the stall timer. Such a check
   * measures nothing but the time it ran, and an idle group's members each woke 100 times a
   * second for it (`sequencerLateMs` 10) while the rest of the stack wakes about 20 times.
   */
  private rest(r: SeqRound): void {
    if (!r.waitSince.every((t) => t === undefined) || r.received.length > 0) return;
    r.stallResting = true;
    this.ctx.clearTimer('stall');
  }

  /**
   * Something is pending again after {@link rest}: the checks resume on the cadence they had, and
   * the pace window gets the rested time as the skipped checks would have given it (time this
   * member ran, nothing late in it). The cadence matters: a check due `stallCheckMs` after a
   * message's arrival always finds it waiting exactly that long, never late, where checks at any
   * phase find it late about half a check sooner; the pace rule would lose that much per wait.
   */
  private wake(r: SeqRound, now: number): void {
    r.stallResting = false;
    const tick =
      r.lastStallCheck + Math.floor((now - r.lastStallCheck) / this.stallCheckMs) * this.stallCheckMs;
    if (this.paceOn) this.creditRan(r, r.lastStallCheck, tick);
    r.lastStallCheck = tick;
    this.ctx.setTimer('stall', tick + this.stallCheckMs - now);
  }

  /** Adds `[from, to)` to the pace window's `ran`, slice by slice (older slices drop out). */
  private creditRan(r: SeqRound, from: number, to: number): void {
    const len = this.o.sequencerSlowWindowMs / SLICES;
    const last = Math.floor(to / len);
    for (let id = Math.max(Math.floor(from / len), last - SLICES + 1); id <= last; id++) {
      const ran = Math.min(to, (id + 1) * len) - Math.max(from, id * len);
      if (ran > 0) this.slice(r, id).ran += ran;
    }
    while (r.pace.length > 0 && r.pace[0]!.id <= last - SLICES) r.pace.shift();
  }

  /** The pace window's newest slice, started as `id` if it is not that one yet. */
  private slice(r: SeqRound, id: number): PaceSlice {
    const last = r.pace.at(-1);
    if (last?.id === id) return last;
    const slice = { id, ran: 0, stamps: 0, acks: r.view.members.map(() => 0), self: 0 };
    r.pace.push(slice);
    return slice;
  }

  /**
   * Non-sequencer: add the `dt` ms since the last check, which this member ran, to the window, and
   * judge whether the sequencer sets the group's pace: within the window, an ordered message here
   * waited past `sequencerLateMs` for its stamp, from a silent sequencer, at least
   * `sequencerSlowShare` of the time, and at least twice as often as the other members' Acks came
   * late (the lower median of them) and as this member's own checks did. A slow network or a
   * loaded machine delays Acks and timers as much as stamps, so a busy group is not blamed on its
   * sequencer; a sequencer stopped 40 of every 50 ms is late about 60 % of the time, its peers'
   * Acks and the member's timers hardly ever. Decides nothing before half a window was measured.
   */
  private pace(r: SeqRound, now: number, dt: number, wait: number): boolean {
    const o = this.o;
    const id = Math.floor(now / (o.sequencerSlowWindowMs / SLICES));
    const slice = this.slice(r, id);
    while (r.pace[0]!.id <= id - SLICES) r.pace.shift();
    slice.ran += dt;
    if (dt - this.stallCheckMs > o.sequencerLateMs) slice.self += dt - this.stallCheckMs;
    // Late stamps from a sequencer that keeps sending Orders are a busy group (a flood of casts
    // queued behind the stamps): it is working. Late stamps from a silent one are a stop.
    if (wait > o.sequencerLateMs && now - r.lastOrderAt > o.sequencerLateMs) slice.stamps += dt;
    const peers: number[] = [];
    for (let rank = 0; rank < r.n; rank++) if (rank !== r.seqRank && rank !== r.selfRank) peers.push(rank);
    const covered = Math.min(...peers.map((rank) => r.holds[rank]!));
    while (r.received.length > 0 && r.received[0]!.last <= covered) r.received.shift();
    for (const rank of peers) {
      const due = r.received.find((e) => e.last > r.holds[rank]!);
      // An Ack comes one hop after the stamp reached its sender, a stamp two hops after the
      // message: on a slow network both are late alike at these bounds.
      // (A lazy Ack, within `lazyAckMs`, is held to the same bound: with the bound raised by 1 ms
      // the slow-network case of test/group/seq-sim.test.ts, 3 members casting `awaited:
      // 'sender'`, judged alike at 3 to 8 ms hops: no complaint either way.)
      if (due && now - due.at > o.sequencerLateMs / 2) slice.acks[rank]! += dt;
    }
    let ran = 0;
    let stamps = 0;
    for (const s of r.pace) {
      ran += s.ran;
      stamps += s.stamps;
    }
    if (ran < o.sequencerSlowWindowMs / 2) return false;
    const share = stamps / ran;
    this.c.stampLatePctMax = Math.max(this.c.stampLatePctMax!, Math.round(100 * share));
    const ackShares = peers
      .map((rank) => r.pace.reduce((a, s) => a + s.acks[rank]!, 0) / ran)
      .sort((a, b) => a - b);
    const peersLate = ackShares[Math.floor((ackShares.length - 1) / 2)] ?? 0;
    // A loaded machine delays this member's own timers as it delays the sequencer; a silent
    // sequencer leaves the peers nothing to acknowledge, so only this tells that case apart.
    const selfLate = r.pace.reduce((a, s) => a + s.self, 0) / ran;
    return share >= o.sequencerSlowShare && share >= 2 * Math.max(peersLate, selfLate);
  }

  /**
   * A majority of the members other than the sequencer complained recently (either rule): they run,
   * they hear one another (the complaints arrived), and the sequencer does not stamp. It is slow,
   * not they; ask membership to remove it, so the next view's rank 0 takes the role. A single
   * complainer (itself slow, or cut off from the sequencer) removes nobody.
   */
  private judgeSequencer(r: SeqRound): void {
    if (r.sequencer || r.sequencerRemoved || r.n < 3 || this.blocked) return;
    const now = this.ctx.now();
    let complaints = 0;
    for (let rank = 0; rank < r.n; rank++) {
      const at = r.stallAt[rank];
      if (rank !== r.seqRank && at !== undefined && now - at <= this.complaintMs) complaints++;
    }
    if (complaints * 2 <= r.n - 1) return;
    r.sequencerRemoved = true;
    this.c.sequencerRemovals!++;
    const member = r.view.members[r.seqRank]!;
    const waitMs = now - Math.min(...r.waitSince.map((t) => t ?? now));
    this.ctx.trace(() => `remove sequencer ${member}: ${complaints} members wait for stamps`);
    this.ctx.passUp({ type: 'lagging', member, lagMs: waitMs, lagBytes: 0, removing: true });
    this.ctx.passDown({
      type: 'suspect',
      member,
      reason: `sequencer stalled: ${complaints} of ${r.n - 1} members wait for stamps`,
    });
  }

  /**
   * Non-sequencer: extend what this member holds (every stamp and its message) and announce it:
   * at once when a resilient message's delivery somewhere needs this member's Ack now (see
   * {@link awaitsAck}), within `lazyAckMs` when it needs it only eventually, else within `ackMs`.
   */
  private advanceHold(r: SeqRound): void {
    let hold = r.holds[r.selfRank]!;
    let urgent = false;
    let lazy = false;
    for (let g = hold + 1; g < r.nextGseq; g++) {
      if (g < r.deliverNext) {
        hold = g; // delivered, so it was held
        continue;
      }
      const rank = r.stamps.rankOf(g);
      const held = r.senders[rank]!.msgs.get(r.stamps.tseqOf(g));
      if (!held) break;
      if (held.resilience !== 'none') {
        if (awaitsAck(held, rank, r)) urgent = true;
        else lazy = true;
      }
      hold = g;
    }
    r.holds[r.selfRank] = hold;
    if (hold <= r.ackedHold) lazy = urgent = false;
    if (urgent) this.queueAck(r);
    else if (lazy) this.armAck(r, this.o.lazyAckMs);
    // What it holds is announced within ackMs too, not only what it has seen: a message that came
    // after its stamp (already acknowledged as seen) must not leave the peers' view of it behind.
    else if (r.nextGseq - 1 > r.ackedSeen || hold > r.ackedHold) this.armAck(r, this.o.ackMs);
  }

  /** Arms the `ack` timer to fire within `ms`, unless it fires sooner already. */
  private armAck(r: SeqRound, ms: number): void {
    const due = this.ctx.now() + ms;
    if (due >= r.ackDue) return;
    r.ackDue = due;
    this.ctx.setTimer('ack', ms);
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
    r.ackDue = Number.POSITIVE_INFINITY;
    this.castControl([SeqKind.Ack, hold, seen]);
  }

  timer(key: string): void {
    const r = this.round;
    if (!r) return;
    if (key === 'ack') {
      r.ackDue = Number.POSITIVE_INFINITY;
      this.sendAck(r);
    } else if (key === 'stamp') {
      r.stampArmed = false;
      if (r.sequencer) this.stamp(r);
    } else if (key === 'lag') this.checkLag(r);
    else if (key === 'stall') this.checkStall(r);
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
    const bounds = [
      'lagReportMs',
      'lagRemoveMs',
      'lagReportBytes',
      'lagRemoveBytes',
      'sequencerStallMs',
      'sequencerSlowWindowMs',
      'sequencerLateMs',
    ] as const;
    for (const k of bounds) {
      const v = opts[k];
      if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0))
        throw new StackConfigError('STACK_BAD_OPTION', `seq option ${k} must be a non-negative number`);
    }
    const share = opts.sequencerSlowShare;
    if (!(typeof share === 'number' && share > 0 && share <= 1))
      throw new StackConfigError('STACK_BAD_OPTION', 'seq option sequencerSlowShare must be in (0, 1]');
    if (!(typeof opts.ackMs === 'number' && Number.isFinite(opts.ackMs) && opts.ackMs > 0))
      throw new StackConfigError('STACK_BAD_OPTION', 'seq option ackMs must be a positive number');
    const lazy = opts.lazyAckMs;
    if (!(typeof lazy === 'number' && Number.isFinite(lazy) && lazy >= 0 && lazy <= opts.ackMs))
      throw new StackConfigError('STACK_BAD_OPTION', 'seq option lazyAckMs must be a number from 0 to ackMs');
    return new Seq(ctx, opts);
  },
};

/**
 * Whether this member, not the sequencer, should Ack `held` (a resilient message from rank
 * `sender`) at once. A non-sequencer counts itself and the sequencer (its Order) as holders, so
 * its peers need other members' Acks only when the resilience asks for two or more other holders:
 * then every Ack goes at once. Otherwise only the sequencer needs one: at once from everyone for
 * the sequencer's own messages (it may be the member that answers them); for another member's
 * message, from its sender only, and only when some member's delivery besides the sender's is
 * awaited (QoS `awaited`): one Ack serves, and the others' lazy Acks bound the sequencer's wait
 * when the sender is slow.
 */
function awaitsAck(held: Held, sender: number, r: SeqRound): boolean {
  if (peersNeedAcks(held, r.n) || sender === r.seqRank) return true;
  return !held.senderOnly && sender === r.selfRank;
}

/** Whether a member other than the sequencer needs other members' Acks to deliver `held`: it
 * counts itself and the sequencer (its Order), one of the others. */
function peersNeedAcks(held: Held, n: number): boolean {
  return othersNeeded(held, n) > 1;
}
