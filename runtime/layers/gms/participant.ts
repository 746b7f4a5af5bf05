import type { MemberId } from '../../stack/member.js';
import type { Msg } from '../../stack/types.js';
import {
  abandonHeader,
  digestHeader,
  fetchHeader,
  flushOkHeader,
  forwardHeader,
  type InstallHeader,
  installHeader,
  leaveHeader,
  prepareHeader,
  syncHeader,
} from './codec.js';
import type { GmsShared } from './state.js';

/** A flush this member takes part in. */
export interface Flush {
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
  /** When this member took the attempt, or its Sync: one nobody ends within `orphanMs` is orphaned. */
  since: number;
  /** The Install this attempt sends (from its Sync): its own view, or the one it adopted. */
  install?: InstallHeader;
  /** An attempt we answered FlushOk to and then left for this one, its coordinator not having
   * released us: if its Install still comes, and we delivered nothing past its cut, we keep
   * our promise and install it (see onInstall). */
  promised?: {
    coord: MemberId;
    attempt: number;
    cut: Map<MemberId, number>;
    key: number;
    install: InstallHeader;
  };
  /** Every Install this member answered FlushOk to in this view change, with its cut: one of them
   * may still be installed (by its coordinator, or by an attempt that adopted it), and then
   * reaches us from a member already in it (see onPrepare). */
  answered?: { install: InstallHeader; cut: Map<MemberId, number> }[];
}

/**
 * The participant role: a member of the view taking part in a view change. It blocks on the
 * first Prepare, reports its Digest, fetches what it misses of the cut from the holders and
 * serves what others miss (Fetch/Forward), answers FlushOk once it delivered up to the cut, and
 * installs the next view from the coordinator it answered (or one it promised, see Flush).
 * Leaving the group is a participant's request too.
 */
export class Participant {
  flush: Flush | undefined;
  /** A Digest went out for the current attempt: nothing more is delivered until its cut. */
  digestSent = false;
  leaving = false;
  /** Our last Leave: to whom, when (resent to a new coordinator at once, else now and then). */
  leaveSent: { to: MemberId; at: number } | undefined;

  constructor(private readonly s: GmsShared) {}

  newView(): void {
    this.flush = undefined;
    this.digestSent = false;
  }

  /** Blocked in a flush that no coordinator will end: abandoned, or silent past `orphanMs`. */
  orphaned(): boolean {
    const f = this.flush;
    if (!f) return false;
    return f.abandoned === true || this.s.ctx.now() - f.since > 2 * this.s.o.suspectMs;
  }

  onPrepare(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { newViewId, attempt, members } = prepareHeader.decode(h);
    // A member of our view still flushing towards the view we are in (it took part in the attempt
    // that made it, abandoned or adopted, but never got its Install): send it our Install.
    if (s.view && newViewId === s.view.id && s.rank(from) >= 0) s.coordinator.resendInstall(from);
    if (!s.view || newViewId !== s.view.id + 1 || s.rank(from) < 0) return;
    if (!s.plausibleAttempt(attempt)) return; // invented (see Coordinator.onHeartbeat)
    s.highestAttempt = Math.max(s.highestAttempt, attempt);
    const f = this.flush;
    if (f) {
      // Attempt keys are Paxos ballots: a participant never takes one below the highest it took
      // in this view change, abandoned or not (an Abandon frees it for higher ones only). Then
      // an attempt that may have installed is met, by any later attempt that completes, at a
      // participant that reports it or a later promise carrying its value: no floor or tie can
      // rank a stale promise above it (test/sim/FINDINGS.md item 21). A coordinator that is
      // refused learns the higher attempt from our heartbeats and starts above it.
      const key = s.attemptKey(attempt, from);
      const cur = s.attemptKey(f.attempt, f.coord);
      if (key < cur) return;
      // Having promised a coordinator that we are done, switch only if it is gone (we suspect it,
      // or the new coordinator's proposal leaves it out).
      const gone = s.suspected.has(f.coord) || !members.includes(f.coord);
      if (key > cur && f.okSent && !f.abandoned && f.coord !== from && f.coord !== s.self && !gone) return;
    }
    s.highestKey = Math.max(s.highestKey, s.attemptKey(attempt, from));
    if (!f || f.coord !== from || f.attempt !== attempt) {
      s.ctx.trace(() => `take prepare ${newViewId}/${attempt} from ${from}`);
      if (!f) s.ctx.passUp({ type: 'block' });
      // Our promise is the last attempt we answered FlushOk to and were not released from, keyed
      // by that attempt's own key: its Install carries whatever promise its Sync adopted. An
      // Abandon drops it (its coordinator never installs it; an attempt that adopted its value
      // installs under its own, higher key, which its participants report).
      const promised =
        f?.okSent && f.cut && f.install && !f.abandoned
          ? {
              coord: f.coord,
              attempt: f.attempt,
              cut: f.cut,
              key: s.attemptKey(f.attempt, f.coord),
              install: f.install,
            }
          : f?.promised;
      this.flush = {
        newViewId,
        attempt,
        coord: from,
        cut: undefined,
        okSent: false,
        since: s.ctx.now(),
        ...(promised ? { promised } : {}),
        ...(f?.answered ? { answered: f.answered } : {}),
      };
    }
    if (from !== s.self) {
      // Someone else leads this view change with a stronger attempt: it is alive, and we stop
      // competing (two coordinators outbidding each other would never finish).
      s.detector.trust(from);
      s.coordinator.drop();
    }
    this.digestSent = true;
    // Our own casts count as held even before their loop-back arrives: they are ours to serve.
    const d = s.delivery;
    const held = s.view.members.map(
      (m) => [m, m === s.self ? Math.max(d.vseq, d.contiguous(m) + 1) : d.contiguous(m) + 1] as const,
    );
    // A promise still standing travels with the digest: that coordinator may install its cut, so
    // the new coordinator adopts it (see Coordinator.onDigest) and both installs agree on view 1.
    const p = this.flush?.promised;
    const promised = p && {
      coord: p.coord,
      attempt: p.attempt,
      cut: [...p.cut].map(([m, c]) => [m, c + 1] as const),
      key: p.key,
      install: p.install,
    };
    s.send(
      from,
      digestHeader.encode({
        newViewId,
        attempt,
        held,
        // Nothing cast yet: where the stream begins (a joiner starts it there, and asks no one).
        nakNext: d.lastOwnNakSeq >= 0 ? d.lastOwnNakSeq + 1 : (s.castNext() ?? 0),
        ...(promised ? { promised } : {}),
      }),
    );
  }

