/**
 * What other members' traffic claims about views: that members of ours are in a later view we
 * never got, so we were left behind and stop. Without a key a forged claim was a lever (FINDINGS
 * 196): a claim is weighed against what the named member itself sends in our view.
 */
import type { MemberId } from '../../stack/member.js';
import { isWildcard } from '../../transport/address.js';
import { hereHeader, joinHeader } from './codec.js';
import type { GmsShared } from './state.js';

/** Heartbeat intervals a member's messages of our view must span, after a claim in its name that
 * it is in a later view, to refute that claim (see ViewClaims.heard). */
export const REFUTE_HEARTBEATS = 2;

export class ViewClaims {
  /** When a member of our view first showed a later view we never got (see noteAhead). */
  behindSince: number | undefined;
  /** Members of our view seen in a later view, with when we last asked each for its Install. */
  aheadFrom = new Map<MemberId, number>();
  /** Members of a view we answered FlushOk to but not of ours, seen in a later view, with when we
   * last asked each for its Install (see noteAhead). */
  askedJoiners = new Map<MemberId, number>();
  /**
   * Members of {@link aheadFrom} heard since in our view under our epoch, with when first: a
   * member keeps sending those (heartbeats) only while it is in our view, so a run of them
   * spanning {@link REFUTE_HEARTBEATS} heartbeat intervals after its claim refutes the claim
   * (see {@link heard}). Reset at each install.
   */
  refuting = new Map<MemberId, number>();
  /** Members whose claim of a later view was refuted, until when their claims count for nothing
   * (see {@link heard}). Reset at each install. */
  refutedUntil = new Map<MemberId, number>();
  /**
   * A member asked for its later view's Install answered with a Here of a later view echoing our
   * challenge: it is in a view we are not in (else it resends the Install), which no message of
   * ours refutes. From then on nothing is refuted (see {@link heard}): forged heartbeats of our
   * view cannot keep us in a view the group left. Reset at each install.
   */
  proven = false;

  constructor(private readonly s: GmsShared) {}

  /** A new view: every claim was about the one before. */
  newView(): void {
    this.behindSince = undefined;
    this.aheadFrom = new Map();
    this.askedJoiners = new Map();
    this.refuting = new Map();
    this.refutedUntil = new Map();
    this.proven = false;
    this.s.ctx.clearTimer('behind');
  }

  /**
   * A message of our view and epoch from `from`, a member of it, weighed against a claim that
   * it is in a later view: without a key, one forged Heartbeat of the next view id in the coordinator's name made every member
   * take itself for left behind and stop (FINDINGS 196). A member that really moved on sends no
   * more of our view's messages; a few sent before it moved may still arrive late, but not a run
   * of them spanning several heartbeat intervals.
   */
  heard(from: MemberId): void {
    if (this.proven || !this.aheadFrom.has(from)) return;
    const now = this.s.ctx.now();
    const first = this.refuting.get(from);
    if (first === undefined) {
      this.refuting.set(from, now);
      return;
    }
    if (now - first < REFUTE_HEARTBEATS * this.s.o.heartbeatMs) return;
    // Refuted. Its claims count for nothing for a while (else one every heartbeat would keep the
    // run from ever spanning enough), and the wait that it started or joined starts again from
    // the claims that come next: a forger naming several members cannot keep one going.
    this.refuting.delete(from);
    this.aheadFrom.delete(from);
    this.refutedUntil.set(from, now + this.s.o.suspectMs);
    this.s.c.refused++;
    if (this.behindSince === undefined) return;
    this.behindSince = undefined;
    this.s.ctx.clearTimer('behind');
  }

  /** Whether the members seen ahead are enough to take ourselves for left behind (noteAhead). */
  private aheadEnough(): boolean {
    if (!this.s.view) return false;
    const coordinator = this.s.coordinatorId();
    return (
      this.aheadFrom.size >= Math.min(2, this.s.view.members.length - 1) ||
      (coordinator !== undefined && this.aheadFrom.has(coordinator))
    );
  }

  /**
   * A member of our view is in a later view we never got: we were left behind (excluded). It
   * takes two members showing it (one in a view of two), or our coordinator: one other
   * sender's claim, forged or not, does not stop a member.
   */
  noteAhead(from: MemberId): void {
    if (!this.s.view) return;
    if (this.s.rank(from) < 0) {
      // A joiner of a view we answered FlushOk to, already in a later view: that view may have
      // been installed without us (our Install lost, its coordinator silent since), and with
      // fan-out our heartbeats reach only our own view's members, so no member of it learns that
      // we wait (RPC seed 93100011). Ask it; it counts for nothing else: it is no member of ours.
      const address = this.s.participant.answeredAddress(from);
      if (address) this.askInstall(from, address, this.askedJoiners);
      return;
    }
    if (this.s.ctx.now() < (this.refutedUntil.get(from) ?? Number.NEGATIVE_INFINITY)) return;
    this.askInstall(from, this.s.view.addresses[this.s.rank(from)], this.aheadFrom);
    if (this.behindSince !== undefined) return;
    // Our coordinator alone is enough: it is the one that installs views (and if a FlushOk
    // switch left it alone in a view of its own, we must not wait for it forever).
    if (!this.aheadEnough()) return;
    this.behindSince = this.s.ctx.now();
    this.s.ctx.setTimer('behind', this.s.o.suspectMs);
  }

  /**
   * Asks `member`, seen in a later view, for that view's Install: a Join from a member of its
   * view makes it send the Install again (Coordinator.onJoin). Else only the two lowest-ranked
   * members answering our old view's heartbeats resend it, and with both paused or slow this
   * member gave up as left behind though the view included it (session 22's class E, seeds
   * 144300047 and 144400452). Once per `joinRetryMs` per member, as the resend is limited there.
   */
  private askInstall(member: MemberId, address: string | undefined, asked: Map<MemberId, number>): void {
    const now = this.s.ctx.now();
    const last = asked.get(member) ?? Number.NEGATIVE_INFINITY;
    asked.set(member, last); // counted as ahead whether or not it is asked
    if (now - last < this.s.o.joinRetryMs) return;
    if (!address || isWildcard(address)) return;
    asked.set(member, now);
    this.s.probe(
      address,
      joinHeader.encode({ vote: '', nonce: '', counts: false, challenge: this.challenge(address), echo: [] }),
    );
  }

  /** A Here heard by a member: the answer to {@link askInstall}'s Join, if it echoes our
   * challenge; one of a later view proves the claim (see {@link proven}). */
  onHere(h: unknown[], address: string): void {
    const v = this.s.view;
    if (!v || this.proven) return;
    const here = hereHeader.decode(h);
    if (here.viewId <= v.id || here.echo !== this.challenge(address)) return;
    this.proven = true;
  }

  /** Our challenge to `address` in this view (GmsShared.challenge). */
  private challenge(address: string): string {
    return this.s.challenge('behind', this.s.view?.id ?? 0, address);
  }
}
