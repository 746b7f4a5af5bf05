import { createHmac } from 'node:crypto';
import type { MemberId } from '../../stack/member.js';
import {
  abandonHeader,
  type DigestHeader,
  digestHeader,
  flushOkHeader,
  type HeartbeatHeader,
  hereHeader,
  type InstallHeader,
  installHeader,
  joinHeader,
  leaveHeader,
  pingHeader,
  prepareHeader,
  type SyncEnd,
  syncHeader,
} from './codec.js';
import { type GmsShared, MAX_ATTEMPT_LEAD } from './state.js';

/** A flush this member coordinates. */
export interface Coordination {
  newViewId: number;
  attempt: number;
  /** The new view's epoch: this attempt ranked by our rank in the old view (unique per view id). */
  epoch: number;
  members: MemberId[];
  addresses: string[];
  participants: MemberId[];
  joined: MemberId[];
  /** Where the joiners' cast streams begin, as their proving Joins said (the Install's join
   * points for them; a joiner of an earlier release gives none). */
  joinedAt: (readonly [MemberId, number])[];
  left: MemberId[];
  failed: MemberId[];
  digests: Map<
    MemberId,
    { last: Map<MemberId, number>; nakNext: number; promised?: DigestHeader['promised'] }
  >;
  oks: Set<MemberId>;
  /** The Install this attempt sends, fixed at the Sync (set once synced): its own view, or an
   * adopted promise's. */
  install?: InstallHeader;
  /** The Sync as sent (set with `install`), to send again to a participant that has not answered. */
  sync?: unknown[];
  /** When this step's messages last went to the participants that have not answered it. */
  sentAt: number;
  /** When `flushTimeout` is due; how often it was put off because this member had stalled. */
  deadline: number;
  deferrals: number;
  /** `detector.stoppedFor` when this step's time last started: how long we were stopped since. */
  stoppedAt: number;
}

/** How many times a coordinator that stalled puts off judging a flush step (local-stall rule). */
const MAX_FLUSH_DEFERRALS = 3;

/**
 * The coordinator role: what the lowest-ranked member not suspected does. It admits joiners
 * (bounded in number and rate), takes leaves, failures and stuck reports, and drives the flush:
 * Prepare, the Digests, the Sync with the cut, the FlushOks, then the Install; a participant
 * that does not answer in time is excluded and the flush starts over. Any member may take the
 * role when the one before it is suspected, so every member has one, idle unless `coord` is set.
 */
export class Coordinator {
  /** The flush this member runs now, if any. */
  coord: Coordination | undefined;
  /** Joiners asking the coordinator: address, when their Join was last heard, and where their
   * cast stream begins (their Joins' `origin`, if given). */
  readonly joiners = new Map<MemberId, { address: string; at: number; origin?: number | undefined }>();
  /** When joiners were admitted lately (for `maxJoinRate`). */
  private admittedAt: number[] = [];
  /** Keys the join nonces (see `nonce`). */
  private secret: string | undefined;
  readonly leavers = new Set<MemberId>();
  /** Members that answered a stuck probe: blocked in an orphaned flush (coordinator: drive one). */
  stuck = new Set<MemberId>();
  /**
   * Stuck probes out: per member whose heartbeat said it is stuck, the nonce of the Ping sent to
   * it and when. Only its Pong (numbered, on its stream to us) confirms the claim (FINDINGS 232).
   */
  private probes = new Map<MemberId, { nonce: number; at: number }>();
  /** When the current view's Install was last sent again to each member (see resendInstall). */
  private resentAt = new Map<MemberId, number>();
  /** Participants a flush timeout of this view change spared once (see flushTimeout). */
  private spared = new Set<MemberId>();
  /** When the armed `flushStart` timer fires (see scheduleFlush); a time past means none is. */
  private flushStartDue: number | undefined;

  constructor(private readonly s: GmsShared) {}

  /** A new view: the flush that made it is over, and so is what its members reported. */
  newView(members: MemberId[], departed: MemberId[]): void {
    this.coord = undefined;
    this.stuck = new Set();
    this.probes = new Map();
    this.resentAt = new Map();
    this.spared = new Set();
    for (const m of departed) {
      this.leavers.delete(m);
      this.joiners.delete(m);
    }
    // A record of someone now a member is spent: kept, it could re-add the member after it left.
    for (const m of members) this.joiners.delete(m);
  }

