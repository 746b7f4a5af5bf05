import type { MemberId } from '../../stack/member.js';
import { heartbeatHeader, pingHeader, pongHeader, suspectHeader } from './codec.js';
import { EMPTY, type GmsShared } from './state.js';

/**
 * The failure detector role: heartbeats out, silence in. It suspects members not heard for
 * `suspectMs`, reports its suspicions to the coordinator (renewed while they hold), gathers the
 * others' reports when it coordinates, and judges when a suspect may be excluded (failedNow).
 * A member that hears no majority for `partitionMs` stops here. Its `fd` tick also drives the
 * periodic work of the other roles (retried fetches and leaves, pending flushes).
 */
export class FailureDetector {
  readonly lastHeard = new Map<MemberId, number>();
  private suspectedAt = new Map<MemberId, number>();
  /** Coordinator: the other members' suspicion reports, per suspect, per reporter: since when
   * the reporter has held it and when it last said so. A report not renewed expires. */
  opinions = new Map<MemberId, Map<MemberId, { since: number; at: number }>>();
  /** Members excluded on direct evidence (no answer to a flush step, flow control gave up):
   * no second opinion needed. */
  private forced = new Set<MemberId>();
  /** When we last sent the coordinator our suspicion of each member. */
  private reportedAt = new Map<MemberId, number>();
  private reportedTo: MemberId | undefined;
  /** The report nonce each member's heartbeats of this view carried: our Suspects to it echo it. */
  private nonces = new Map<MemberId, string>();
  /** Suspects a layer above gave up on (lag, flow control): heard or not, they are removed. */
  private demanded = new Set<MemberId>();
  /** When the `fd` timer last found that this member itself had not been running. */
  lastStall = Number.NEGATIVE_INFINITY;
  /** When the `fd` timer last found this member had not run for over `suspectMs / 2`. */
  private resumedAt = Number.NEGATIVE_INFINITY;
  private lastFd = 0;
  /** How long, in all, this member was found not running (`fd` ticks late by over half a
   * period): a flush step it coordinates gets that time back (see Coordinator.flushTimeout). */
  private stoppedMs = 0;
  private holds = 0;
  /** A hold of this member's deliveries after a long stop (see `holding`): since when, the
   * nonce its Pings carry, and who answered them. */
  private hold: { since: number; nonce: number; answered: Set<MemberId>; stop: number } | undefined;
  /**
   * What this member last told the layers above of its speaking (see {@link speaking}); none
   * before its first view, whose install always tells them, with the stall bound: without it the
   * driver never learnt the bound, and a process that woke answered a client from a lost history
   * before its stack had run (RPC seed 99583176).
   */
  private spoke: boolean | undefined;

  constructor(private readonly s: GmsShared) {}

  /** A layer above gave up on this member (flow control's bound): remove it like a silent one. */
  demand(member: MemberId): void {
    if (this.s.state === 'member' && this.s.rank(member) >= 0) {
      this.demanded.add(member);
      this.suspect(member, 0, true);
    }
  }

  /** A new view: every opinion was about the old one; its members start as just heard. */
  newView(members: MemberId[], departed: MemberId[], now: number): void {
    this.suspectedAt = new Map();
    this.opinions = new Map();
    this.forced = new Set();
    this.reportedAt = new Map();
    this.nonces = new Map();
    this.demanded = new Set();
    for (const m of departed) this.lastHeard.delete(m);
    for (const m of members) this.lastHeard.set(m, now);
    this.lastFd = now;
    // A hold outlives a view change, but the answers were about the view before.
    if (this.hold) this.hold.answered = new Set();
    // A new view has not been judged yet: its members count as just heard, so it would look
    // alive at once (`liveView`) even when they are gone (a founding from stale confirmations).
    this.resumedAt = now;
  }

  /**
   * A flush coordinator other than us is alive: it no longer counts as suspected, nor as failed
   * on the evidence of its silence. Kept, `forced` would still exclude a member no longer
   * suspected, which the timer's withdrawals (over the suspects) never clear, and a coordinator
   * that counts it out may find too few participants for a flush for good (seed 501016). A
   * removal a layer above demanded stands: being heard says nothing against it.
   */
  trust(m: MemberId): void {
    this.s.suspected.delete(m);
    this.suspectedAt.delete(m);
    if (!this.demanded.has(m)) this.forced.delete(m);
    this.reportSpeaking(this.s.ctx.now());
  }