  onSync(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { newViewId, attempt, ends, install } = syncHeader.decode(h);
    const f = this.flush;
    if (!f || f.newViewId !== newViewId || f.attempt !== attempt || f.coord !== from || !s.view) return;
    // The coordinator sends its Sync again while our FlushOk has not reached it: answer again.
    if (f.okSent) {
      s.send(f.coord, flushOkHeader.encode({ newViewId: f.newViewId, attempt: f.attempt }));
      return;
    }
    const cut = new Map<MemberId, number>();
    const holders = new Map<MemberId, MemberId>();
    for (const e of ends) {
      cut.set(e.sender, e.count - 1);
      holders.set(e.sender, e.holder);
    }
    f.cut = cut;
    f.holders = holders;
    f.install = install;
    // The coordinator's flush timeout starts again at the Sync; so does our orphan clock.
    f.since = s.ctx.now();
    this.fetchMissing();
    s.delivery.drainAll();
    this.checkDone();
  }

  /**
   * Our own coordinator role dropped attempt `newViewId`/`attempt` (Coordinator.drop): it will
   * never install it, and the other participants are told so by its Abandon. Our own FlushOk to it
   * is void as theirs are, also when we have already taken a stronger coordinator's Prepare
   * (`onPrepare` keeps the answered attempt as our promise, then yields: the Abandon we send
   * ourselves would come too late and match nothing). Kept, the promise went out with our Digest,
   * the stronger attempt adopted it and installed a view whose other members were released from
   * it and could not take it: they stayed behind, and the group dissolved (FINDINGS 236).
   */
  dropOwn(newViewId: number, attempt: number): void {
    const s = this.s;
    const f = this.flush;
    // The attempt itself, still ours, takes the Abandon we send ourselves (`onAbandon`).
    if (!f?.promised || f.newViewId !== newViewId) return;
    if (f.promised.coord !== s.self || f.promised.attempt !== attempt) return;
    s.ctx.trace(() => `drop own promise of ${newViewId}/${attempt}`);
    f.promised = undefined;
  }

  onAbandon(from: MemberId, h: unknown[]): void {
    const { newViewId, attempt } = abandonHeader.decode(h);
    const f = this.flush;
    // Its coordinator will never install that attempt: we may answer another one.
    if (f && f.coord === from && f.newViewId === newViewId && f.attempt === attempt) {
      this.s.ctx.trace(() => `abandoned ${newViewId}/${attempt} by ${from}`);
      f.okSent = false;
      f.abandoned = true;
      return;
    }
    // The attempt we answered and then left for a stronger one (kept as our promise, see
    // onPrepare): void too, as at the participants that were still in it (FINDINGS 236).
    if (
      f?.promised &&
      f.newViewId === newViewId &&
      f.promised.coord === from &&
      f.promised.attempt === attempt
    ) {
      this.s.ctx.trace(() => `abandoned ${newViewId}/${attempt} by ${from}: promise dropped`);
      f.promised = undefined;
    }
  }