  /**
   * A Join heard by a member: the coordinator records the joiner, the others point it there.
   * The coordinator records (or refreshes) a joiner only when its Join echoes the nonce this
   * coordinator sends to the joiner's address in `Here`: anyone can invent ids and put them in
   * Joins, but only an endpoint that receives at the address can answer, so invented joiners
   * never reach a view (docs/protocol.md, "Joining a running group").
   */
  onJoin(from: MemberId, address: string, h: unknown[]): void {
    const s = this.s;
    if (s.state !== 'member' || !s.view) return;
    const c = s.coordinatorId();
    // Every Here echoes the Join's challenge: the joiner then knows this address receives its
    // Joins, which a forger sending beacons from afar does not show (GroupWord.credit).
    const { nonce, challenge: echo, origin } = joinHeader.decode(h);
    if (s.rank(from) >= 0) {
      // A member of our view still joining: it takes a running group's Install only from a
      // sender whose Here proved its address (FINDINGS 215), and the Here it had may be only the
      // coordinator's, which may be gone. A Here echoing its challenge proves ours, so the
      // Install we resend (now or at its next Join) is taken (FINDINGS 258). No nonce: it is
      // already admitted. Not in a founding view: its members are founders, bound to the
      // founder, and take its view from any of them (FoundingVote.ofFoundersGroup).
      if (echo !== '' && s.view.id > 1) {
        const ca = c ? (s.view.addresses[s.rank(c)] ?? '') : '';
        s.probe(
          address,
          hereHeader.encode({ viewId: s.view.id, coordinator: c ?? '', address: ca, nonce: '', echo }),
        );
      }
      this.resendInstall(from);
      return;
    }
    if (c === s.self) {
      // Only a Join that echoes the nonce sent to its address is the joiner's own: its origin is
      // then what the Install gives every member as the joiner's join point (FINDINGS 215).
      if (nonce !== '' && this.nonceValid(from, address, nonce)) this.record(from, address, origin);
      else if (nonce !== '') s.c.joinsUnproven++;
      // Tell it a group exists, as the other members do: a joiner that hears none may found a
      // second group (a restarted member remembers nothing), and with a fan-out transport the
      // coordinator may be the only member it reaches. The nonce goes to the address only.
      const here = { viewId: s.view.id, coordinator: c, address: s.o.address, echo };
      s.probe(address, hereHeader.encode({ ...here, nonce: this.nonce(from, address, 0) }));
    } else if (c) {
      const ca = s.view.addresses[s.rank(c)] ?? '';
      s.probe(
        address,
        hereHeader.encode({ viewId: s.view.id, coordinator: c, address: ca, nonce: '', echo }),
      );
    }
  }

  /**
   * A Join from a member of our view: a late retry, or a member whose Install was lost and who
   * is still joining (the coordinator sends the Install once). Left so, it counts as a member
   * towards every majority but never heartbeats, so a split that leaves it with a minority of
   * the others stops a side that holds a majority of the view. Any member sends it the Install
   * of the view again, as a late copy of the lost one (the same view, cut and epoch), to its
   * address in the view, not to the Join's source: a forged Join costs one datagram to a member.
   * At most once per `joinRetryMs` per member, as often as a true joiner retries.
   */
  resendInstall(to: MemberId): void {
    const s = this.s;
    const m = s.installed;
    if (!m || !s.view || m.newViewId !== s.view.id || m.epoch !== s.view.epoch || to === s.self) return;
    const now = s.ctx.now();
    const last = this.resentAt.get(to);
    if (last !== undefined && now - last < s.o.joinRetryMs) return;
    this.resentAt.set(to, now);
    s.c.installsResent++;
    s.ctx.trace(() => `resend install of view ${m.newViewId} to ${to}`);
    s.send(to, installHeader.encode(m));
  }