  timer(): void {
    const s = this.s;
    if (s.state !== 'member' || !s.view) return;
    const now = s.ctx.now();
    const v = s.view;
    s.ctx.passDown({
      type: 'cast',
      msg: {
        headers: [
          heartbeatHeader.encode({
            viewId: v.id,
            epoch: s.epoch,
            highestKey: Math.max(s.highestKey, s.highestAttempt * 4096),
            stuck: s.participant.orphaned(),
            nonce: s.reportNonce(),
          }),
        ],
        payload: EMPTY,
      },
      qos: { order: 'unreliable' },
    });
    // Any late tick counts for the flush timeout's local-stall rule; only a long one stops
    // this round's suspicions.
    if (now - this.lastFd > 1.5 * s.o.heartbeatMs) {
      this.lastStall = now;
      this.stoppedMs += now - this.lastFd - s.o.heartbeatMs;
    }
    const stalled = now - this.lastFd > s.o.suspectMs / 2;
    const stop = this.lastFd;
    this.lastFd = now;
    s.ctx.setTimer('fd', s.o.heartbeatMs);
    this.reportSpeaking(now);
    if (stalled) {
      this.resumedAt = now;
      this.beginHold(now, stop);
      // We ourselves were not running (paused, or a long synchronous burst): what we did not
      // hear says nothing about the others. Give everyone a fresh chance before judging.
      for (const m of v.members)
        this.lastHeard.set(m, Math.max(this.lastHeard.get(m) ?? now, now - s.o.suspectMs / 2));
      return;
    }
    // A member suspected but heard again (it was busy, not dead) is trusted again, as long as
    // no flush has started to remove it. A removal a layer above demanded stands, unless it is
    // what leaves this member without a majority (the other one of a view of two): no flush
    // could carry it out, and while it stood no join or other change could go ahead either.
    // A demanded member we no longer suspect (we took its Prepare: `trust`) still counts as
    // failed, so the demands are looked at too, and the majority is the flush's (RPC seed
    // 5060244: the sequencer's demand outlived the trust and kept a live majority of a view
    // of three, its third member crashed, from every flush for good).
    if (!s.coordinator.coord)
      for (const pass of [false, true])
        for (const m of new Set([...s.suspected, ...this.demanded]))
          if (
            now - (this.lastHeard.get(m) ?? 0) <= s.o.suspectMs &&
            (!this.demanded.has(m) || (pass && !this.flushPossible()))
          ) {
            const what = this.demanded.has(m) ? 'the demanded removal' : 'suspicion';
            s.ctx.trace(() => `withdraw ${what} of ${m}`);
            s.suspected.delete(m);
            this.suspectedAt.delete(m);
            this.forced.delete(m);
            this.demanded.delete(m);
          }
    this.reportSpeaking(now);
    s.coordinator.expireJoiners(now);
    s.participant.askToLeave();
    const f = s.participant.flush;
    if (f?.cut && !f.okSent && !f.abandoned && now - (f.fetchedAt ?? now) >= 2 * s.o.heartbeatMs)
      s.participant.fetchMissing();
    s.coordinator.resendStep(now);
    // Work left waiting for a majority (a stalled flush that leaves the group blocked,
    // suspicions, joins, leaves) resumes with a fresh attempt once the majority is back.
    const pending =
      s.participant.flush ||
      s.coordinator.stuck.size > 0 ||
      s.suspected.size > 0 ||
      this.opinions.size > 0 ||
      s.coordinator.joiners.size > 0 ||
      s.coordinator.leavers.size > 0;
    if (pending && !s.coordinator.coord && s.coordinatorId() === s.self && s.hasMajority())
      s.coordinator.scheduleFlush();
    let silent = 0;
    for (const m of v.members) {
      if (m !== s.self && now - (this.lastHeard.get(m) ?? now) > s.o.partitionMs) silent++;
    }
    if ((v.members.length - silent) * 2 <= v.members.length) {
      s.layer.finish(
        'partitioned',
        `${silent} of ${v.members.length} members silent for ${s.o.partitionMs} ms`,
      );
      return;
    }
    for (const m of v.members) {
      if (m === s.self || s.suspected.has(m)) continue;
      const heard = this.lastHeard.get(m) ?? now;
      if (now - heard > s.o.suspectMs) this.suspect(m, now - heard);
    }
    if (s.hasMajority()) this.report(now);
    // While it holds, each tick asks again those that have not answered (a view changed under it).
    if (this.hold && !this.releaseHold(now)) this.ping();
    s.lineage.tick(now);
  }

