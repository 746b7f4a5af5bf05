import type { MemberId } from '../../stack/member.js';
import { type LayerContext, type Msg, pushHeader, type View } from '../../stack/types.js';
import { isWildcard } from '../../transport/address.js';
import { GmsKind, type InstallHeader, joinHeader, viewTagHeader } from './codec.js';
import type { Coordinator } from './coordinator.js';
import type { Delivery } from './delivery.js';
import type { FailureDetector } from './detector.js';
import type { Joiner } from './joiner.js';
import type { Gms } from './layer.js';
import type { LineageWatch } from './lineage.js';
import type { GmsOptions } from './options.js';
import type { Participant } from './participant.js';

export type MemberState = 'idle' | 'joining' | 'member' | 'partitioned' | 'left';

export const EMPTY = new Uint8Array(0);
/** A view id further ahead of ours than this is impossible (a member left behind sees the
 * group a few view changes ahead, not this many): such traffic is refused, not taken as proof
 * that we were excluded. */
export const MAX_VIEW_LEAD = 64;
/** Likewise an attempt (or an epoch's) this far above every attempt we have seen. */
export const MAX_ATTEMPT_LEAD = 64;
/** Heartbeat intervals a member's messages of our view must span, after a claim in its name that
 * it is in a later view, to refute that claim (see GmsShared.heard). */
export const REFUTE_HEARTBEATS = 2;
/** Heartbeat intervals a claim that a member not yet heard in our view is in a higher lineage of
 * its id waits for that member's own messages of our view (see GmsShared.otherLineage). */
export const LINEAGE_WAIT_HEARTBEATS = 3;

/**
 * What every role of one member reads: its state, the installed view and its lineage (epoch),
 * whom it suspects (which decides who coordinates), the highest flush attempt seen, and the
 * counters. The roles reach each other through it, as JGroups' role objects reach their GMS.
 */
export class GmsShared {
  state: MemberState = 'idle';
  view: View | undefined;
  epoch = 0;
  /** Members this member itself suspects (its own opinion; the detector keeps since when). */
  suspected = new Set<MemberId>();
  /** The highest flush attempt heard of (heartbeats spread it): the next attempt goes above. */
  highestAttempt = 0;
  /** The highest ballot (attempt key) this member took or started; heartbeats report it (at
   * least `highestAttempt × 4096`), so a coordinator it refused starts above it. */
  highestKey = 0;
  /** When a member of our view first showed a later view we never got (see noteAhead). */
  behindSince: number | undefined;
  /** Members of our view seen in a later view, with when we last asked each for its Install. */
  aheadFrom = new Map<MemberId, number>();
  /** Members of a view we answered FlushOk to but not of ours, seen in a later view, with when we
   * last asked each for its Install (see noteAhead). */
  askedJoiners = new Map<MemberId, number>();
  /** The Install that made the current view (kept while it is current): sent again to a listed
   * member that still Joins, as its copy was lost (see Coordinator.onJoin). */
  installed: InstallHeader | undefined;
  /**
   * Members of the view whose own messages of this view under our epoch reached us (or that sent
   * the Install we took). A member installs one view per id, so a later claim in its name of
   * this view id under another epoch is not its own: without a key, a forged source address
   * (see otherLineage). Reset at each install.
   */
  heardInLineage = new Set<MemberId>();
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
  /** Members of our view, not yet heard in it, claimed for a higher lineage of our view id (see
   * otherLineage), until the `lineage` timer weighs the claims. Reset at each install. */
  lineageClaims = new Set<MemberId>();
  readonly c = {
    views: 0,
    flushes: 0,
    flushDeferred: 0,
    /** Prepares and Syncs sent again to participants that had not answered them. */
    flushResent: 0,
    /** Heard participants a flush timeout did not exclude at once, as others were silent. */
    flushSpared: 0,
    promisesKept: 0,
    valuesAdopted: 0,
    flushOutbid: 0,
    stuckReports: 0,
    forwards: 0,
    suspicions: 0,
    futureDropped: 0,
    refused: 0,
    joinsRefused: 0,
    /** Joins to this coordinator whose nonce was not the one it sent to that id and address. */
    joinsUnproven: 0,
    /**
     * Word of a group (Here, Lineage) this joiner did not let hold back founding: from an address
     * that never answered its Joins' challenge within 2 × suspectMs (Joiner.credit).
     */
    claimsUnproven: 0,
    /** Installs sent again to a member of the view that still Joins (its Install was lost). */
    installsResent: 0,
    staleDropped: 0,
    heldHighWater: 0,
    /** Beacons of another lineage of the group that this member's lineage wins over. */
    lineagesMet: 0,
    /** Long stops after which this member held its deliveries (FailureDetector.holding). */
    holds: 0,
    /** Holds that ended by the last resort (partitionMs), not by a majority's Pongs. */
    holdsJudged: 0,
  };
  // The roles, set once by the layer shell.
  layer!: Gms;
  joiner!: Joiner;
  detector!: FailureDetector;
  coordinator!: Coordinator;
  participant!: Participant;
  delivery!: Delivery;
  lineage!: LineageWatch;