  /** A joiner that proved its address: a record (bounded), or a retry that keeps it fresh. */
  private record(from: MemberId, address: string, origin: number | undefined): void {
    const s = this.s;
    const known = this.joiners.get(from);
    if (known) {
      known.at = s.ctx.now(); // a retry: it is still alive
      known.address = address;
      known.origin = origin;
      return;
    }
    // One pending joiner per address: a newer id there is a restarted process (the older one
    // is dead), and one endpoint cannot stand for many joiners.
    for (const [j, r] of this.joiners) if (r.address === address) this.joiners.delete(j);
    const size = (s.view?.members.length ?? 0) + this.joiners.size;
    if (this.joiners.size >= s.o.maxJoiners || size >= s.o.maxMembers) {
      s.c.joinsRefused++;
      return;
    }
    this.joiners.set(from, { address, at: s.ctx.now(), origin });
    this.scheduleFlush();
  }

  /**
   * The nonce for `joiner` at `address`, `back` periods ago: a keyed hash, so nothing is kept
   * per Join (a forger cannot fill memory with challenges), and it changes every period, so a
   * nonce seen once does not admit that id at that address for ever. Keyed by `joinSecret`, or
   * a secret drawn from the member's random source when first needed.
   */
  private nonce(joiner: MemberId, address: string, back: number): string {
    this.secret ??=
      this.s.o.joinSecret ??
      Array.from({ length: 4 }, () =>
        Math.floor(this.s.ctx.random() * 0x1_0000_0000)
          .toString(16)
          .padStart(8, '0'),
      ).join('');
    const period = Math.floor(this.s.ctx.now() / this.noncePeriodMs()) - back;
    return createHmac('sha256', this.secret)
      .update(`${period}|${joiner}|${address}`)
      .digest('hex')
      .slice(0, 16);
  }

  /** Whether `nonce` is this period's or the last one's for the joiner at that address. */
  private nonceValid(joiner: MemberId, address: string, nonce: string): boolean {
    return nonce === this.nonce(joiner, address, 0) || nonce === this.nonce(joiner, address, 1);
  }

  /** A nonce lasts one to two of these: several Join retries, so a joiner always gets one in. */
  private noncePeriodMs(): number {
    return 2 * this.joinFreshMs();
  }

  onHeartbeat(from: MemberId, hb: HeartbeatHeader): void {
    const s = this.s;
    // Attempts climb one at a time: one far above every attempt we know is invented (a member
    // gone wrong, or a forger where there is no key). Taken whole it would push every later key
    // past 2^53 (no flush would ever decode again); we follow it at most MAX_ATTEMPT_LEAD.
    if (!s.plausibleAttempt(Math.floor(hb.highestKey / 4096))) {
      s.highestAttempt += MAX_ATTEMPT_LEAD;
      return;
    }
    s.highestAttempt = Math.max(s.highestAttempt, Math.floor(hb.highestKey / 4096));
    // A participant that has not answered our Prepare, or our Sync, took a higher ballot (ballots
    // only go up at a participant): it never will. Start over above it rather than wait for the
    // flush timeout, which would exclude it (at the Sync step too: it sent its Digest, then took
    // another coordinator's ballot; session 22's class G.4). Keys, not attempt numbers: an equal
    // attempt of a lower-ranked coordinator outranks ours.
    const k = this.coord;
    if (
      k &&
      hb.highestKey > s.attemptKey(k.attempt, s.self) &&
      k.participants.includes(from) &&
      (!k.digests.has(from) || (k.sync !== undefined && !k.oks.has(from)))
    ) {
      s.c.flushOutbid++;
      s.ctx.trace(() => `${from} took ballot ${hb.highestKey}: restart above it`);
      this.drop();
      this.startFlush();
      return;
    }
    if (!hb.stuck || this.coord || s.coordinatorId() !== s.self || this.stuck.has(from) || !s.view) return;
    // A member says it is blocked in a flush nobody drives (its coordinator abandoned it, or lost
    // the lead, or it arrived stale after a heal): only a view change unblocks it. A heartbeat is
    // an unnumbered datagram, which without a key anyone may send from the member's address: each
    // one forged with `stuck` set made the coordinator run a whole view change (FINDINGS 232). So
    // the member is asked first, on its own stream (a Ping with a nonce of ours, at most every
    // 2 × heartbeatMs), and only its Pong saying it is stuck counts (`confirmStuck`).
    const now = s.ctx.now();
    const out = this.probes.get(from);
    if (out && now - out.at < 2 * s.o.heartbeatMs) return;
    const nonce = Math.floor(s.ctx.random() * 0x1_0000_0000) >>> 0;
    this.probes.set(from, { nonce, at: now });
    s.c.stuckProbes++;
    s.send(from, pingHeader.encode({ viewId: s.view.id, epoch: s.epoch, nonce }));
  }