  /** How long this member was not running, in all, up to `now` (an overdue tick counted too). */
  stoppedFor(now: number): number {
    const late = now - this.lastFd - this.s.o.heartbeatMs;
    return this.stoppedMs + (late > this.s.o.heartbeatMs / 2 ? late : 0);
  }

  /**
   * Whether deliveries wait because this member stopped for over `suspectMs / 2` (its tick is
   * overdue now, or was found overdue) and has not judged its view since. A member that runs on
   * after a long stop (a "zombie") drains packets sent before it stopped; by then the others may
   * have given the view up and founded anew from their own state. Delivered, those packets
   * would complete in a dead view what the live lineage never saw (a majority of two: the
   * zombie's copy and a departed member's Order), and the zombie would apply and answer it
   * (FINDINGS 41). Held, they wait until a majority of the view answers a Ping sent after the
   * stop (one round trip in a live view); in a dead view none comes, and the member stops
   * (`partitionMs`) without delivering them. A new stop during a hold starts it over.
   */
  holding(now: number): boolean {
    if (now - this.lastFd > this.s.o.suspectMs / 2) this.beginHold(now, this.lastFd);
    return this.hold !== undefined;
  }

  /** Start a hold (once per stop): ask every other member of the view whether it is in it now. */
  private beginHold(now: number, stop: number): void {
    // Once per stop (named by the tick before it): a new stop during a hold starts it over.
    if (this.hold?.stop === stop) return;
    const s = this.s;
    this.holds++;
    const nonce = (Math.floor(s.ctx.random() * 0x1_0000_0000) + this.holds) % 0x1_0000_0000;
    this.hold = { since: now, nonce, answered: new Set(), stop };
    s.c.holds++;
    s.ctx.trace(() => `stopped for long: deliveries held until the view is judged again`);
    this.reportSpeaking(now);
    this.ping();
  }

  /**
   * Whether this member may answer clients for its group's history now: its detector runs on
   * time, it holds no deliveries after a long stop (a member that ran on after one may hold a
   * view whose others re-founded without it: an async method that settled as it woke answered a
   * client 2 s after its majority was lost, from a history the group had lost; FINDINGS 167),
   * and it suspects no majority of its view.
   */
  speaking(now: number): boolean {
    return now - this.lastFd <= this.s.o.suspectMs / 2 && this.hold === undefined && this.s.hasMajority();
  }

  /** Tells the layers above when {@link speaking} changed. */
  reportSpeaking(now: number): void {
    const speaking = this.s.state === 'member' && this.speaking(now);
    if (speaking === this.spoke) return;
    this.spoke = speaking;
    const o = this.s.o;
    this.s.ctx.passUp({ type: 'speaking', speaking, stallMs: Math.max(0, o.suspectMs / 2 - o.heartbeatMs) });
  }

  private ping(): void {
    const s = this.s;
    const h = this.hold;
    if (!h || !s.view) return;
    const ping = pingHeader.encode({ viewId: s.view.id, epoch: s.epoch, nonce: h.nonce });
    for (const m of s.view.members) if (m !== s.self && !h.answered.has(m)) s.send(m, ping);
  }

  /** A Ping: answered only in the view and epoch it names, so only a member in our view now counts. */
  onPing(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { viewId, epoch, nonce } = pingHeader.decode(h);
    if (s.state !== 'member' || !s.view || viewId !== s.view.id || epoch !== s.epoch || s.rank(from) < 0)
      return;
    // `stuck` answers a coordinator's stuck probe (Coordinator.onHeartbeat); a hold's Ping ignores it.
    s.send(from, pongHeader.encode({ viewId, epoch, nonce, stuck: s.participant.orphaned() }));
  }