  /** Ask each holder for what we miss of the cut. Repeated from the fd tick until FlushOk: a
   * Fetch (or its Forwards) lost with a broken link is not left to the flush timeout. */
  fetchMissing(): void {
    const s = this.s;
    const f = this.flush;
    if (!f?.cut || !f.holders || !s.view) return;
    f.fetchedAt = s.ctx.now();
    for (const [sender, c] of f.cut) {
      const holder = f.holders.get(sender);
      const have = s.delivery.contiguous(sender);
      if (have < c && holder !== undefined && holder !== s.self)
        s.send(
          holder,
          fetchHeader.encode({ viewId: s.view.id, epoch: s.epoch, sender, from: have + 1, to: c }),
        );
    }
  }

  onFetch(from: MemberId, h: unknown[]): void {
    const s = this.s;
    const { viewId, epoch, sender, from: lo, to: hi } = fetchHeader.decode(h);
    if (!s.view || viewId !== s.view.id || epoch !== s.epoch || s.rank(from) < 0) return;
    const l = s.delivery.logs.get(sender);
    if (!l) return;
    for (let k = lo; k <= hi && k - lo < 100_000; k++) {
      const e = l.held.get(k);
      if (!e) continue;
      s.c.forwards++;
      s.send(from, forwardHeader.encode({ viewId, epoch, sender, vseq: k }), e.msg);
    }
  }

  onForward(from: MemberId, h: unknown[], msg: Msg): void {
    const s = this.s;
    const { viewId, epoch, sender, vseq } = forwardHeader.decode(h);
    if (!s.view || viewId !== s.view.id || epoch !== s.epoch || s.rank(from) < 0 || s.rank(sender) < 0)
      return;
    s.delivery.accept(sender, vseq, msg, undefined);
  }

  /**
   * Where `member` is in an Install this member answered FlushOk to in this view change: that
   * view may be installed without us (our Install lost, its coordinator silent since), and then
   * its joiners are in it, though not in our view.
   */
  answeredAddress(member: MemberId): string | undefined {
    for (const { install } of this.flush?.answered ?? []) {
      const i = install.members.indexOf(member);
      if (i >= 0) return install.addresses[i];
    }
    return undefined;
  }

  /** FlushOk to the coordinator once every sender's messages up to the cut are delivered. */
  checkDone(): void {
    const f = this.flush;
    // An abandoned attempt gets no FlushOk, even when a message held past its cut makes it look
    // complete again: that would commit us to it and refuse the attempt that replaces it.
    if (!f?.cut || f.okSent || f.abandoned || !this.s.view) return;
    for (const [sender, c] of f.cut) if ((this.s.delivery.logs.get(sender)?.next ?? 0) <= c) return;
    if (this.stepDownPast(f.cut, f.newViewId - 1)) return;
    f.okSent = true;
    if (f.install) {
      f.answered ??= [];
      f.answered.push({ install: f.install, cut: f.cut });
    }
    this.s.send(f.coord, flushOkHeader.encode({ newViewId: f.newViewId, attempt: f.attempt }));
  }

  /**
   * A cut adopted from another member's promise (see Coordinator.onDigest) can lie below what we
   * delivered, under an attempt we never answered or before the flush: view `viewId` may already
   * have ended at that cut at its promised coordinator, so we can be in no view after it. We stop
   * (`partitioned`, and rejoin) rather than install a view whose end we did not deliver; the
   * flush then goes on without us. True when we stopped.
   */
  stepDownPast(cut: Map<MemberId, number>, viewId: number): boolean {
    const s = this.s;
    const past = [...cut].find(([sender, c]) => (s.delivery.logs.get(sender)?.next ?? 0) > c + 1)?.[0];
    if (past === undefined) return false;
    s.ctx.trace(() => `delivered ${past} past the promised end of view ${viewId}: stepping down`);
    s.layer.finish('partitioned', `delivered past the end of view ${viewId} another coordinator may install`);
    return true;
  }