  /** A Pong of a stuck probe (see `onHeartbeat`); false when it answers none. */
  onProbePong(from: MemberId, nonce: number, stuck: boolean): boolean {
    const s = this.s;
    const out = this.probes.get(from);
    if (!out || out.nonce !== nonce) return false;
    this.probes.delete(from);
    if (!stuck || this.coord || s.coordinatorId() !== s.self) return true;
    if (!this.stuck.has(from)) s.c.stuckReports++;
    this.stuck.add(from);
    if (s.hasMajority()) this.scheduleFlush();
    return true;
  }

  onLeave(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { viewId } = leaveHeader.decode(h);
    if (!s.view || viewId !== s.view.id || s.rank(from) < 0) return;
    this.leavers.add(from);
    if (s.coordinatorId() === s.self) this.scheduleFlush();
  }

  /**
   * The joiners the next view admits: only those heard within `joinFreshMs` (a joiner retries its
   * Join every `joinRetryMs` until it is in: a silent one is dead or forged), at most
   * max(1, ⌊(stay − 1) / 2⌋) of them, so the members that stay keep a strict majority of the new
   * view even if every joiner is dead or invented, and within `maxJoinRate` per second.
   */
  private admissible(stay: number): MemberId[] {
    const now = this.s.ctx.now();
    this.admittedAt = this.admittedAt.filter((t) => now - t < 1_000);
    const room = Math.min(
      Math.max(1, Math.floor((stay - 1) / 2)),
      this.s.o.maxJoinRate - this.admittedAt.length,
    );
    const out: MemberId[] = [];
    for (const [j, r] of this.joiners) {
      if (out.length >= room) break;
      if (now - r.at <= this.joinFreshMs() && this.s.rank(j) < 0) out.push(j);
    }
    return out;
  }

  /** How long a joiner's last Join counts: a few of its retries, and never less than `suspectMs`. */
  private joinFreshMs(): number {
    return Math.max(this.s.o.suspectMs, 3 * this.s.o.joinRetryMs);
  }

  /** Forget joiners not heard within `joinFreshMs`: they died, gave up, or never existed. */
  expireJoiners(now: number): void {
    for (const [j, r] of this.joiners) if (now - r.at > this.joinFreshMs()) this.joiners.delete(j);
  }

  /**
   * Start a flush once the membership events of the next `batchMs` are in. A batch already
   * open takes this event too: re-arming the timer on every event would put the flush off for
   * as long as events come faster than `batchMs`, and the `fd` tick asks for one every
   * heartbeat while a joiner waits (with `heartbeatMs` ≤ `batchMs`, no joiner was ever admitted).
   */
  scheduleFlush(): void {
    const now = this.s.ctx.now();
    if (this.flushStartDue !== undefined && this.flushStartDue >= now) return;
    this.flushStartDue = now + this.s.o.batchMs;
    this.s.ctx.setTimer('flushStart', this.s.o.batchMs);
  }

  /** The `flushStart` timer: membership events of the last `batchMs` are in. */
  flushStartTimer(): void {
    const s = this.s;
    this.flushStartDue = undefined;
    if (this.coord) {
      // A participant failed mid-flush: start over without it. Joins wait for the install.
      if (this.coord.participants.some((p) => s.detector.failedNow(p))) {
        this.drop();
        this.startFlush();
      }
      return;
    }
    // Take over a flush whose coordinator we suspect or rank above (it no longer leads).
    const f = s.participant.flush;
    if (!f || f.coord === s.self || s.suspected.has(f.coord) || s.rank(f.coord) > s.rank(s.self))
      this.startFlush();
  }