  constructor(
    readonly ctx: LayerContext,
    readonly o: GmsOptions,
  ) {}

  get self(): MemberId {
    return this.ctx.self;
  }

  rank(m: MemberId): number {
    return this.view ? this.view.members.indexOf(m) : -1;
  }

  /** The lowest-ranked member this member does not suspect: who coordinates, in its eyes. */
  coordinatorId(): MemberId | undefined {
    return this.view?.members.find((m) => !this.suspected.has(m));
  }

  hasMajority(): boolean {
    const v = this.view!;
    const alive = v.members.filter((m) => !this.suspected.has(m)).length;
    return alive * 2 > v.members.length;
  }

  /** Sends `header` (over `msg`) to `to`: reliable FIFO, or a datagram (`unreliable`) for what is
   * renewed anyway and must not arrive late. */
  send(
    to: MemberId,
    header: unknown[],
    msg: Msg = { headers: [], payload: EMPTY },
    order: 'fifo' | 'unreliable' = 'fifo',
  ): void {
    this.ctx.passDown({ type: 'send', to, msg: pushHeader(msg, header), qos: { order } });
  }

  probe(to: string | null, header: unknown[]): void {
    this.ctx.passDown({ type: 'probe', to, msg: { headers: [header], payload: EMPTY } });
  }

  attemptKey(attempt: number, coord: MemberId): number {
    // Higher attempts win; between equal attempts the lower-ranked coordinator wins.
    const r = this.rank(coord);
    return attempt * 4096 + (4095 - Math.min(4095, r < 0 ? 4095 : r));
  }

  /**
   * Whether a message proves its sender alive in our view. View-tagged traffic must carry our
   * view's epoch (or a later view), else the sender lives in another lineage of the group and,
   * for us, is silent. Flush control counts when the view it names is one the sender still
   * works in with us: the next view (Prepare, Digest, Sync, FlushOk, Abandon), ours or the next
   * (Install), ours (Fetch, Forward, Leave, Suspect). A member still flushing towards a view we
   * already have, or towards an earlier one, is not in our view at all: counted, its Prepares
   * kept a view of two that adopted it alive for ever while it refused that view (FINDINGS 42).
   * Founding traffic (Found, Confirm) never counts: a member that founds has left our view.
   */
  provesAlive(kind: number, h: unknown[]): boolean {
    const here = this.view!.id;
    const tag = viewTagHeader.peek(kind, h);
    if (tag) {
      const { viewId, epoch } = tag;
      return (
        viewId !== undefined &&
        ((viewId > here && viewId <= here + MAX_VIEW_LEAD) || (viewId === here && epoch === this.epoch))
      );
    }
    const named = typeof h[1] === 'number' ? h[1] : -1;
    switch (kind) {
      case GmsKind.Prepare:
      case GmsKind.Digest:
      case GmsKind.Sync:
      case GmsKind.FlushOk:
      case GmsKind.Abandon:
        return named === here + 1;
      case GmsKind.Install:
        return named === here || named === here + 1;
      case GmsKind.Fetch:
      case GmsKind.Forward:
      case GmsKind.Leave:
      case GmsKind.Suspect:
        return named === here;
      default:
        return false;
    }
  }

  /**
   * Two coordinators may both install the next view id (the first one's install crossed a
   * partition after every participant had answered it; the survivors then ran their own flush).
   * A member of our view in the same view id under another epoch shows it; the lineage with the
   * lower epoch yields and its members come back as new members, so one lineage goes on.
   */
  otherLineage(from: MemberId, viewId: number, epoch: number): boolean {
    if (!this.view || viewId !== this.view.id || epoch === this.epoch || this.rank(from) < 0) return false;
    // Flushed epochs encode their attempt (epoch / 4096): one far above every attempt we have
    // seen (heartbeats spread them) is invented; drop it rather than stop.
    if (!this.plausibleAttempt(Math.floor(epoch / 4096))) return true;
    // It already spoke to us in this view under our epoch, and a member installs a view id once:
    // the claim is not its own. Before this, one forged heartbeat per member in the coordinator's
    // name from its address stopped a keyless group (test/stack/spoofed-member.test.ts).
    if (this.heardInLineage.has(from)) {
      this.c.refused++;
      return true;
    }
    // Not heard yet (a view's first heartbeat interval): a member of our lineage will be, within
    // a few heartbeats, and one of the other never (none of its messages is of our view and
    // epoch); the lower lineage yields then (see lineageCheck).
    if (epoch > this.epoch && !this.lineageClaims.has(from)) {
      this.lineageClaims.add(from);
      if (this.lineageClaims.size === 1)
        this.ctx.setTimer('lineage', LINEAGE_WAIT_HEARTBEATS * this.o.heartbeatMs);
    }
    return true;
  }