  /**
   * An Install while a member: the next view, as the flush we completed agreed it (its Sync named
   * this Install, by epoch), from whoever sends it: the attempt's coordinator, or a later one
   * that adopted our promise of it and completes it (see Coordinator.onDigest).
   */
  onInstall(from: MemberId, m: InstallHeader): void {
    const s = this.s;
    const { newViewId, members } = m;
    if (!s.view || newViewId !== s.view.id + 1) return;
    const f = this.flush;
    // The whole Install, not its epoch alone: any member of the view can send one, and only the
    // value the flush agreed may be taken on that ground (else one message from a member that does
    // not coordinate excludes us, or installs other members under the agreed epoch).
    const wire = JSON.stringify(installHeader.encode(m));
    const agreed = (i: InstallHeader | undefined) =>
      i !== undefined && i.epoch === m.epoch && JSON.stringify(installHeader.encode(i)) === wire;
    // Only the next view's coordinator installs it: a view our flush agreed (whoever sends it), or
    // a member that every member ranked before it in our view is leaving the view to.
    const ours =
      agreed(f?.install) ||
      agreed(f?.promised?.install) ||
      (f?.answered ?? []).some((a) => agreed(a.install));
    // From outside our view only the agreed Install, sent by a member it names: a joiner of that
    // view answering our request for it (ViewClaims.noteAhead), its coordinator silent since.
    if (s.rank(from) < 0 && !(ours && members.includes(from))) return;
    const before = s.view.members.slice(0, s.rank(from));
    if (!ours && before.some((b) => members.includes(b))) {
      s.c.refused++;
      return;
    }
    if (!members.includes(s.self)) {
      s.layer.finish(
        this.leaving ? 'left' : 'partitioned',
        this.leaving ? '' : `excluded from view ${newViewId}`,
      );
      return;
    }
    // Only the install of the flush we completed: another attempt's cut may differ from ours.
    // Or of one we completed and then left: its coordinator counted our FlushOk and installed,
    // so we keep the promise if we delivered nothing past its cut since (FlushOk switch).
    const ours2 = f?.okSent === true && agreed(f.install);
    const p = f?.promised;
    const kept =
      !ours2 &&
      p !== undefined &&
      agreed(p.install) &&
      [...s.delivery.logs].every(([sender, l]) => l.next - 1 <= (p.cut.get(sender) ?? -1));
    const exact = (cut: Map<MemberId, number>) =>
      [...cut].every(([sender, c]) => (s.delivery.logs.get(sender)?.next ?? 0) === c + 1) &&
      [...s.delivery.logs].every(([sender, l]) => l.next - 1 <= (cut.get(sender) ?? -1));
    const late = !ours2 && !kept && (f?.answered ?? []).some((a) => agreed(a.install) && exact(a.cut));
    if (!ours2 && !kept && !late) return;
    if (kept) s.c.promisesKept++;
    const departed = s.view.members.filter((d) => !members.includes(d));
    const { joined, left, failed } = m;
    // The joiners' cast streams start at their join points: not asked for by a Sync, which
    // before the view went to whoever spoke last in a joiner's id (FINDINGS 215).
    for (const [member, seq] of m.nakNext)
      if (joined.includes(member) && member !== s.self) s.ctx.passDown({ type: 'expect', member, seq });
    s.layer.install(
      newViewId,
      m.epoch,
      members,
      m.addresses,
      { previousId: s.view.id, joined, left, failed },
      departed,
    );
  }

  startLeave(): void {
    const s = this.s;
    if (s.state === 'joining' || s.state === 'idle') {
      s.layer.finish('left');
      return;
    }
    if (s.state !== 'member' || !s.view) return;
    this.leaving = true;
    if (s.view.members.length === 1) {
      s.layer.finish('left');
      return;
    }
    s.coordinator.leavers.add(s.self);
    this.askToLeave();
    s.ctx.setTimer('leave', s.o.suspectMs * 3);
  }

  /**
   * Ask whoever coordinates now to remove us. Repeated (fd tick, each install) until a view
   * without us arrives: a Leave lost with its coordinator would otherwise keep us in the next
   * view, blocked and holding up the token, until the `leave` timer and a suspicion end it.
   */
  askToLeave(): void {
    const s = this.s;
    if (!this.leaving || !s.view) return;
    if (s.view.members.length === 1) {
      // The last one out (see Coordinator.startFlush): nobody is left to tell.
      s.layer.finish('left');
      return;
    }
    const c = s.coordinatorId();
    if (c === s.self) {
      if (!s.coordinator.coord) s.coordinator.scheduleFlush();
      return;
    }
    if (!c) return;
    const now = s.ctx.now();
    if (c === this.leaveSent?.to && now - this.leaveSent.at < s.o.suspectMs / 2) return;
    this.leaveSent = { to: c, at: now };
    s.send(c, leaveHeader.encode({ viewId: s.view.id }));
  }
}