  private startFlush(): void {
    const s = this.s;
    if (s.state !== 'member' || !s.view || s.coordinatorId() !== s.self) return;
    const v = s.view;
    const failed = v.members.filter((m) => s.detector.failedNow(m));
    let left = v.members.filter((m) => this.leavers.has(m) && !failed.includes(m));
    let stay = v.members.filter((m) => !failed.includes(m) && !this.leavers.has(m));
    if (stay.length === 0 && left.includes(s.self)) {
      // Everyone leaves at once (a whole service stopped): a view needs a member, so we stay,
      // alone, and leave right after as the last one out. Before, no view could be installed
      // and every member waited out its leave timer (3 × suspectMs, 3 s by default).
      left = left.filter((m) => m !== s.self);
      stay = [s.self];
    }
    const joined = this.admissible(stay.length);
    // Nothing changed and nobody is blocked in a flush: no view change needed.
    if (
      failed.length === 0 &&
      left.length === 0 &&
      joined.length === 0 &&
      !s.participant.flush &&
      this.stuck.size === 0
    )
      return;
    if (!s.hasMajority()) return; // see FailureDetector.suspect: wait for them or for partitionMs
    // Others' opinions can fail members we do not suspect: the participants themselves must be
    // a strict majority of the view, or a minority could move on (primary partition).
    if ((stay.length + left.length) * 2 <= v.members.length) return;
    const attempt = Math.max(s.highestAttempt, this.coord?.attempt ?? 0) + 1;
    s.highestAttempt = attempt;
    s.highestKey = Math.max(s.highestKey, s.attemptKey(attempt, s.self));
    const members = [...stay, ...joined];
    const addresses = [
      ...stay.map((m) => v.addresses[s.rank(m)] ?? ''),
      ...joined.map((j) => this.joiners.get(j)?.address ?? ''),
    ];
    this.coord = {
      newViewId: v.id + 1,
      attempt,
      epoch: s.attemptKey(attempt, s.self),
      members,
      addresses,
      participants: [...stay, ...left],
      joined,
      joinedAt: joined.flatMap((j) => {
        const origin = this.joiners.get(j)?.origin;
        return origin === undefined ? [] : [[j, origin] as const];
      }),
      left,
      failed,
      digests: new Map(),
      oks: new Set(),
      deadline: s.ctx.now() + s.o.suspectMs,
      deferrals: 0,
      stoppedAt: s.detector.stoppedFor(s.ctx.now()),
      sentAt: s.ctx.now(),
    };
    s.c.flushes++;
    s.ctx.trace(() => `flush ${v.id + 1}/${attempt} members ${members.join(',')} failed ${failed.join(',')}`);
    for (const p of this.coord.participants)
      s.send(p, prepareHeader.encode({ newViewId: v.id + 1, attempt, members, addresses }));
    s.ctx.setTimer('flushTimeout', s.o.suspectMs);
  }

