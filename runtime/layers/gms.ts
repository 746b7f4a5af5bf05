import { StackConfigError } from '../errors.js';
import { headerString, headerTuple, headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import { requirePositive } from '../stack/options.js';
import {
  type DownEvent,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type LineageMeeting,
  type LineagePosition,
  type Msg,
  pushHeader,
  type QoS,
  type UpEvent,
  type View,
  type ViewDelta,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/**
 * Header kinds of the membership layer. `epoch` names the flush attempt that installed a view,
 * so two coordinators racing to install the same view id can never have their traffic mixed.
 */
export const GmsKind = {
  /** [0, viewId, epoch, vseq] a reliable cast of the view (vseq: per sender, from 0 in each view). */
  Data: 0,
  /** [1, viewId, epoch, highestAttempt, stuck] liveness, unreliable cast. `highestAttempt`: the
   * highest flush attempt the sender has seen, so a coordinator outbids every attempt its members
   * are blocked in; `stuck`: 1 when the sender is blocked in a flush nobody drives any more. */
  Heartbeat: 1,
  /** [2, newViewId, attempt, members[], addresses[]] coordinator → each surviving member: stop and report. */
  Prepare: 2,
  /** [3, newViewId, attempt, [[sender, count]...], nakNext] participant → coordinator: how many of
   * each sender's messages of the view it holds contiguously (its own: how many it sent). */
  Digest: 3,
  /** [4, newViewId, attempt, [[sender, count, holder]...]] coordinator → participants: the old view
   * ends after `count` messages of each sender; `holder` has them all. */
  Sync: 4,
  /** [5, viewId, epoch, sender, from, to] ask a holder for messages of a sender of the old view. */
  Fetch: 5,
  /** [6, viewId, epoch, sender, vseq] a stored message resent during a flush (original headers above). */
  Forward: 6,
  /** [7, newViewId, attempt] participant → coordinator: I hold and delivered everything up to the cut. */
  FlushOk: 7,
  /** [8, newViewId, attempt, members[], addresses[], joined[], left[], failed[], [[member, nakNext]...]] */
  Install: 8,
  /** [9, vote] discovery: an endpoint asks to join (sent to the seeds); `vote` is the founder it
   * backs if no group answers ('' for none). */
  Join: 9,
  /** [10, viewId, coordinator, coordinatorAddress] discovery reply from a member. */
  Here: 10,
  /** [11, viewId] member → coordinator: remove me. */
  Leave: 11,
  /** [12, viewId, member, heldMs] member → coordinator: I suspect this member, and have for
   * heldMs without a break. Renewed every suspectMs / 2 while it holds. */
  Suspect: 12,
  /** [13, viewId, epoch] application point-to-point message. */
  P2P: 13,
  /** [14, viewId, epoch] unreliable cast. */
  Unreliable: 14,
  /** [15, newViewId, attempt] coordinator → its participants: I gave up this attempt (a stronger
   * coordinator leads); your FlushOk to it no longer binds you. */
  Abandon: 15,
  /** [16, epoch] founder → the joiners that voted for it: will you found the group with me? */
  Found: 16,
  /** [17, epoch] voter → founder: yes; I back no one else until you start the group or I give up. */
  Confirm: 17,
  /** [18, viewId, epoch, coordinator, coordinatorAddress] discovery: a coordinator's beacon to
   * the seeds, and a member's answer to a beacon of another lineage. Without persistence a
   * restarted member can found a second group at the same seeds; the beacon lets the two meet
   * and the weaker one (see `yieldsTo`) rejoin the stronger. Joiners take it as a `Here`. */
  Lineage: 18,
} as const;

export interface GmsOptions {
  /** Heartbeat period. */
  heartbeatMs: number;
  /** A member silent this long is suspected. */
  suspectMs: number;
  /** A member that hears nothing from a majority of its view for this long stops (partitioned);
   * longer than suspectMs, so a busy process is not mistaken for a lost majority. */
  partitionMs: number;
  /** Joiners resend their join request this often. */
  joinRetryMs: number;
  /** A joiner that hears no member for this long may form the group (see bootstrap rule). */
  bootstrapMs: number;
  /** Membership events within this delay are folded into one view change. */
  batchMs: number;
  /** Seed addresses: where joiners look for the group. Their count is the bootstrap universe. */
  seeds: readonly string[];
  /** This member's own transport address, as written into views. */
  address: string;
  /** Messages of views not installed yet that are held; more are dropped (then repaired by a flush). */
  maxFuture: number;
  /** Bytes of future-view messages held; non-members of our view get a quarter of it. */
  maxFutureBytes: number;
  /** Joiners a coordinator keeps a record of; Joins from further unknown ids are refused. */
  maxJoiners: number;
  /** Joiners admitted per second, at most (one view change may admit fewer, see docs). */
  maxJoinRate: number;
}

const DEFAULTS: Omit<GmsOptions, 'seeds' | 'address'> = {
  heartbeatMs: 100,
  suspectMs: 1_000,
  partitionMs: 3_000,
  joinRetryMs: 200,
  bootstrapMs: 600,
  batchMs: 5,
  maxFuture: 100_000,
  maxFutureBytes: 16 * 1024 * 1024,
  maxJoiners: 64,
  maxJoinRate: 20,
};

type State = 'idle' | 'joining' | 'member' | 'partitioned' | 'left';

/** What one sender of the current view has been received and delivered (vsync bookkeeping). */
interface SenderLog {
  /** Next vseq to deliver up. */
  next: number;
  /** Received, by vseq: delivered ones are kept for forwarding until stable or the view ends. */
  held: Map<number, { msg: Msg; nakSeq: number | undefined }>;
}

/** A flush this member takes part in. */
interface Flush {
  newViewId: number;
  attempt: number;
  coord: MemberId;
  cut: Map<MemberId, number> | undefined;
  /** Per sender, who holds its casts up to the cut; and when we last asked them. */
  holders?: Map<MemberId, MemberId>;
  fetchedAt?: number;
  okSent: boolean;
  /** Its coordinator dropped it (Abandon): it is never installed, so it is never answered again. */
  abandoned?: boolean;
  /** When this member took the attempt: one nobody ends within `orphanMs` is orphaned. */
  since: number;
  /** An attempt we answered FlushOk to and then left for this one, its coordinator not having
   * released us: if its Install still comes, and we delivered nothing past its cut, we keep
   * our promise and install it (see onInstall). */
  promised?: { coord: MemberId; attempt: number; cut: Map<MemberId, number> };
}

/** A flush this member coordinates. */
interface Coordination {
  newViewId: number;
  attempt: number;
  /** The new view's epoch: this attempt ranked by our rank in the old view (unique per view id). */
  epoch: number;
  members: MemberId[];
  addresses: string[];
  participants: MemberId[];
  joined: MemberId[];
  left: MemberId[];
  failed: MemberId[];
  digests: Map<MemberId, { last: Map<MemberId, number>; nakNext: number }>;
  oks: Set<MemberId>;
  synced: boolean;
  /** When `flushTimeout` is due; how often it was put off because this member had stalled. */
  deadline: number;
  deferrals: number;
}

const EMPTY = new Uint8Array(0);
/** How many times a coordinator that stalled puts off judging a flush step (local-stall rule). */
const MAX_FLUSH_DEFERRALS = 3;
/** A view id further ahead of ours than this is impossible (a member left behind sees the
 * group a few view changes ahead, not this many): such traffic is refused, not taken as proof
 * that we were excluded. */
const MAX_VIEW_LEAD = 64;
/** Likewise an epoch whose attempt is this far above every attempt we have seen. */
const MAX_ATTEMPT_LEAD = 64;
/** What one held future message is counted as, on top of its payload (headers, bookkeeping). */
const FUTURE_OVERHEAD = 64;
/** Epoch of a group's first view. */
function foundingEpoch(founder: MemberId): number {
  // Founders differ, so two groups founded apart (a vote crossed a partition) get different
  // epochs and tell each other apart; flush epochs (≥ 4096) are above every founding one.
  let x = 0x811c9dc5;
  for (let i = 0; i < founder.length; i++) x = Math.imul(x ^ founder.charCodeAt(i), 0x01000193) >>> 0;
  return 1 + (x % 4095);
}

/**
 * Whether lineage `ours` yields to `theirs` when two lineages of a group meet: the later view
 * wins, then the later epoch, then the lower coordinator id. Every member of both decides alike.
 * A lineage that loses a majority of its members can install no further view, so a half-yielded
 * lineage cannot overtake the winner.
 */
export function yieldsTo(ours: LineagePosition, theirs: LineagePosition): boolean {
  if (theirs.viewId !== ours.viewId) return theirs.viewId > ours.viewId;
  if (theirs.epoch !== ours.epoch) return theirs.epoch > ours.epoch;
  return theirs.coordinator < ours.coordinator;
}

/**
 * GMS: group membership with virtual synchrony. Heartbeats and silence timeouts find failed
 * members; the coordinator (the lowest-ranked member not suspected) runs a flush so that every
 * survivor delivers the same messages of the old view before the new view is installed, and
 * only a partition holding a majority of the last view goes on.
 */
class Gms implements Layer {
  private state: State = 'idle';
  private view: View | undefined;
  private epoch = 0;
  private vseq = 0;
  private logs = new Map<MemberId, SenderLog>();
  private readonly lastHeard = new Map<MemberId, number>();
  /** Members this member itself suspects, and since when (its own opinion). */
  private suspected = new Set<MemberId>();
  private suspectedAt = new Map<MemberId, number>();
  /** Coordinator: the other members' suspicion reports, per suspect, per reporter: since when
   * the reporter has held it and when it last said so. A report not renewed expires. */
  private opinions = new Map<MemberId, Map<MemberId, { since: number; at: number }>>();
  /** Members excluded on direct evidence (no answer to a flush step, flow control gave up):
   * no second opinion needed. */
  private forced = new Set<MemberId>();
  /** When we last sent the coordinator our suspicion of each member. */
  private reportedAt = new Map<MemberId, number>();
  /** Suspects a layer above gave up on (lag, flow control): heard or not, they are removed. */
  private demanded = new Set<MemberId>();
  private flush: Flush | undefined;
  private coord: Coordination | undefined;
  private highestAttempt = 0;
  /** Members whose heartbeats say they are blocked in an orphaned flush (coordinator: drive one). */
  private stuck = new Set<MemberId>();
  /** When the `fd` timer last found that this member itself had not been running. */
  private lastStall = Number.NEGATIVE_INFINITY;
  private blocked: { msg: Msg; qos: QoS }[] = [];
  /** Messages tagged with a view not installed yet (data, point-to-point, unreliable). */
  private future: {
    kind: number;
    from: MemberId;
    h: unknown[];
    msg: Msg;
    nakSeq: number | undefined;
    cast: boolean;
  }[] = [];
  /** Joiners asking the coordinator: address and when their Join was last heard. */
  private readonly joiners = new Map<MemberId, { address: string; at: number }>();
  /** When joiners were admitted lately (for `maxJoinRate`). */
  private admittedAt: number[] = [];
  private readonly leavers = new Set<MemberId>();
  /** Other joiners heard while no group answers: address, when last heard, whom they vote for. */
  private readonly discovered = new Map<MemberId, { address: string; at: number; vote: string }>();
  /** The founder this joiner backs (bootstrap vote); sticky while that joiner is heard from. */
  private vote: MemberId | undefined;
  /** As founder: the voters asked, and those that confirmed. */
  private founding: { epoch: number; asked: MemberId[]; confirmed: Set<MemberId>; since: number } | undefined;
  /** As voter: the founder we confirmed; bound to it until its view arrives or we give up. */
  private tentative: { founder: MemberId; epoch: number; since: number } | undefined;
  private coordinatorHint: string | undefined;
  /** When a member of an existing group last answered us: then we join it, never found one. */
  private heardMemberAt: number | undefined;
  private joinStartedAt = 0;
  private lastFd = 0;
  private behindSince: number | undefined;
  private leaving = false;
  /** Our last Leave: to whom, when (resent to a new coordinator at once, else now and then). */
  private leaveSent: { to: MemberId; at: number } | undefined;
  private lastOwnNakSeq = -1;
  private readonly c = {
    views: 0,
    flushes: 0,
    flushDeferred: 0,
    promisesKept: 0,
    stuckReports: 0,
    forwards: 0,
    suspicions: 0,
    futureDropped: 0,
    refused: 0,
    joinsRefused: 0,
    staleDropped: 0,
    heldHighWater: 0,
    /** Beacons of another lineage of the group that this member's lineage wins over. */
    lineagesMet: 0,
  };

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: GmsOptions,
  ) {}

  // ---------------------------------------------------------------- helpers

  private get self(): MemberId {
    return this.ctx.self;
  }

  private rank(m: MemberId): number {
    return this.view ? this.view.members.indexOf(m) : -1;
  }

  /** The lowest-ranked member this member does not suspect. */
  private coordinator(): MemberId | undefined {
    return this.view?.members.find((m) => !this.suspected.has(m));
  }

  private send(to: MemberId, header: unknown[], msg: Msg = { headers: [], payload: EMPTY }): void {
    this.ctx.passDown({ type: 'send', to, msg: pushHeader(msg, header), qos: { order: 'fifo' } });
  }

  private probe(to: string | null, header: unknown[]): void {
    this.ctx.passDown({ type: 'probe', to, msg: { headers: [header], payload: EMPTY } });
  }

  private log(m: MemberId): SenderLog {
    let l = this.logs.get(m);
    if (!l) {
      l = { next: 0, held: new Map() };
      this.logs.set(m, l);
    }
    return l;
  }

  private attemptKey(attempt: number, coord: MemberId): number {
    // Higher attempts win; between equal attempts the lower-ranked coordinator wins.
    const r = this.rank(coord);
    return attempt * 4096 + (4095 - Math.min(4095, r < 0 ? 4095 : r));
  }

  // ---------------------------------------------------------------- down

  down(ev: DownEvent): void {
    switch (ev.type) {
      case 'join':
        this.startJoin();
        return;
      case 'suspect':
        // A layer above gave up on this member (flow control's bound): remove it like a silent one.
        if (this.state === 'member' && this.rank(ev.member) >= 0) {
          this.demanded.add(ev.member);
          this.suspect(ev.member, 0, true);
        }
        return;
      case 'leave':
        this.startLeave();
        return;
      case 'cast': {
        if (this.state === 'joining' && ev.qos.order !== 'unreliable') {
          this.blocked.push({ msg: ev.msg, qos: ev.qos }); // sent in the first view
          return;
        }
        if (this.state !== 'member' || !this.view) return;
        if (ev.qos.order === 'unreliable') {
          this.ctx.passDown({
            ...ev,
            msg: pushHeader(ev.msg, [GmsKind.Unreliable, this.view.id, this.epoch]),
          });
          return;
        }
        if (this.flush || this.leaving) {
          this.blocked.push({ msg: ev.msg, qos: ev.qos });
          return;
        }
        this.castData(ev.msg, ev.qos);
        return;
      }
      case 'send':
        if (this.state !== 'member' || !this.view) return;
        this.send(ev.to, [GmsKind.P2P, this.view.id, this.epoch], ev.msg);
        return;
      default:
        this.ctx.passDown(ev);
    }
  }

  private castData(msg: Msg, qos: QoS): void {
    const v = this.view!;
    this.ctx.passDown({
      type: 'cast',
      msg: pushHeader(msg, [GmsKind.Data, v.id, this.epoch, this.vseq++]),
      qos,
    });
  }

  // ---------------------------------------------------------------- join / leave / bootstrap

  private startJoin(): void {
    if (this.state !== 'idle') return;
    this.state = 'joining';
    this.joinStartedAt = this.ctx.now();
    this.sendJoin();
    this.ctx.setTimer('join', this.o.joinRetryMs);
  }

  private sendJoin(): void {
    const targets = new Set(this.o.seeds);
    if (this.coordinatorHint) targets.add(this.coordinatorHint);
    for (const a of targets) this.probe(a, [GmsKind.Join, this.vote ?? '']);
    // And a beacon to whoever listens: reaches every member where the transport has IP multicast
    // (a fan-out transport has no peers before a view, so this costs nothing there).
    this.probe(null, [GmsKind.Join, this.vote ?? '']);
  }

  /**
   * Bootstrap when no group answers: every joiner votes for the lowest id it hears and keeps
   * that vote while the candidate is heard from; a candidate holding the votes of a majority of
   * the seeds founds the group with its voters. Each joiner backs one founder at a time, so two
   * founders cannot both gather a majority (two sides of a partition cannot both found a group).
   */
  private joinTimer(): void {
    if (this.state !== 'joining') return;
    const now = this.ctx.now();
    this.ctx.setTimer('join', this.o.joinRetryMs);
    const giveUp = 2 * this.o.suspectMs;
    if (this.tentative) {
      // We confirmed a founder whose group never started: come back as a new member, since the
      // founder may have counted us (RMP: a member that may have been removed rejoins anew).
      if (now - this.tentative.since > giveUp) {
        this.finish('partitioned', `the group ${this.tentative.founder} proposed never started`);
        return;
      }
      this.sendJoin();
      return;
    }
    if (this.founding && this.founding.confirmed.size + 1 >= this.quorum()) {
      this.startFounded();
      return;
    }
    if (this.founding && now - this.founding.since > giveUp) this.founding = undefined;
    if (this.founding) {
      this.sendJoin();
      return;
    }
    const expiry = 3 * this.o.suspectMs;
    for (const [m, d] of this.discovered) if (now - d.at > expiry) this.discovered.delete(m);
    const lowest = [...this.discovered.keys(), this.self].sort()[0]!;
    // Stay with a candidate while it is heard and still a candidate (votes for itself): it may be
    // founding with our vote right now. Otherwise back the lowest id we know.
    const backed = this.vote === undefined ? undefined : this.discovered.get(this.vote);
    if (!backed || backed.vote !== this.vote) this.vote = lowest;
    if (this.heardMemberAt !== undefined && now - this.heardMemberAt > expiry) this.heardMemberAt = undefined;
    const voters = [...this.discovered].filter(([, d]) => d.vote === this.self).map(([m]) => m);
    if (
      this.heardMemberAt === undefined &&
      this.vote === this.self &&
      now - this.joinStartedAt >= this.o.bootstrapMs &&
      voters.length + 1 >= this.quorum()
    )
      this.found(voters.sort());
    this.sendJoin();
  }

  /**
   * Founding is two-phase: a vote can cross a partition and expire, so the founder counts only
   * voters that confirm, and a confirmed voter backs nobody else. A group therefore starts with a
   * majority of the seeds that all know it, and no voter is in two founding views.
   */
  private found(voters: MemberId[]): void {
    const epoch = foundingEpoch(this.self);
    this.founding = { epoch, asked: voters, confirmed: new Set(), since: this.ctx.now() };
    this.ctx.trace(() => `propose founding to ${voters.join(',')}`);
    for (const m of voters) this.send(m, [GmsKind.Found, epoch]);
  }

  private onFound(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 2);
    const epoch = headerUint(h[1], 'gms', 'epoch');
    if (this.state !== 'joining' || this.founding || this.vote !== from) return;
    if (this.tentative && this.tentative.founder !== from) return;
    // A member of a running group answered us: we join that group and found none.
    if (!this.tentative && this.heardMemberAt !== undefined) return;
    this.tentative ??= { founder: from, epoch, since: this.ctx.now() };
    this.send(from, [GmsKind.Confirm, epoch]);
  }

  private onConfirm(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 2);
    const epoch = headerUint(h[1], 'gms', 'epoch');
    const f = this.founding;
    if (this.state !== 'joining' || !f || epoch !== f.epoch || !f.asked.includes(from)) return;
    f.confirmed.add(from);
    // With a quorum, wait for the rest until the next join tick: starting with everyone spares
    // the latecomers a join (and a state transfer) right after.
    if (f.confirmed.size === f.asked.length) this.startFounded();
  }

  private startFounded(): void {
    const f = this.founding!;
    const epoch = f.epoch;
    const voters = [...f.confirmed].sort();
    const members = [this.self, ...voters];
    const addresses = [this.o.address, ...voters.map((m) => this.discovered.get(m)?.address ?? '')];
    this.founding = undefined;
    this.ctx.trace(() => `found the group with ${members.join(',')}`);
    const install = [GmsKind.Install, 1, 1, members, addresses, members, [], [], [], epoch];
    this.install(
      1,
      epoch,
      members,
      addresses,
      { previousId: undefined, joined: members, left: [], failed: [] },
      [],
    );
    for (const m of voters) this.send(m, install);
  }

  /** A majority of the seeds: what founding a group takes. */
  private quorum(): number {
    return Math.floor(Math.max(1, this.o.seeds.length) / 2) + 1;
  }

  private startLeave(): void {
    if (this.state === 'joining' || this.state === 'idle') {
      this.finish('left');
      return;
    }
    if (this.state !== 'member' || !this.view) return;
    this.leaving = true;
    if (this.view.members.length === 1) {
      this.finish('left');
      return;
    }
    this.leavers.add(this.self);
    this.askToLeave();
    this.ctx.setTimer('leave', this.o.suspectMs * 3);
  }

  /**
   * Ask whoever coordinates now to remove us. Repeated (fd tick, each install) until a view
   * without us arrives: a Leave lost with its coordinator would otherwise keep us in the next
   * view, blocked and holding up the token, until the `leave` timer and a suspicion end it.
   */
  private askToLeave(): void {
    if (!this.leaving || !this.view) return;
    const c = this.coordinator();
    if (c === this.self) {
      if (!this.coord) this.scheduleFlush();
      return;
    }
    if (!c) return;
    const now = this.ctx.now();
    if (c === this.leaveSent?.to && now - this.leaveSent.at < this.o.suspectMs / 2) return;
    this.leaveSent = { to: c, at: now };
    this.send(c, [GmsKind.Leave, this.view.id]);
  }

  private finish(state: 'left' | 'partitioned', reason = '', yielded?: LineageMeeting): void {
    if (this.state === 'left' || this.state === 'partitioned') return;
    // Release our participants at once rather than leaving them to the orphan rule.
    this.dropCoordination();
    this.state = state;
    for (const k of ['join', 'fd', 'flushStart', 'flushTimeout', 'leave', 'behind']) this.ctx.clearTimer(k);
    this.blocked = [];
    this.future = [];
    this.futureBytes = 0;
    this.futureStrangerBytes = 0;
    if (state === 'left') this.ctx.passUp({ type: 'left' });
    else
      this.ctx.passUp({
        type: 'partitioned',
        viewId: this.view?.id ?? 0,
        reason,
        ...(yielded ? { yielded } : {}),
      });
  }

  // ---------------------------------------------------------------- up

  up(ev: UpEvent): void {
    if (this.state === 'left' || this.state === 'partitioned') return;
    if (ev.type === 'discovery') {
      this.onDiscovery(ev.msg, ev.from, ev.address);
      return;
    }
    if (ev.type === 'stable') {
      this.onStable(ev.seqs);
      this.ctx.passUp(ev);
      return;
    }
    if (ev.type === 'lost') return; // a flush repairs what the view needs; nothing else is owed
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'gms');
    const from = ev.from;
    if (this.view && this.rank(from) >= 0 && this.sameLineage(kind, h))
      this.lastHeard.set(from, this.ctx.now());
    if (from === this.self && kind === GmsKind.Data && ev.meta.seq !== undefined)
      this.lastOwnNakSeq = ev.meta.seq;
    switch (kind) {
      case GmsKind.Data:
        this.onData(from, h, rest, ev.meta.seq);
        return;
      case GmsKind.Heartbeat:
      case GmsKind.Unreliable:
      case GmsKind.P2P:
        this.onViewTagged(kind, from, h, rest, ev.cast);
        return;
      case GmsKind.Prepare:
        this.onPrepare(from, h);
        return;
      case GmsKind.Digest:
        this.onDigest(from, h);
        return;
      case GmsKind.Sync:
        this.onSync(from, h);
        return;
      case GmsKind.Fetch:
        this.onFetch(from, h);
        return;
      case GmsKind.Forward:
        this.onForward(from, h, rest);
        return;
      case GmsKind.FlushOk:
        this.onFlushOk(from, h);
        return;
      case GmsKind.Install:
        this.onInstall(from, h);
        return;
      case GmsKind.Leave:
        this.onLeave(from, h);
        return;
      case GmsKind.Suspect:
        this.onSuspectReport(from, h);
        return;
      case GmsKind.Found:
        this.onFound(from, h);
        return;
      case GmsKind.Confirm:
        this.onConfirm(from, h);
        return;
      case GmsKind.Abandon: {
        headerTuple(h, 'gms', 3);
        const newViewId = headerUint(h[1], 'gms', 'viewId');
        const attempt = headerUint(h[2], 'gms', 'attempt');
        const f = this.flush;
        // Its coordinator will never install that attempt: we may answer another one.
        if (f && f.coord === from && f.newViewId === newViewId && f.attempt === attempt) {
          this.ctx.trace(() => `abandoned ${newViewId}/${attempt} by ${from}`);
          f.okSent = false;
          f.abandoned = true;
        }
        return;
      }
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `gms: unexpected kind ${kind}`);
    }
  }

  private onDiscovery(msg: Msg, from: MemberId, address: string): void {
    const { h, kind } = popKindHeader(msg, 'gms');
    if (kind === GmsKind.Join) {
      if (this.state === 'joining') {
        const vote = h.length > 1 ? headerString(h[1], 'gms', 'vote') : '';
        this.discovered.set(from, { address, at: this.ctx.now(), vote });
        return;
      }
      if (this.state !== 'member' || !this.view) return;
      if (this.rank(from) >= 0) return; // already a member (a late retry)
      const c = this.coordinator();
      if (c === this.self) {
        const known = this.joiners.get(from);
        if (known) {
          known.at = this.ctx.now(); // a retry: it is still alive
          known.address = address;
        } else if (this.joiners.size >= this.o.maxJoiners) {
          this.c.joinsRefused++;
        } else {
          this.joiners.set(from, { address, at: this.ctx.now() });
          this.scheduleFlush();
        }
        // Tell it a group exists, as the other members do: a joiner that hears none may found a
        // second group (a restarted member remembers nothing), and with a fan-out transport the
        // coordinator may be the only member it reaches.
        this.probe(address, [GmsKind.Here, this.view.id, c, this.o.address]);
      } else if (c) {
        const ca = this.view.addresses[this.rank(c)] ?? '';
        this.probe(address, [GmsKind.Here, this.view.id, c, ca]);
      }
      return;
    }
    if (kind === GmsKind.Here) {
      if (this.state !== 'joining') return;
      headerTuple(h, 'gms', 4);
      headerUint(h[1], 'gms', 'viewId');
      headerString(h[2], 'gms', 'coordinator');
      const ca = headerString(h[3], 'gms', 'address');
      this.heardMemberAt = this.ctx.now();
      if (ca !== '') this.coordinatorHint = ca;
      return;
    }
    if (kind === GmsKind.Lineage) {
      this.onLineage(h, from, address);
      return;
    }
    throw new DecodeError('DECODE_BAD_SHAPE', `gms: unexpected discovery kind ${kind}`);
  }

  /**
   * A beacon of a group's coordinator. A joiner takes it as a `Here`. A member of another
   * lineage of the group (none of the two is in the other's view) compares the two, and the
   * weaker one's members leave and come back as joiners of the stronger, taking its state.
   */
  private onLineage(h: unknown[], from: MemberId, address: string): void {
    headerTuple(h, 'gms', 5);
    const theirs: LineagePosition = {
      viewId: headerUint(h[1], 'gms', 'viewId'),
      epoch: headerUint(h[2], 'gms', 'epoch'),
      coordinator: headerString(h[3], 'gms', 'coordinator'),
    };
    const ca = headerString(h[4], 'gms', 'address');
    // Only a coordinator speaking for itself from a seed address: anything else is not a
    // beacon this protocol sends, and a forged one must not move a member.
    if (from !== theirs.coordinator || ca !== address || !this.o.seeds.includes(address)) {
      this.c.refused++;
      return;
    }
    if (this.state === 'joining') {
      this.heardMemberAt = this.ctx.now();
      this.coordinatorHint = ca;
      return;
    }
    const v = this.view;
    // No view-lead bound here (unlike view-tagged traffic): a lineage that ran for long is far
    // ahead of one founded lately, and they must still merge.
    if (this.state !== 'member' || !v || this.rank(from) >= 0) return;
    const ours: LineagePosition = {
      viewId: v.id,
      epoch: this.epoch,
      coordinator: this.coordinator() ?? this.self,
    };
    if (theirs.coordinator === ours.coordinator) return;
    if (yieldsTo(ours, theirs)) {
      this.finish(
        'partitioned',
        `another lineage of the group wins: view ${theirs.viewId}.${theirs.epoch} coordinated by ` +
          `${theirs.coordinator} at ${ca}, over ours ${ours.viewId}.${ours.epoch} coordinated by ${ours.coordinator}`,
        { ours, theirs },
      );
      return;
    }
    // We win: make sure the other side hears it, even if our coordinator's beacons miss it.
    this.c.lineagesMet++;
    const now = this.ctx.now();
    if (now - (this.lineageAnswered.get(address) ?? Number.NEGATIVE_INFINITY) < this.o.suspectMs / 2) return;
    this.lineageAnswered.set(address, now);
    this.beacon(address);
  }

  /** When we last answered another lineage's beacon, per seed address. */
  private readonly lineageAnswered = new Map<string, number>();
  private lastBeacon = Number.NEGATIVE_INFINITY;

  private beacon(to: string): void {
    const c = this.coordinator() ?? this.self;
    const ca = this.view!.addresses[this.rank(c)] ?? '';
    // A member answering speaks for its coordinator only if it is the coordinator; otherwise
    // it names itself, so the receiver's checks (sender = named coordinator) still hold.
    if (c === this.self) this.probe(to, [GmsKind.Lineage, this.view!.id, this.epoch, c, ca]);
    else this.probe(to, [GmsKind.Lineage, this.view!.id, this.epoch, this.self, this.o.address]);
  }

  /** Heartbeats, unreliable casts and point-to-point messages: tagged with the view, not flushed. */
  private onViewTagged(kind: number, from: MemberId, h: unknown[], rest: Msg, cast: boolean): void {
    headerTuple(h, 'gms', 3);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    const epoch = headerUint(h[2], 'gms', 'epoch');
    if (!this.view || viewId > this.view.id) {
      if (!this.plausibleLead(viewId)) return;
      if (this.view && this.rank(from) >= 0) this.noteAhead(from);
      // A state transfer or reply may beat the install to us: keep it for that view.
      if (kind !== GmsKind.Heartbeat)
        this.keepForLater({ kind, from, h, msg: rest, nakSeq: undefined, cast });
      return;
    }
    if (this.otherLineage(from, viewId, epoch)) return;
    if (viewId < this.view.id || epoch !== this.epoch || this.rank(from) < 0) return;
    if (kind === GmsKind.Heartbeat) {
      this.onHeartbeat(from, h);
      return;
    }
    this.ctx.passUp({ type: 'deliver', msg: rest, from, cast, meta: { viewId } });
  }

  private onHeartbeat(from: MemberId, h: unknown[]): void {
    // The two flush fields came later: a heartbeat without them reports nothing.
    const highest = h.length > 3 ? headerUint(h[3], 'gms', 'attempt') : 0;
    const stuck = h.length > 4 ? headerUint(h[4], 'gms', 'stuck') : 0;
    this.highestAttempt = Math.max(this.highestAttempt, highest);
    if (stuck === 0 || this.coord || this.coordinator() !== this.self) return;
    // A member is blocked in a flush nobody drives (its coordinator abandoned it, or lost the
    // lead, or it arrived stale after a heal): only a view change unblocks it, so run one.
    if (!this.stuck.has(from)) this.c.stuckReports++;
    this.stuck.add(from);
    if (this.hasMajority()) this.scheduleFlush();
  }

  /** Blocked in a flush that no coordinator will end: abandoned, or silent past `orphanMs`. */
  private orphaned(): boolean {
    const f = this.flush;
    if (!f) return false;
    return f.abandoned === true || this.ctx.now() - f.since > 2 * this.o.suspectMs;
  }

  /** Whether a message proves its sender alive in our view: view-tagged traffic must carry our
   * view's epoch (or a later view), else the sender lives in another lineage of the group and,
   * for us, is silent. Flush control names view ids only and always counts. */
  private sameLineage(kind: number, h: unknown[]): boolean {
    const tagged =
      kind === GmsKind.Data ||
      kind === GmsKind.Heartbeat ||
      kind === GmsKind.P2P ||
      kind === GmsKind.Unreliable;
    if (!tagged) return true;
    const viewId = h[1];
    return (
      typeof viewId === 'number' &&
      ((viewId > this.view!.id && viewId <= this.view!.id + MAX_VIEW_LEAD) ||
        (viewId === this.view!.id && h[2] === this.epoch))
    );
  }

  /**
   * Two coordinators may both install the next view id (the first one's install crossed a
   * partition after every participant had answered it; the survivors then ran their own flush).
   * A member of our view in the same view id under another epoch shows it; the lineage with the
   * lower epoch yields and its members come back as new members, so one lineage goes on.
   */
  private otherLineage(from: MemberId, viewId: number, epoch: number): boolean {
    if (!this.view || viewId !== this.view.id || epoch === this.epoch || this.rank(from) < 0) return false;
    // Flushed epochs encode their attempt (epoch / 4096): one far above every attempt we have
    // seen (heartbeats spread them) is invented; drop it rather than stop.
    if (Math.floor(epoch / 4096) > this.highestAttempt + MAX_ATTEMPT_LEAD) {
      this.c.refused++;
      return true;
    }
    if (epoch > this.epoch)
      this.finish('partitioned', `view ${viewId} was also installed by another coordinator`);
    return true;
  }

  private keepForLater(f: Gms['future'][number]): void {
    const bytes = f.msg.payload.byteLength + FUTURE_OVERHEAD;
    // Anyone can claim a later view, so strangers (not in our view) get only a share of the
    // bytes: they cannot crowd out what members of our view send ahead of an install.
    const stranger = !this.view || this.rank(f.from) < 0;
    if (
      this.future.length >= this.o.maxFuture ||
      this.futureBytes + bytes > this.o.maxFutureBytes ||
      (stranger && this.futureStrangerBytes + bytes > this.o.maxFutureBytes / 4)
    ) {
      this.c.futureDropped++;
      return;
    }
    this.futureBytes += bytes;
    if (stranger) this.futureStrangerBytes += bytes;
    this.future.push(f);
  }

  private futureBytes = 0;
  private futureStrangerBytes = 0;

  /** Whether a later view id is believable (see MAX_VIEW_LEAD); counts the refusal if not. */
  private plausibleLead(viewId: number): boolean {
    if (!this.view || viewId <= this.view.id + MAX_VIEW_LEAD) return true;
    this.c.refused++;
    return false;
  }

  /**
   * A member of our view is in a later view we never got: we were left behind (excluded). It
   * takes two members showing it (one in a view of two), or our coordinator: one other
   * sender's claim, forged or not, does not stop a member.
   */
  private noteAhead(from: MemberId): void {
    if (this.behindSince !== undefined || !this.view) return;
    this.aheadFrom.add(from);
    // Our coordinator alone is enough: it is the one that installs views (and if a FlushOk
    // switch left it alone in a view of its own, we must not wait for it forever).
    const enough = this.aheadFrom.size >= Math.min(2, this.view.members.length - 1);
    if (!enough && from !== this.coordinator()) return;
    this.behindSince = this.ctx.now();
    this.ctx.setTimer('behind', this.o.suspectMs);
  }

  private aheadFrom = new Set<MemberId>();

  // ---------------------------------------------------------------- data (virtual synchrony)

  private onData(from: MemberId, h: unknown[], msg: Msg, nakSeq: number | undefined): void {
    headerTuple(h, 'gms', 4);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    const epoch = headerUint(h[2], 'gms', 'epoch');
    const vseq = headerUint(h[3], 'gms', 'vseq');
    if (!this.view || viewId > this.view.id) {
      if (!this.plausibleLead(viewId)) return;
      if (this.view && this.rank(from) >= 0) this.noteAhead(from);
      this.keepForLater({ kind: GmsKind.Data, from, h, msg, nakSeq, cast: true });
      return;
    }
    if (this.otherLineage(from, viewId, epoch)) return;
    if (viewId < this.view.id || epoch !== this.epoch || this.rank(from) < 0) {
      this.c.staleDropped++;
      return;
    }
    this.accept(from, vseq, msg, nakSeq);
  }

  /** Take a message of the current view (from its sender or forwarded), deliver what is in order. */
  private accept(from: MemberId, vseq: number, msg: Msg, nakSeq: number | undefined): void {
    const l = this.log(from);
    if (vseq < l.next || l.held.has(vseq)) return;
    // Past the cut of the running flush attempt it is held, not delivered (drainLog stops at the
    // cut): the attempt may be abandoned and the next one's cut may include it. Nothing below
    // will resend it, since the stream layer already counts it delivered everywhere.
    l.held.set(vseq, { msg, nakSeq });
    this.c.heldHighWater = Math.max(this.c.heldHighWater, l.held.size);
    this.drainLog(from, l);
    if (this.flush?.cut) this.checkFlushDone();
  }

  private drainLog(from: MemberId, l: SenderLog): void {
    // After reporting a digest and before the cut is known, nothing more is delivered: the cut
    // may end the view before it.
    if (this.flush && !this.flush.cut && this.flushDigestSent) return;
    const cut = this.flush?.cut;
    const limit = cut ? (cut.get(from) ?? -1) : Number.POSITIVE_INFINITY;
    for (let e = l.held.get(l.next); e !== undefined && l.next <= limit; e = l.held.get(l.next)) {
      l.next++;
      this.ctx.passUp({
        type: 'deliver',
        msg: e.msg,
        from,
        cast: true,
        meta: { viewId: this.view!.id, ...(e.nakSeq !== undefined ? { seq: e.nakSeq } : {}) },
      });
    }
  }

  private flushDigestSent = false;

  /** Highest vseq held contiguously from 0 for a sender, or -1. */
  private contiguous(m: MemberId): number {
    const l = this.logs.get(m);
    if (!l) return -1;
    let k = l.next;
    while (l.held.has(k)) k++;
    return k - 1;
  }

  private onStable(seqs: ReadonlyMap<MemberId, number>): void {
    // Messages every member holds need no forwarding in a flush.
    for (const [m, upTo] of seqs) {
      const l = this.logs.get(m);
      if (!l) continue;
      for (const [vseq, e] of l.held)
        if (vseq < l.next && e.nakSeq !== undefined && e.nakSeq <= upTo) l.held.delete(vseq);
    }
  }

  // ---------------------------------------------------------------- failure detection

  private fdTimer(): void {
    if (this.state !== 'member' || !this.view) return;
    const now = this.ctx.now();
    const v = this.view;
    this.ctx.passDown({
      type: 'cast',
      msg: {
        headers: [[GmsKind.Heartbeat, v.id, this.epoch, this.highestAttempt, this.orphaned() ? 1 : 0]],
        payload: EMPTY,
      },
      qos: { order: 'unreliable' },
    });
    // Any late tick counts for the flush timeout's local-stall rule; only a long one stops
    // this round's suspicions.
    if (now - this.lastFd > 1.5 * this.o.heartbeatMs) this.lastStall = now;
    const stalled = now - this.lastFd > this.o.suspectMs / 2;
    this.lastFd = now;
    this.ctx.setTimer('fd', this.o.heartbeatMs);
    if (stalled) {
      // We ourselves were not running (paused, or a long synchronous burst): what we did not
      // hear says nothing about the others. Give everyone a fresh chance before judging.
      for (const m of v.members)
        this.lastHeard.set(m, Math.max(this.lastHeard.get(m) ?? now, now - this.o.suspectMs / 2));
      return;
    }
    // A member suspected but heard again (it was busy, not dead) is trusted again, as long as
    // no flush has started to remove it. A removal a layer above demanded stands, unless it is
    // what leaves this member without a majority (the other one of a view of two): no flush
    // could carry it out, and while it stood no join or other change could go ahead either.
    if (!this.coord)
      for (const pass of [false, true])
        for (const m of this.suspected)
          if (
            now - (this.lastHeard.get(m) ?? 0) <= this.o.suspectMs &&
            (!this.demanded.has(m) || (pass && !this.hasMajority()))
          ) {
            this.ctx.trace(() => `withdraw suspicion of ${m}`);
            this.suspected.delete(m);
            this.suspectedAt.delete(m);
            this.forced.delete(m);
            this.demanded.delete(m);
          }
    this.expireJoiners(now);
    this.askToLeave();
    const f = this.flush;
    if (f?.cut && !f.okSent && !f.abandoned && now - (f.fetchedAt ?? now) >= 2 * this.o.heartbeatMs)
      this.fetchMissing();
    // Work left waiting for a majority (a stalled flush that leaves the group blocked,
    // suspicions, joins, leaves) resumes with a fresh attempt once the majority is back.
    const pending =
      this.flush ||
      this.stuck.size > 0 ||
      this.suspected.size > 0 ||
      this.opinions.size > 0 ||
      this.joiners.size > 0 ||
      this.leavers.size > 0;
    if (pending && !this.coord && this.coordinator() === this.self && this.hasMajority())
      this.scheduleFlush();
    let silent = 0;
    for (const m of v.members) {
      if (m !== this.self && now - (this.lastHeard.get(m) ?? now) > this.o.partitionMs) silent++;
    }
    if ((v.members.length - silent) * 2 <= v.members.length) {
      this.finish(
        'partitioned',
        `${silent} of ${v.members.length} members silent for ${this.o.partitionMs} ms`,
      );
      return;
    }
    for (const m of v.members) {
      if (m === this.self || this.suspected.has(m)) continue;
      const heard = this.lastHeard.get(m) ?? now;
      if (now - heard > this.o.suspectMs) this.suspect(m, now - heard);
    }
    if (this.hasMajority()) this.report(now);
    // Coordinator: a beacon now and then to each seed that no member of the view holds, so that
    // another lineage of the group there (founded by a member that restarted remembering
    // nothing) meets this one. A seed address our view holds is ours: a stale incarnation listed
    // there is dead, and is removed before long, and then its address gets beacons too.
    if (this.coordinator() === this.self && now - this.lastBeacon >= this.o.suspectMs) {
      this.lastBeacon = now;
      for (const a of new Set(this.o.seeds)) if (!v.addresses.includes(a)) this.beacon(a);
    }
  }

  private suspect(m: MemberId, silentMs: number, forced = false): void {
    if (!this.view || m === this.self) return;
    if (forced) this.forced.add(m);
    if (this.suspected.has(m)) return;
    this.suspected.add(m);
    this.suspectedAt.set(m, this.ctx.now());
    this.c.suspicions++;
    this.ctx.trace(() => `suspect ${m}`);
    this.ctx.passUp({ type: 'suspect', member: m, silentMs });
    // No majority in sight: wait. Either the silent members come back (a busy process, not a
    // dead one) or they stay silent for partitionMs and this member gives up (fdTimer).
    if (!this.hasMajority()) return;
    const c = this.coordinator();
    if (c === this.self) this.scheduleFlush();
    else this.report(this.ctx.now());
  }

  /**
   * Tell the coordinator which members we suspect, again every suspectMs / 2 while we do (and at
   * once when the coordinator changes): it counts only renewed reports, so a suspicion we drop,
   * or a report lost with its coordinator, fades there by itself.
   */
  private report(now: number): void {
    const c = this.coordinator();
    if (!this.view || !c || c === this.self) return;
    for (const m of this.suspected) {
      const last = this.reportedAt.get(m);
      if (last !== undefined && now - last < this.o.suspectMs / 2 && this.reportedTo === c) continue;
      this.reportedAt.set(m, now);
      const held = Math.max(0, Math.round(now - (this.suspectedAt.get(m) ?? now)));
      this.send(c, [GmsKind.Suspect, this.view.id, m, held]);
    }
    this.reportedTo = c;
  }

  private reportedTo: MemberId | undefined;

  /**
   * Whether the coordinator may exclude `m` as failed. One opinion is not enough (one bad or
   * asymmetric link would remove a healthy member): it takes direct evidence (`forced`), or
   * two members that suspect it (this one counted, reports renewed within suspectMs, reporters
   * not suspected themselves), or, in a view of two, the other one. A single opinion held
   * without a break for `partitionMs` is also enough: a member one other member cannot hear at
   * all stalls the whole group (that member can deliver none of its casts), so one of the two
   * must go, and only the one suspected is known to be unreachable.
   */
  private failedNow(m: MemberId): boolean {
    if (!this.view || m === this.self) return false;
    if (this.forced.has(m)) return true;
    const now = this.ctx.now();
    let count = 0;
    let oldest = Number.POSITIVE_INFINITY;
    if (this.suspected.has(m)) {
      count++;
      oldest = this.suspectedAt.get(m) ?? now;
    }
    for (const [r, o] of this.opinions.get(m) ?? []) {
      if (r === m || r === this.self || now - o.at > this.o.suspectMs) continue;
      if (this.rank(r) < 0 || this.suspected.has(r)) continue;
      count++;
      oldest = Math.min(oldest, o.since);
    }
    if (count >= Math.min(2, this.view.members.length - 1)) return true;
    return count > 0 && now - oldest >= this.o.partitionMs;
  }

  private hasMajority(): boolean {
    const v = this.view!;
    const alive = v.members.filter((m) => !this.suspected.has(m)).length;
    return alive * 2 > v.members.length;
  }

  private onSuspectReport(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 3);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    const m = headerString(h[2], 'gms', 'member');
    // How long the reporter has suspected m without a break (a later field: absent means 0).
    const held = h.length > 3 ? headerUint(h[3], 'gms', 'heldMs') : 0;
    if (!this.view || viewId !== this.view.id || this.rank(m) < 0) return;
    // Only a member of the view has an opinion; anyone else's report is refused and counted.
    if (this.rank(from) < 0 || from === m) {
      this.c.refused++;
      return;
    }
    if (this.coordinator() !== this.self) return;
    let per = this.opinions.get(m);
    if (!per) {
      per = new Map();
      this.opinions.set(m, per);
    }
    const now = this.ctx.now();
    // Continuous means renewed here without a gap and, by the reporter's own account, never
    // withdrawn in between (a flapping suspicion starts over); a reporter cannot claim more
    // than it has shown us.
    const o = per.get(from);
    const shown = o && now - o.at <= this.o.suspectMs ? o.since : now;
    per.set(from, { since: Math.max(shown, now - held), at: now });
    if (this.failedNow(m)) this.scheduleFlush();
  }

  private onLeave(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 2);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    if (!this.view || viewId !== this.view.id || this.rank(from) < 0) return;
    this.leavers.add(from);
    if (this.coordinator() === this.self) this.scheduleFlush();
  }

  // ---------------------------------------------------------------- flush: coordinator side

  /**
   * The joiners the next view admits: only those heard within `joinFreshMs` (a joiner retries its
   * Join every `joinRetryMs` until it is in: a silent one is dead or forged), at most
   * max(1, ⌊(stay − 1) / 2⌋) of them, so the members that stay keep a strict majority of the new
   * view even if every joiner is dead or invented, and within `maxJoinRate` per second.
   */
  private admissible(stay: number): MemberId[] {
    const now = this.ctx.now();
    this.admittedAt = this.admittedAt.filter((t) => now - t < 1_000);
    const room = Math.min(
      Math.max(1, Math.floor((stay - 1) / 2)),
      this.o.maxJoinRate - this.admittedAt.length,
    );
    const out: MemberId[] = [];
    for (const [j, r] of this.joiners) {
      if (out.length >= room) break;
      if (now - r.at <= this.joinFreshMs() && this.rank(j) < 0) out.push(j);
    }
    return out;
  }

  /** How long a joiner's last Join counts: a few of its retries, and never less than `suspectMs`. */
  private joinFreshMs(): number {
    return Math.max(this.o.suspectMs, 3 * this.o.joinRetryMs);
  }

  /** Forget joiners not heard within `joinFreshMs`: they died, gave up, or never existed. */
  private expireJoiners(now: number): void {
    for (const [j, r] of this.joiners) if (now - r.at > this.joinFreshMs()) this.joiners.delete(j);
  }

  private scheduleFlush(): void {
    this.ctx.setTimer('flushStart', this.o.batchMs);
  }

  private startFlush(): void {
    if (this.state !== 'member' || !this.view || this.coordinator() !== this.self) return;
    const v = this.view;
    const failed = v.members.filter((m) => this.failedNow(m));
    const left = v.members.filter((m) => this.leavers.has(m) && !failed.includes(m));
    const stay = v.members.filter((m) => !failed.includes(m) && !this.leavers.has(m));
    const joined = this.admissible(stay.length);
    // Nothing changed and nobody is blocked in a flush: no view change needed.
    if (
      failed.length === 0 &&
      left.length === 0 &&
      joined.length === 0 &&
      !this.flush &&
      this.stuck.size === 0
    )
      return;
    if (!this.hasMajority()) return; // see suspect(): wait for them or for partitionMs
    // Others' opinions can fail members we do not suspect: the participants themselves must be
    // a strict majority of the view, or a minority could move on (primary partition).
    if ((stay.length + left.length) * 2 <= v.members.length) return;
    const attempt = Math.max(this.highestAttempt, this.coord?.attempt ?? 0) + 1;
    this.highestAttempt = attempt;
    const members = [...stay, ...joined];
    const addresses = [
      ...stay.map((m) => v.addresses[this.rank(m)] ?? ''),
      ...joined.map((j) => this.joiners.get(j)?.address ?? ''),
    ];
    this.coord = {
      newViewId: v.id + 1,
      attempt,
      epoch: this.attemptKey(attempt, this.self),
      members,
      addresses,
      participants: [...stay, ...left],
      joined,
      left,
      failed,
      digests: new Map(),
      oks: new Set(),
      synced: false,
      deadline: this.ctx.now() + this.o.suspectMs,
      deferrals: 0,
    };
    this.c.flushes++;
    this.ctx.trace(
      () => `flush ${v.id + 1}/${attempt} members ${members.join(',')} failed ${failed.join(',')}`,
    );
    for (const p of this.coord.participants)
      this.send(p, [GmsKind.Prepare, v.id + 1, attempt, members, addresses]);
    this.ctx.setTimer('flushTimeout', this.o.suspectMs);
  }

  private onDigest(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 5);
    const newViewId = headerUint(h[1], 'gms', 'viewId');
    const attempt = headerUint(h[2], 'gms', 'attempt');
    const entries = headerTuple(h[3], 'gms', 0);
    const nakNext = headerUint(h[4], 'gms', 'nakNext');
    const last = new Map<MemberId, number>();
    for (const e of entries) {
      const t = headerTuple(e, 'gms', 2);
      last.set(headerString(t[0], 'gms', 'sender'), headerUint(t[1], 'gms', 'vseq') - 1);
    }
    const k = this.coord;
    if (!k || k.newViewId !== newViewId || k.attempt !== attempt || !k.participants.includes(from)) return;
    k.digests.set(from, { last, nakNext });
    if (k.digests.size < k.participants.length || k.synced) return;
    // The old view ends, per sender, at the furthest any survivor got; one who has it serves the rest.
    const cut: [MemberId, number, MemberId][] = [];
    for (const s of this.view!.members) {
      let best = -1;
      let holder: MemberId = this.self;
      for (const [p, d] of k.digests) {
        const got = d.last.get(s) ?? -1;
        if (got > best) {
          best = got;
          holder = p;
        }
      }
      cut.push([s, best + 1, holder]); // as a count: -1 cannot travel as an unsigned header
    }
    k.synced = true;
    for (const p of k.participants) this.send(p, [GmsKind.Sync, newViewId, attempt, cut]);
  }

  private onFlushOk(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 3);
    const newViewId = headerUint(h[1], 'gms', 'viewId');
    const attempt = headerUint(h[2], 'gms', 'attempt');
    const k = this.coord;
    if (!k || k.newViewId !== newViewId || k.attempt !== attempt || !k.participants.includes(from)) return;
    k.oks.add(from);
    if (k.oks.size < k.participants.length) return;
    const nakNext = [...k.digests].map(([m, d]) => [m, d.nakNext]);
    const install = [
      GmsKind.Install,
      newViewId,
      attempt,
      k.members,
      k.addresses,
      k.joined,
      k.left,
      k.failed,
      nakNext,
      k.epoch,
    ];
    this.ctx.clearTimer('flushTimeout');
    this.coord = undefined;
    for (const j of k.joined) this.joiners.delete(j);
    const now = this.ctx.now();
    for (const _ of k.joined) this.admittedAt.push(now);
    const targets = new Set([...k.members, ...k.participants, ...k.failed]);
    targets.delete(this.self);
    for (const t of targets) this.send(t, install);
    this.send(this.self, install);
  }

  /**
   * Give up the attempt we coordinate, for good: it will never be installed, so participants
   * that answered FlushOk are released and may answer another coordinator.
   */
  private dropCoordination(): void {
    const k = this.coord;
    if (!k) return;
    this.coord = undefined;
    this.ctx.clearTimer('flushTimeout');
    for (const p of k.participants) this.send(p, [GmsKind.Abandon, k.newViewId, k.attempt]);
  }

  private flushTimeout(): void {
    const k = this.coord;
    if (!k || !this.view) return;
    const now = this.ctx.now();
    // Local-stall rule: if this member itself was not running (paused, a long synchronous burst)
    // around the deadline, the answers may be sitting unread in its own queue. Read them first:
    // put the judgement off by a heartbeat period, a bounded number of times.
    const stalled = now - k.deadline > this.o.heartbeatMs / 2 || now - this.lastStall <= this.o.heartbeatMs;
    if (stalled && k.deferrals < MAX_FLUSH_DEFERRALS) {
      k.deferrals++;
      k.deadline = now + this.o.heartbeatMs;
      this.c.flushDeferred++;
      this.ctx.setTimer('flushTimeout', this.o.heartbeatMs);
      return;
    }
    // Participants that did not answer in time are treated as failed; try again without them.
    const waiting = k.synced ? k.oks : new Set(k.digests.keys());
    this.ctx.trace(
      () =>
        `flush ${k.newViewId}/${k.attempt} timed out waiting for ${k.participants.filter((p) => !waiting.has(p)).join(',')}`,
    );
    for (const p of k.participants)
      if (!waiting.has(p) && p !== this.self) this.suspect(p, this.o.suspectMs, true);
    if (this.state !== 'member') return;
    this.dropCoordination();
    this.startFlush();
  }

  // ---------------------------------------------------------------- flush: participant side

  private onPrepare(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 5);
    const newViewId = headerUint(h[1], 'gms', 'viewId');
    const attempt = headerUint(h[2], 'gms', 'attempt');
    const members = headerTuple(h[3], 'gms', 0).map((m) => headerString(m, 'gms', 'member'));
    headerTuple(h[4], 'gms', 0);
    if (!this.view || newViewId !== this.view.id + 1 || this.rank(from) < 0) return;
    this.highestAttempt = Math.max(this.highestAttempt, attempt);
    const f = this.flush;
    // An abandoned attempt binds nobody: any coordinator's Prepare replaces it, whatever its key.
    if (f && !f.abandoned) {
      const key = this.attemptKey(attempt, from);
      const cur = this.attemptKey(f.attempt, f.coord);
      if (key < cur) return;
      // Having promised a coordinator that we are done, switch only if it is gone (we suspect it,
      // or the new coordinator's proposal leaves it out).
      const gone = this.suspected.has(f.coord) || !members.includes(f.coord);
      if (key > cur && f.okSent && f.coord !== from && f.coord !== this.self && !gone) return;
    }
    if (!f || f.coord !== from || f.attempt !== attempt) {
      this.ctx.trace(() => `take prepare ${newViewId}/${attempt} from ${from}`);
      if (!f) this.ctx.passUp({ type: 'block' });
      const promised =
        f?.okSent && f.cut && !f.abandoned ? { coord: f.coord, attempt: f.attempt, cut: f.cut } : f?.promised;
      this.flush = {
        newViewId,
        attempt,
        coord: from,
        cut: undefined,
        okSent: false,
        since: this.ctx.now(),
        ...(promised ? { promised } : {}),
      };
    }
    if (from !== this.self) {
      // Someone else leads this view change with a stronger attempt: it is alive, and we stop
      // competing (two coordinators outbidding each other would never finish).
      this.suspected.delete(from);
      this.suspectedAt.delete(from);
      this.dropCoordination();
    }
    this.flushDigestSent = true;
    // Our own casts count as held even before their loop-back arrives: they are ours to serve.
    const entries = this.view.members.map((s) => [
      s,
      s === this.self ? Math.max(this.vseq, this.contiguous(s) + 1) : this.contiguous(s) + 1,
    ]);
    this.send(from, [GmsKind.Digest, newViewId, attempt, entries, this.lastOwnNakSeq + 1]);
  }

  private onSync(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 4);
    const newViewId = headerUint(h[1], 'gms', 'viewId');
    const attempt = headerUint(h[2], 'gms', 'attempt');
    const entries = headerTuple(h[3], 'gms', 0);
    const f = this.flush;
    if (!f || f.newViewId !== newViewId || f.attempt !== attempt || f.coord !== from || !this.view) return;
    const cut = new Map<MemberId, number>();
    const holders = new Map<MemberId, MemberId>();
    for (const e of entries) {
      const t = headerTuple(e, 'gms', 3);
      const s = headerString(t[0], 'gms', 'sender');
      cut.set(s, headerUint(t[1], 'gms', 'cut') - 1);
      holders.set(s, headerString(t[2], 'gms', 'holder'));
    }
    f.cut = cut;
    f.holders = holders;
    this.fetchMissing();
    for (const [s, l] of this.logs) this.drainLog(s, l);
    this.checkFlushDone();
  }

  /** Ask each holder for what we miss of the cut. Repeated from the fd tick until FlushOk: a
   * Fetch (or its Forwards) lost with a broken link is not left to the flush timeout. */
  private fetchMissing(): void {
    const f = this.flush;
    if (!f?.cut || !f.holders || !this.view) return;
    f.fetchedAt = this.ctx.now();
    for (const [s, c] of f.cut) {
      const holder = f.holders.get(s);
      const have = this.contiguous(s);
      if (have < c && holder !== undefined && holder !== this.self)
        this.send(holder, [GmsKind.Fetch, this.view.id, this.epoch, s, have + 1, c]);
    }
  }

  private onFetch(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 6);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    const epoch = headerUint(h[2], 'gms', 'epoch');
    const s = headerString(h[3], 'gms', 'sender');
    const lo = headerUint(h[4], 'gms', 'from');
    const hi = headerUint(h[5], 'gms', 'to');
    if (!this.view || viewId !== this.view.id || epoch !== this.epoch || this.rank(from) < 0) return;
    const l = this.logs.get(s);
    if (!l) return;
    for (let k = lo; k <= hi && k - lo < 100_000; k++) {
      const e = l.held.get(k);
      if (!e) continue;
      this.c.forwards++;
      this.send(from, [GmsKind.Forward, viewId, epoch, s, k], e.msg);
    }
  }

  private onForward(from: MemberId, h: unknown[], msg: Msg): void {
    headerTuple(h, 'gms', 5);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    const epoch = headerUint(h[2], 'gms', 'epoch');
    const s = headerString(h[3], 'gms', 'sender');
    const vseq = headerUint(h[4], 'gms', 'vseq');
    if (
      !this.view ||
      viewId !== this.view.id ||
      epoch !== this.epoch ||
      this.rank(from) < 0 ||
      this.rank(s) < 0
    )
      return;
    this.accept(s, vseq, msg, undefined);
  }

  private checkFlushDone(): void {
    const f = this.flush;
    // An abandoned attempt gets no FlushOk, even when a message held past its cut makes it look
    // complete again: that would commit us to it and refuse the attempt that replaces it.
    if (!f?.cut || f.okSent || f.abandoned || !this.view) return;
    for (const [s, c] of f.cut) if ((this.logs.get(s)?.next ?? 0) <= c) return;
    f.okSent = true;
    this.send(f.coord, [GmsKind.FlushOk, f.newViewId, f.attempt]);
  }

  // ---------------------------------------------------------------- install

  private onInstall(from: MemberId, h: unknown[]): void {
    headerTuple(h, 'gms', 10);
    const newViewId = headerUint(h[1], 'gms', 'viewId');
    const attempt = headerUint(h[2], 'gms', 'attempt');
    const epoch = headerUint(h[9], 'gms', 'epoch');
    const strings = (v: unknown, what: string) =>
      headerTuple(v, 'gms', 0).map((m) => headerString(m, 'gms', what));
    const members = strings(h[3], 'member');
    const addresses = strings(h[4], 'address');
    const joined = strings(h[5], 'member');
    const left = strings(h[6], 'member');
    const failed = strings(h[7], 'member');
    const nakNext = headerTuple(h[8], 'gms', 0).map((e) => {
      const t = headerTuple(e, 'gms', 2);
      return [headerString(t[0], 'gms', 'member'), headerUint(t[1], 'gms', 'seq')] as const;
    });
    if (members.length !== addresses.length || members.length === 0)
      throw new DecodeError('DECODE_BAD_SHAPE', 'gms: install members and addresses differ');
    if (this.state === 'joining') {
      if (!members.includes(this.self)) return;
      // Bound to a founder: only a view from it (its founding view, or a later one admitting us
      // as a joiner), else the founder may count us in a group we are not in.
      if (this.tentative && from !== this.tentative.founder) return;
      for (const [m, seq] of nakNext) this.ctx.passDown({ type: 'expect', member: m, seq });
      this.install(newViewId, epoch, members, addresses, { previousId: undefined, joined, left, failed }, []);
      return;
    }
    if (!this.view || newViewId !== this.view.id + 1 || this.rank(from) < 0) return;
    const f = this.flush;
    // Only the next view's coordinator installs it: the coordinator of the flush we answered, or
    // a member that every member ranked before it in our view is leaving the view to.
    const ours =
      (f !== undefined && f.coord === from && f.attempt === attempt) ||
      (f?.promised?.coord === from && f.promised.attempt === attempt);
    const before = this.view.members.slice(0, this.rank(from));
    if (!ours && before.some((m) => members.includes(m))) {
      this.c.refused++;
      return;
    }
    if (!members.includes(this.self)) {
      this.finish(
        this.leaving ? 'left' : 'partitioned',
        this.leaving ? '' : `excluded from view ${newViewId}`,
      );
      return;
    }
    // Only the install of the flush we completed: another attempt's cut may differ from ours.
    // Or of one we completed and then left: its coordinator counted our FlushOk and installed,
    // so we keep the promise if we delivered nothing past its cut since (FlushOk switch).
    const ours2 = f !== undefined && f.attempt === attempt && f.coord === from && f.okSent;
    const p = f?.promised;
    const kept =
      !ours2 &&
      p !== undefined &&
      p.coord === from &&
      p.attempt === attempt &&
      [...this.logs].every(([s, l]) => l.next - 1 <= (p.cut.get(s) ?? -1));
    if (!ours2 && !kept) return;
    if (kept) this.c.promisesKept++;
    const departed = this.view.members.filter((m) => !members.includes(m));
    this.install(
      newViewId,
      epoch,
      members,
      addresses,
      { previousId: this.view.id, joined, left, failed },
      departed,
    );
  }

  private install(
    id: number,
    epoch: number,
    members: MemberId[],
    addresses: string[],
    delta: ViewDelta,
    departed: MemberId[],
  ): void {
    this.view = { id, members, addresses, epoch };
    this.epoch = epoch;
    this.vseq = 0;
    this.logs = new Map();
    this.flush = undefined;
    this.flushDigestSent = false;
    this.coord = undefined;
    this.suspected = new Set();
    this.suspectedAt = new Map();
    this.opinions = new Map();
    this.forced = new Set();
    this.reportedAt = new Map();
    this.stuck = new Set();
    this.demanded = new Set();
    this.behindSince = undefined;
    this.aheadFrom = new Set();
    this.ctx.clearTimer('behind');
    this.ctx.clearTimer('flushTimeout');
    for (const m of departed) {
      this.leavers.delete(m);
      this.lastHeard.delete(m);
      this.joiners.delete(m);
    }
    // A record of someone now a member is spent: kept, it could re-add the member after it left.
    for (const m of members) this.joiners.delete(m);
    const now = this.ctx.now();
    for (const m of members) this.lastHeard.set(m, now);
    this.lastFd = now;
    this.state = 'member';
    this.c.views++;
    this.ctx.clearTimer('join');
    this.ctx.trace(() => `install view ${id} [${members.join(',')}]`);
    this.ctx.passDown({ type: 'view', view: this.view });
    for (const m of departed) this.ctx.passDown({ type: 'forget', member: m });
    this.ctx.passUp({ type: 'view', view: this.view, delta });
    this.ctx.setTimer('fd', this.o.heartbeatMs);
    if (!this.leaving) {
      const queued = this.blocked;
      this.blocked = [];
      for (const b of queued) this.castData(b.msg, b.qos);
    } else {
      this.leaveSent = undefined;
      this.leavers.add(this.self);
      this.askToLeave();
    }
    const early = this.future;
    this.future = [];
    this.futureBytes = 0;
    this.futureStrangerBytes = 0;
    for (const f of early) {
      if (this.state !== 'member') return;
      if (f.kind === GmsKind.Data) this.onData(f.from, f.h, f.msg, f.nakSeq);
      else this.onViewTagged(f.kind, f.from, f.h, f.msg, f.cast);
    }
    // Membership changes that arrived during the flush start the next one.
    if (this.coordinator() === this.self && (this.joiners.size > 0 || this.leavers.size > 0))
      this.scheduleFlush();
  }

  // ---------------------------------------------------------------- timers

  timer(key: string): void {
    switch (key) {
      case 'join':
        this.joinTimer();
        return;
      case 'fd':
        this.fdTimer();
        return;
      case 'flushStart':
        if (this.coord) {
          // A participant failed mid-flush: start over without it. Joins wait for the install.
          if (this.coord.participants.some((p) => this.failedNow(p))) {
            this.dropCoordination();
            this.startFlush();
          }
          return;
        }
        // Take over a flush whose coordinator we suspect or rank above (it no longer leads).
        if (
          !this.flush ||
          this.flush.coord === this.self ||
          this.suspected.has(this.flush.coord) ||
          this.rank(this.flush.coord) > this.rank(this.self)
        )
          this.startFlush();
        return;
      case 'flushTimeout':
        this.flushTimeout();
        return;
      case 'leave':
        if (this.leaving) this.finish('left');
        return;
      case 'behind':
        if (this.behindSince !== undefined && this.state === 'member')
          this.finish('partitioned', 'the group moved to a view without this member');
        return;
    }
  }

  stats(): Record<string, number> {
    let held = 0;
    for (const l of this.logs.values()) held += l.held.size;
    return { ...this.c, held, future: this.future.length, viewId: this.view?.id ?? 0 };
  }
}

export const gms: LayerFactory<GmsOptions> = {
  name: 'gms',
  provides: ['membership', 'virtual-synchrony'],
  requires: ['reliable', 'fifo'],
  create: (ctx, o) => {
    const seeds = o.seeds ?? [];
    const address = o.address ?? '';
    if (!Array.isArray(seeds) || seeds.some((s) => typeof s !== 'string'))
      throw new StackConfigError('STACK_BAD_OPTION', 'gms option seeds must be a list of addresses');
    const opts: GmsOptions = { ...DEFAULTS, ...o, seeds, address };
    requirePositive('gms', opts, Object.keys(DEFAULTS));
    if (opts.partitionMs <= opts.suspectMs)
      throw new StackConfigError('STACK_BAD_OPTION', 'gms option partitionMs must exceed suspectMs');
    return new Gms(ctx, opts);
  },
};
