import { createHmac } from 'node:crypto';
import type { MemberId } from '../../stack/member.js';
import { type LayerContext, type Msg, pushHeader, type View } from '../../stack/types.js';
import type { ViewClaims } from './claims.js';
import { GmsKind, type InstallHeader, viewTagHeader } from './codec.js';
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
  /** The Install that made the current view (kept while it is current): sent again to a listed
   * member that still Joins, as its copy was lost (see Coordinator.onJoin). */
  installed: InstallHeader | undefined;
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
    /** Pings sent to members whose heartbeat said they are stuck (only a Pong confirms it). */
    stuckProbes: 0,
    forwards: 0,
    suspicions: 0,
    futureDropped: 0,
    refused: 0,
    joinsRefused: 0,
    /** Joins to this coordinator whose nonce was not the one it sent to that id and address. */
    joinsUnproven: 0,
    /**
     * Word of a group (Here, Lineage) this joiner did not let hold back founding: from an address
     * that never answered its Joins' challenge within 2 × suspectMs (GroupWord.credit).
     */
    claimsUnproven: 0,
    /** Proofs of an address (a Here's or a Join's echo) that pinned nothing: a Here outside the
     * anchors with seeds, or a pin made elsewhere already (JoinPins.pin). */
    pinsRefused: 0,
    /** Installs of a running group refused while joining: their sender's Here proved no address. */
    installsUnproven: 0,
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
  claims!: ViewClaims;

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

  /**
   * The number this member's next reliable cast carries (the reliable layer's answer to a
   * `castNext` event, given before passDown returns; see {@link Gms.up}): a Join carries it, and
   * a Digest when this member has cast nothing yet, so that others start its cast stream there
   * (`expect`) rather than ask an address nothing pins yet (FINDINGS 215). Undefined when the
   * layer below gives none.
   */
  castNext(): number | undefined {
    this.castNextHeard = undefined;
    this.ctx.passDown({ type: 'castNext' });
    return this.castNextHeard;
  }
  /** Set by the `castNext` up event (see {@link castNext}). */
  castNextHeard: number | undefined;

  /** See the `pin` down event: `member` proved it receives at `address` (FINDINGS 215). */
  pin(member: MemberId, address: string): void {
    this.ctx.passDown({ type: 'pin', member, address });
  }

  probe(to: string | null, header: unknown[]): void {
    this.ctx.passDown({ type: 'probe', to, msg: { headers: [header], payload: EMPTY } });
  }

  /**
   * A challenge to `address` that only a host receiving our packets there learns (a Join carries
   * it; the Here that answers echoes it): an HMAC of `purpose`, our id, `scope` (a join attempt, a
   * view) and the address, under the join secret (`Group`: 32 random bytes a process; a bare
   * stack without one uses its own id: tests only). Not drawn from the stack's random source: a
   * draw there would shift every later one, and with them every simulator seed that pins a scenario.
   */
  challenge(purpose: string, scope: number, address: string, hexDigits = 8): string {
    return createHmac('sha256', this.o.joinSecret ?? this.self)
      .update(`${purpose}|${this.self}|${scope}|${address}`)
      .digest('hex')
      .slice(0, hexDigits);
  }

  /**
   * This member's report nonce for its view: its heartbeats carry it, and a Suspect report to it
   * counts only when it echoes it. A Suspect is a datagram (it must not arrive late as if fresh),
   * so without a key anyone spoofing a member's address could send one in its name: 16 of them,
   * renewed for `partitionMs`, excluded a member that ran (review37). The heartbeats go to the
   * view's members only, so a forger off their path never learns it. No random draw (see
   * {@link challenge}); cached per view.
   */
  reportNonce(): string | undefined {
    const v = this.view;
    if (!v) return undefined;
    if (this.nonceOf?.viewId !== v.id || this.nonceOf.epoch !== this.epoch)
      this.nonceOf = {
        viewId: v.id,
        epoch: this.epoch,
        // 64 bits: it lives as long as the view, and one Suspect that guesses it (with a `heldMs`
        // past `partitionMs`) excludes a member; 32 bits take 2^31 guesses on average.
        nonce: this.challenge('report', v.id, String(this.epoch), 16),
      };
    return this.nonceOf.nonce;
  }
  private nonceOf: { viewId: number; epoch: number; nonce: string } | undefined;

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
}