  onDigest(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { newViewId, attempt, held, nakNext, promised } = digestHeader.decode(h);
    const last = new Map<MemberId, number>();
    for (const [sender, count] of held) last.set(sender, count - 1);
    const k = this.coord;
    if (!k || k.newViewId !== newViewId || k.attempt !== attempt || !k.participants.includes(from)) return;
    k.digests.set(from, { last, nakNext, ...(promised ? { promised } : {}) });
    if (k.digests.size < k.participants.length || k.install) return;
    // The old view ends, per sender, at the furthest any survivor got; one who has it serves the rest.
    // Unless a participant still stands by a FlushOk to another attempt: that attempt's coordinator
    // may install it, so ours ends view 1 exactly where it does (the highest-keyed promise, as a
    // Paxos proposer adopts the highest accepted value), and both installs deliver the same.
    const promise = this.adoptedPromise();
    const adopted = promise?.cut;
    // Its coordinator too: staying would restart this attempt forever.
    if (adopted && s.participant.stepDownPast(adopted, newViewId - 1)) return;
    const ends: SyncEnd[] = [];
    for (const sender of s.view!.members) {
      let best = -1;
      let holder: MemberId = s.self;
      for (const [p, d] of k.digests) {
        const got = d.last.get(sender) ?? -1;
        // On equal counts, another participant rather than the sender: a sender that crashed right
        // after its Digest would be the only one asked for its tail, and those missing it never
        // answered the Sync (session 22's class G.2).
        if (got > best || (got === best && holder === sender && p !== sender)) {
          best = got;
          holder = p;
        }
      }
      // The promiser delivered up to the promised cut, so the furthest holder holds it too.
      const end = adopted ? (adopted.get(sender) ?? -1) : best;
      ends.push({ sender, count: end + 1, holder }); // as a count: -1 cannot travel as an unsigned header
    }
    // The value, not only the cut: the promised attempt may have installed its view, so ours
    // installs that same view (members, epoch, nakNext), whoever is in it, even without us. Only
    // then is there one view after the old one: two views of one id with different members (the
    // later epoch winning and the other lineage's committed work discarded) split the group.
    k.install = promise?.install ?? {
      newViewId,
      attempt,
      members: k.members,
      addresses: k.addresses,
      joined: k.joined,
      left: k.left,
      failed: k.failed,
      nakNext: [...[...k.digests].map(([m, d]) => [m, d.nakNext] as const), ...k.joinedAt],
      epoch: k.epoch,
    };
    if (promise) s.c.valuesAdopted++;
    // The FlushOks get suspectMs of their own from the Sync, as the Digests had from the Prepare:
    // a Sync sent near the attempt's deadline (a slow participant's Digest, our own stall) left
    // the others no time, and one lost FlushOk excluded a healthy member.
    k.deadline = s.ctx.now() + s.o.suspectMs;
    k.stoppedAt = s.detector.stoppedFor(s.ctx.now());
    s.ctx.setTimer('flushTimeout', s.o.suspectMs);
    k.sync = syncHeader.encode({ newViewId, attempt, ends, install: k.install });
    k.sentAt = s.ctx.now();
    for (const p of k.participants) s.send(p, k.sync);
  }

  /**
   * The `fd` tick while coordinating: every 2 × `heartbeatMs`, send the current step again to the
   * participants that have not answered it (the Prepare before the Sync, the Sync after). A step
   * message lost last on our stream to a participant is otherwise learnt only from nak's session
   * announcements, which back off to a second: over a lossy link of ours they can all be lost
   * within the flush timeout, which then excludes the healthy participant for our own loss. A
   * participant answers a repeated Prepare with its Digest, a repeated Sync with its FlushOk.
   */
  resendStep(now: number): void {
    const s = this.s;
    const k = this.coord;
    if (!k || !s.view || now - k.sentAt < 2 * s.o.heartbeatMs) return;
    k.sentAt = now;
    const { newViewId, attempt, members, addresses } = k;
    for (const p of k.participants) {
      if (p === s.self) continue;
      if (!k.sync) {
        if (!k.digests.has(p)) s.send(p, prepareHeader.encode({ newViewId, attempt, members, addresses }));
        else continue;
      } else if (!k.oks.has(p)) s.send(p, k.sync);
      else continue;
      s.c.flushResent++;
    }
  }

  /** The highest-keyed promise reported in the digests: its cut (last vseq per sender) and Install. */
  private adoptedPromise(): { cut: Map<MemberId, number>; install: InstallHeader } | undefined {
    const k = this.coord;
    if (!k) return undefined;
    let best: { key: number; cut: Map<MemberId, number>; install: InstallHeader } | undefined;
    for (const d of k.digests.values()) {
      const p = d.promised;
      if (!p) continue;
      if (best && p.key <= best.key) continue;
      best = { key: p.key, cut: new Map(p.cut.map(([m, c]) => [m, c - 1])), install: p.install };
    }
    if (best)
      this.s.ctx.trace(
        () =>
          `adopt promise of key ${best.key}: view ${best.install.newViewId}.${best.install.epoch} [${best.install.members.join(',')}]`,
      );
    return best;
  }