  onPong(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { viewId, epoch, nonce, stuck } = pongHeader.decode(h);
    if (
      s.view &&
      viewId === s.view.id &&
      epoch === s.epoch &&
      s.coordinator.onProbePong(from, nonce, stuck === true)
    )
      return;
    const hold = this.hold;
    if (!hold || !s.view || nonce !== hold.nonce || viewId !== s.view.id || epoch !== s.epoch) return;
    if (s.rank(from) < 0 || from === s.self) return;
    hold.answered.add(from);
    this.releaseHold(s.ctx.now());
  }

  /**
   * A hold ends when this member runs on time again, nothing shows it left behind, and either
   * a majority of the view (itself counted) answered its Ping, or, as a last resort, the view
   * still looks alive `partitionMs` and a tick after the hold began.
   * True when it ended.
   */
  private releaseHold(now: number): boolean {
    const s = this.s;
    const h = this.hold;
    if (!h || !s.view || s.state !== 'member') return false;
    if (now - this.lastFd > s.o.suspectMs / 2 || s.claims.behindSince !== undefined) return false;
    const answered = (h.answered.size + 1) * 2 > s.view.members.length;
    // Without Pongs, only after partitionMs: packets of departed members that arrive late (held
    // on a link) still count as heard, so after suspectMs a dead view could look alive; by
    // partitionMs the majority-silence rule has stopped a member whose view is dead.
    const judged = now - h.since > s.o.partitionMs + s.o.heartbeatMs && s.hasMajority();
    if (!answered && !judged) return false;
    if (!answered) s.c.holdsJudged++;
    s.ctx.trace(() => `the view ${answered ? 'answered' : 'was judged again'}: deliveries resume`);
    this.hold = undefined;
    this.reportSpeaking(now);
    s.delivery.releaseHeld();
    if (s.participant.flush?.cut) s.participant.checkDone();
    return true;
  }

  /**
   * Whether a flush could go ahead now, as Coordinator.startFlush judges it: a strict majority
   * of the view unsuspected, and a strict majority not counted failed (its participants).
   */
  private flushPossible(): boolean {
    const v = this.s.view;
    if (!v || !this.s.hasMajority()) return false;
    return v.members.filter((m) => !this.failedNow(m)).length * 2 > v.members.length;
  }

  /**
   * Whether this member's view is known to live: its detector runs on time, has judged for a
   * whole `suspectMs` (and a tick) since this member last stopped for long or installed its
   * view, and suspects no majority. A member that runs on after a stop past the detector's patience (a "zombie")
   * holds a view whose other members may long have left and founded anew, and the packets it
   * drains on resuming (sent before they left) look fresh: until it has judged them again its
   * view must not make a live lineage yield (RPC seed 500145). Nor must a view installed just
   * now, whose members all count as heard (RPC seed 900035: a founding of gone incarnations).
   */
  liveView(now: number): boolean {
    const o = this.s.o;
    if (now - this.lastFd > o.suspectMs / 2) return false; // stopped: the tick is overdue
    if (now - this.resumedAt <= o.suspectMs + o.heartbeatMs) return false;
    return this.s.hasMajority();
  }

  suspect(m: MemberId, silentMs: number, forced = false): void {
    const s = this.s;
    if (!s.view || m === s.self) return;
    if (forced) this.forced.add(m);
    if (s.suspected.has(m)) return;
    s.suspected.add(m);
    this.suspectedAt.set(m, s.ctx.now());
    s.c.suspicions++;
    s.ctx.trace(() => `suspect ${m}`);
    s.ctx.passUp({ type: 'suspect', member: m, silentMs });
    this.reportSpeaking(s.ctx.now());
    // No majority in sight: wait. Either the silent members come back (a busy process, not a
    // dead one) or they stay silent for partitionMs and this member gives up (timer).
    if (!s.hasMajority()) return;
    const c = s.coordinatorId();
    if (c === s.self) s.coordinator.scheduleFlush();
    else this.report(s.ctx.now());
  }