  /** The wait for members claimed for a higher lineage of our view id is over (see otherLineage):
   * one that was not heard in ours since is in the other one, and this member yields. */
  lineageCheck(): void {
    const claimed = [...this.lineageClaims];
    this.lineageClaims.clear();
    if (!this.view || this.state !== 'member') return;
    for (const m of claimed) {
      if (this.rank(m) < 0) continue;
      if (this.heardInLineage.has(m)) {
        this.c.refused++;
        continue;
      }
      this.layer.finish('partitioned', `view ${this.view.id} was also installed by another coordinator`);
      return;
    }
  }

  /** Whether an attempt is believable (see MAX_ATTEMPT_LEAD); counts the refusal if not. */
  plausibleAttempt(attempt: number): boolean {
    if (attempt <= this.highestAttempt + MAX_ATTEMPT_LEAD) return true;
    this.c.refused++;
    return false;
  }

  /** Whether a later view id is believable (see MAX_VIEW_LEAD); counts the refusal if not. */
  plausibleLead(viewId: number): boolean {
    if (!this.view || viewId <= this.view.id + MAX_VIEW_LEAD) return true;
    this.c.refused++;
    return false;
  }

  /**
   * A message of our view and epoch from `from`, a member of it. Notes it in our lineage (see
   * {@link heardInLineage}) and weighs it against a claim that it is in a later view: without a
   * key, one forged Heartbeat of the next view id in the coordinator's name made every member
   * take itself for left behind and stop (FINDINGS 196). A member that really moved on sends no
   * more of our view's messages; a few sent before it moved may still arrive late, but not a run
   * of them spanning several heartbeat intervals.
   */
  heard(from: MemberId): void {
    this.heardInLineage.add(from);
    if (!this.aheadFrom.has(from)) return;
    const now = this.ctx.now();
    const first = this.refuting.get(from);
    if (first === undefined) {
      this.refuting.set(from, now);
      return;
    }
    if (now - first < REFUTE_HEARTBEATS * this.o.heartbeatMs) return;
    // Refuted. Its claims count for nothing for a while (else one every heartbeat would keep the
    // run from ever spanning enough), and the wait that it started or joined starts again from
    // the claims that come next: a forger naming several members cannot keep one going.
    this.refuting.delete(from);
    this.aheadFrom.delete(from);
    this.refutedUntil.set(from, now + this.o.suspectMs);
    this.c.refused++;
    if (this.behindSince === undefined) return;
    this.behindSince = undefined;
    this.ctx.clearTimer('behind');
  }

  /** Whether the members seen ahead are enough to take ourselves for left behind (noteAhead). */
  private aheadEnough(): boolean {
    if (!this.view) return false;
    const coordinator = this.coordinatorId();
    return (
      this.aheadFrom.size >= Math.min(2, this.view.members.length - 1) ||
      (coordinator !== undefined && this.aheadFrom.has(coordinator))
    );
  }

  /**
   * A member of our view is in a later view we never got: we were left behind (excluded). It
   * takes two members showing it (one in a view of two), or our coordinator: one other
   * sender's claim, forged or not, does not stop a member.
   */
  noteAhead(from: MemberId): void {
    if (!this.view) return;
    if (this.rank(from) < 0) {
      // A joiner of a view we answered FlushOk to, already in a later view: that view may have
      // been installed without us (our Install lost, its coordinator silent since), and with
      // fan-out our heartbeats reach only our own view's members, so no member of it learns that
      // we wait (RPC seed 93100011). Ask it; it counts for nothing else: it is no member of ours.
      const address = this.participant.answeredAddress(from);
      if (address) this.askInstall(from, address, this.askedJoiners);
      return;
    }
    if (this.ctx.now() < (this.refutedUntil.get(from) ?? Number.NEGATIVE_INFINITY)) return;
    this.askInstall(from, this.view.addresses[this.rank(from)], this.aheadFrom);
    if (this.behindSince !== undefined) return;
    // Our coordinator alone is enough: it is the one that installs views (and if a FlushOk
    // switch left it alone in a view of its own, we must not wait for it forever).
    if (!this.aheadEnough()) return;
    this.behindSince = this.ctx.now();
    this.ctx.setTimer('behind', this.o.suspectMs);
  }

  /**
   * Asks `member`, seen in a later view, for that view's Install: a Join from a member of its
   * view makes it send the Install again (Coordinator.onJoin). Else only the two lowest-ranked
   * members answering our old view's heartbeats resend it, and with both paused or slow this
   * member gave up as left behind though the view included it (session 22's class E, seeds
   * 144300047 and 144400452). Once per `joinRetryMs` per member, as the resend is limited there.
   */
  private askInstall(member: MemberId, address: string | undefined, asked: Map<MemberId, number>): void {
    const now = this.ctx.now();
    const last = asked.get(member) ?? Number.NEGATIVE_INFINITY;
    asked.set(member, last); // counted as ahead whether or not it is asked
    if (now - last < this.o.joinRetryMs) return;
    if (!address || isWildcard(address)) return;
    asked.set(member, now);
    this.probe(address, joinHeader.encode({ vote: '', nonce: '', counts: false, challenge: '', echo: [] }));
  }
}