  onFlushOk(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { newViewId, attempt } = flushOkHeader.decode(h);
    const k = this.coord;
    if (!k || k.newViewId !== newViewId || k.attempt !== attempt || !k.participants.includes(from)) return;
    k.oks.add(from);
    if (k.oks.size < k.participants.length || !k.install) return;
    const v = k.install;
    const install = installHeader.encode(v);
    s.ctx.clearTimer('flushTimeout');
    this.coord = undefined;
    for (const j of v.joined) this.joiners.delete(j);
    const now = s.ctx.now();
    for (const _ of v.joined) this.admittedAt.push(now);
    // Our participants too when the view is an adopted one without them: they learn they are out.
    const targets = new Set([...v.members, ...k.participants, ...v.failed, ...k.failed]);
    targets.delete(s.self);
    for (const t of targets) s.send(t, install);
    s.send(s.self, install);
  }

  /**
   * Give up the attempt we coordinate, for good: it will never be installed, so participants
   * that answered FlushOk are released and may answer another coordinator.
   */
  drop(): void {
    const k = this.coord;
    if (!k) return;
    this.coord = undefined;
    this.s.ctx.clearTimer('flushTimeout');
    this.s.participant.dropOwn(k.newViewId, k.attempt);
    for (const p of k.participants)
      this.s.send(p, abandonHeader.encode({ newViewId: k.newViewId, attempt: k.attempt }));
  }

  flushTimeout(): void {
    const s = this.s;
    const k = this.coord;
    if (!k || !s.view) return;
    const now = s.ctx.now();
    // Local-stall rule: if this member itself was not running (paused, a long synchronous burst)
    // around the deadline, the answers may be sitting unread in its own queue. Read them first:
    // put the judgement off by a heartbeat period, a bounded number of times.
    // And if it was stopped for part of the step (paused, a slow spell), the step had that much
    // less of it: its resends, and its reading of the answers, waited as long. The step gets that
    // time again, at most its own length each time (session 22's class G.3: paused 200 ms of a
    // 300 ms step, the last stall 68 ms before the deadline; the resend due after it).
    const stopped = s.detector.stoppedFor(now) - k.stoppedAt;
    const stalled =
      now - k.deadline > s.o.heartbeatMs / 2 ||
      now - s.detector.lastStall <= s.o.heartbeatMs ||
      stopped >= s.o.heartbeatMs;
    if (stalled && k.deferrals < MAX_FLUSH_DEFERRALS) {
      const ms = Math.max(s.o.heartbeatMs, Math.min(stopped, s.o.suspectMs));
      k.deferrals++;
      k.deadline = now + ms;
      k.stoppedAt += stopped;
      s.c.flushDeferred++;
      s.ctx.setTimer('flushTimeout', ms);
      return;
    }
    // Participants that did not answer in time are treated as failed; try again without them.
    const waiting = k.install ? k.oks : new Set(k.digests.keys());
    const missing = k.participants.filter((p) => !waiting.has(p));
    s.ctx.trace(() => `flush ${k.newViewId}/${k.attempt} timed out waiting for ${missing.join(',')}`);
    // Some of them silent, some heard: a silent one may be why the heard ones could not answer (it
    // crashed holding the tail of the cut they fetch from it; session 22's class G.2). Try again
    // without the silent ones first, and exclude a heard one only if it fails again: once per
    // participant per view change, so a broken one costs one attempt more. Silent: not heard for
    // suspectMs / 2 (several heartbeats); a crash just before the Sync is no older than the step.
    const silent = missing.filter(
      (p) => p !== s.self && now - (s.detector.lastHeard.get(p) ?? 0) > s.o.suspectMs / 2,
    );
    const spare =
      silent.length > 0
        ? missing.filter((p) => p !== s.self && !silent.includes(p) && !this.spared.has(p))
        : [];
    for (const p of spare) this.spared.add(p);
    if (spare.length > 0) {
      s.c.flushSpared += spare.length;
      s.ctx.trace(() => `spare ${spare.join(',')} once: heard, unlike ${silent.join(',')}`);
    }
    for (const p of missing)
      if (p !== s.self && !spare.includes(p)) s.detector.suspect(p, s.o.suspectMs, true);
    if (s.state !== 'member') return;
    this.drop();
    this.startFlush();
  }
}