  /**
   * Tell the coordinator which members we suspect, again every suspectMs / 2 while we do (and at
   * once when the coordinator changes): it counts only renewed reports, so a suspicion we drop,
   * or a report lost with its coordinator, fades there by itself.
   */
  private report(now: number): void {
    const s = this.s;
    const c = s.coordinatorId();
    if (!s.view || !c || c === s.self) return;
    for (const m of s.suspected) {
      const last = this.reportedAt.get(m);
      if (last !== undefined && now - last < s.o.suspectMs / 2 && this.reportedTo === c) continue;
      this.reportedAt.set(m, now);
      const held = Math.max(0, Math.round(now - (this.suspectedAt.get(m) ?? now)));
      // A datagram: a reliable report, held back by a partition, arrived after the heal as if
      // fresh, and the coordinator excluded members of its own side (session 22's removal class
      // C, seed 144300125). One lost is renewed within suspectMs / 2.
      s.send(
        c,
        suspectHeader.encode({ viewId: s.view.id, member: m, heldMs: held, nonce: this.nonces.get(c) }),
        undefined,
        'unreliable',
      );
    }
    this.reportedTo = c;
  }

  /**
   * Whether the coordinator may exclude `m` as failed. One opinion is not enough (one bad or
   * asymmetric link would remove a healthy member): it takes direct evidence (`forced`), or
   * two members that suspect it (this one counted, reports renewed within suspectMs, reporters
   * not suspected themselves), or, in a view of two, the other one. A single opinion held
   * without a break for `partitionMs` is also enough: a member one other member cannot hear at
   * all stalls the whole group (that member can deliver none of its casts), so one of the two
   * must go, and only the one suspected is known to be unreachable.
   */
  failedNow(m: MemberId): boolean {
    const s = this.s;
    if (!s.view || m === s.self) return false;
    if (this.forced.has(m)) return true;
    const now = s.ctx.now();
    let count = 0;
    // The longest any one opinion has held without a break: this member's own until now, a
    // reporter's until its last report. A reporter's opinion may have been withdrawn since (its
    // report lingers here up to suspectMs): counting it until now excluded a member suspected
    // for 800 ms, withdrawn, then judged at 905 ms against a partitionMs of 900 (the lossy-link
    // case of test/stack/gms.test.ts, seed 5, once seq's Orders left a turn earlier).
    let held = 0;
    if (s.suspected.has(m)) {
      count++;
      held = now - (this.suspectedAt.get(m) ?? now);
    }
    for (const [r, o] of this.opinions.get(m) ?? []) {
      if (r === m || r === s.self || now - o.at > s.o.suspectMs) continue;
      if (s.rank(r) < 0 || s.suspected.has(r)) continue;
      count++;
      held = Math.max(held, o.at - o.since);
    }
    if (count >= Math.min(2, s.view.members.length - 1)) return true;
    return count > 0 && held >= s.o.partitionMs;
  }

  /** A heartbeat of our view from member `from` carried its report nonce. */
  heardNonce(from: MemberId, nonce: string | undefined): void {
    const s = this.s;
    if (nonce === undefined || this.nonces.get(from) === nonce || !s.view) return;
    this.nonces.set(from, nonce);
    // Stability gossip echoes them too (see the `nonces` down event).
    s.ctx.passDown({ type: 'nonces', viewId: s.view.id, own: s.reportNonce()!, heard: new Map(this.nonces) });
  }

  onSuspectReport(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { viewId, member: m, heldMs: held, nonce } = suspectHeader.decode(h);
    if (!s.view || viewId !== s.view.id || s.rank(m) < 0) return;
    // Only a member of the view has an opinion; anyone else's report is refused and counted.
    if (s.rank(from) < 0 || from === m) {
      s.c.refused++;
      return;
    }
    if (s.coordinatorId() !== s.self) return;
    // A datagram in a member's name proves nothing without a key: only one echoing the nonce our
    // heartbeats of this view carry, which a forger off their path never sees (review37).
    if (nonce !== s.reportNonce()) {
      s.c.refused++;
      return;
    }
    let per = this.opinions.get(m);
    if (!per) {
      per = new Map();
      this.opinions.set(m, per);
    }
    const now = s.ctx.now();
    // Continuous means renewed here without a gap and, by the reporter's own account, never
    // withdrawn in between (a flapping suspicion starts over); a reporter cannot claim more
    // than it has shown us.
    const o = per.get(from);
    const shown = o && now - o.at <= s.o.suspectMs ? o.since : now;
    per.set(from, { since: Math.max(shown, now - held), at: now });
    if (this.failedNow(m)) s.coordinator.scheduleFlush();
  }
}
