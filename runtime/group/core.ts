import { StateBusyError } from '../errors.js';
import { fnv1a } from '../stack/hash.js';
import { headerTuple, headerUint } from '../stack/header.js';
import { type MemberId, memberId } from '../stack/member.js';
import type { Stack } from '../stack/stack.js';
import {
  type DownEvent,
  type Effect,
  firstHeader,
  type LastView,
  type Msg,
  message,
  type QoS,
  type UpEvent,
  type View,
  type ViewDelta,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import { GroupKind, STATE_WINDOW, StateReceiver, StateSender, stateWindowFor } from './state-transfer.js';
import type { Delivery, Lagging, LineageYield, StateProvider, Suspicion, ViewChange } from './types.js';

/** What the application sees, in order. */
export type AppEvent =
  | { type: 'deliver'; delivery: Delivery }
  | { type: 'view'; change: ViewChange }
  | { type: 'suspect'; suspicion: Suspicion }
  | { type: 'lagging'; lagging: Lagging }
  | { type: 'block' }
  | { type: 'stable'; seqs: ReadonlyMap<MemberId, number> }
  /** `code` is set when the member gave up for a reason its driver should report as an error:
   * `STATE_PROVIDER_FAILED` (the provider could not take its snapshot), `STATE_REJECTED` (the
   * provider's snapshot failed to restore here), `STATE_OFFER_MISSING` (a co-founder cast no
   * state offer: it has no state provider while this member has one), `STATE_BUSY` (the provider
   * has no state to give yet: not an error for a driver that rejoins, which joins again). */
  | {
      type: 'partitioned';
      viewId: number;
      reason: string;
      code?: StateErrorCode;
      yielded?: LineageYield;
      /** Set by the Group, not the core: when the driver starts rejoining (rejoin damping). */
      rejoinInMs?: number;
    }
  /** The first view is installed and, for a joiner, the state restored (its size, and the time
   * from the joiner's first view until it was in): the member is ready. */
  | { type: 'ready'; restored?: { bytes: number; ms: number } }
  /**
   * Take the state snapshot for joiners now. The driver calls `take` when it reaches this
   * event, after it applied every earlier delivery, so the snapshot holds exactly the old
   * view's messages; `take` returns the effects that start streaming it.
   */
  | { type: 'snapshot'; take: (now: number) => CoreEffect[] }
  | { type: 'left' };

/** Effects of the member core: the stack's network effects plus application events. */
export type CoreEffect = Exclude<Effect, { kind: 'up' }> | { kind: 'app'; event: AppEvent };

export interface CoreConfig {
  groupName: string;
  /** This node's id; each (re)start is a new incarnation of it, hence a new member. */
  node: number;
  /** Builds the protocol stack for one incarnation. */
  makeStack: (self: MemberId) => Stack;
  state?: StateProvider;
  /**
   * A joiner whose state transfer makes no progress for this long (ms) gives up and reports
   * `partitioned` (reason `state transfer stalled`), so its driver rejoins as a new member:
   * chunks are point-to-point messages, reliable only within a view, and a provider that took
   * its snapshot after a newer view has none to send. Default 10 000.
   */
  stateStallMs?: number;
  /** The transport's receive buffer in bytes, if known (`Transport.receiveBuffer`): as a joiner,
   * this member asks its state provider for as many chunks in flight as it holds. */
  receiveBuffer?: number;
}

/** Default of {@link CoreConfig.stateStallMs}. */
export const STATE_STALL_MS = 10_000;

/** Why a joiner's state transfer failed for good (see the `partitioned` app event). */
export type StateErrorCode =
  | 'STATE_PROVIDER_FAILED'
  | 'STATE_REJECTED'
  | 'STATE_OFFER_MISSING'
  | 'STATE_BUSY';

/**
 * Where a state provider's state stands in the group's history, to choose the state a
 * re-founded group starts from (docs/protocol.md, "Re-founding"):
 * - `era` counts the foundings of the group this state comes from (0: it never was in one);
 * - `lineage` names the founding that started that group (a hash of its founder's member id);
 * - `viewId`/`epoch`: the last view whose installation it reflects;
 * - `ordered`: the total-order deliveries of that view it reflects;
 * - `silentMs`: how long ago (this member's monotonic clock) the state last moved: a view or a
 *   total-order delivery reached the application.
 */
export interface HistoryPosition {
  era: number;
  lineage: number;
  viewId: number;
  epoch: number;
  ordered: number;
  silentMs: number;
}

const NO_HISTORY: HistoryPosition = { era: 0, lineage: 0, viewId: 0, epoch: 0, ordered: 0, silentMs: 0 };

/**
 * Negative, zero or positive as `a` is behind, level with or ahead of `b` in one lineage's
 * history (a position with no history is behind any): a later founding, then a later view, then
 * the higher epoch, then the longer prefix of the view's order. When each member last moved does
 * not count here: the one that delivered one cast more may have done so a moment before the
 * other's last delivery.
 */
export function compareHistory(a: HistoryPosition, b: HistoryPosition): number {
  return a.era - b.era || a.viewId - b.viewId || a.epoch - b.epoch || a.ordered - b.ordered;
}

/** Longest `silentMs` an offer states: a history that yielded to another lineage says this. */
export const SUPERSEDED_MS = 2 ** 31 - 1;

/**
 * The offer a re-founded group starts from (its index in `offers`, ties to the lowest), in two
 * steps. First the lineage: of the lineages offered, the one whose state moved most recently
 * (its offers' lowest `silentMs`). Two lineages are not steps of one history: a second exists
 * only because a member that crashed forgot the first (no persistence) and founded again without
 * it, usually after the first lost its majority; their view ids, epochs and even eras say nothing
 * of which came later, and the later one's clients got the last replies (FINDINGS 50). Elapsed
 * times compare across processes without synchronized clocks. Then, in that lineage, the most
 * advanced offer ({@link compareHistory}). Comparing pairs with one mixed rule was not
 * transitive (A ahead of B in one lineage, B more recent than C, C more recent than A), so the
 * choice depended on the founders' order.
 */
export function chooseSource(offers: readonly HistoryPosition[]): number {
  const key = (h: HistoryPosition) => `${h.era}/${h.lineage}`;
  const latest = new Map<string, HistoryPosition>();
  for (const h of offers) {
    if (h.era === 0) continue;
    const k = key(h);
    const l = latest.get(k);
    if (!l || h.silentMs < l.silentMs) latest.set(k, h);
  }
  let lineage: string | undefined;
  let best: HistoryPosition | undefined;
  for (const [k, h] of latest)
    if (
      !best ||
      h.silentMs < best.silentMs ||
      (h.silentMs === best.silentMs && compareHistory(h, best) > 0)
    ) {
      best = h;
      lineage = k;
    }
  let source = 0;
  offers.forEach((h, i) => {
    const s = offers[source]!;
    const inLineage = lineage === undefined || key(h) === lineage;
    const sourceIn = lineage === undefined || key(s) === lineage;
    if (inLineage && (!sourceIn || compareHistory(h, s) > 0)) source = i;
  });
  return source;
}

/** The lineage id of a founding by `founder` (FNV-1a of its member id, never 0). */
export function lineageOf(founder: MemberId): number {
  return fnv1a(founder) || 1;
}

/** A provider's position as stored: `silentMs` is kept as the local time it last moved. */
type StoredHistory = Omit<HistoryPosition, 'silentMs'> & { movedAt: number };

/**
 * The position of each provider's state. It belongs to the state, not to the core that drives
 * it: the `Group` driver keeps one core for all its incarnations, the simulator makes one per
 * incarnation, and either way a provider that comes back carries its history with it.
 */
const histories = new WeakMap<StateProvider, StoredHistory>();

/**
 * The history position of `provider`'s state at local time `now` (all zero before it ever held
 * a group's state).
 */
export function historyOf(provider: StateProvider, now: number): HistoryPosition {
  const h = histories.get(provider);
  if (!h) return { ...NO_HISTORY };
  const { movedAt, ...rest } = h;
  return { ...rest, silentMs: Math.min(SUPERSEDED_MS, Math.max(0, Math.round(now - movedAt))) };
}

/** A founding view whose co-founders have not yet agreed on the state to start from. */
interface Founding {
  viewId: number;
  /** The founding view's members, in rank order. */
  founders: readonly MemberId[];
  /** Offers delivered so far, in the total order. */
  offers: Map<MemberId, HistoryPosition>;
  /** When the founding began or last got an offer or a view (see {@link MemberCore.checkStateStall}). */
  progressAt: number;
  /** State chunks that arrived before the decision, by sender (a window's worth at most). */
  early: Map<MemberId, { h: unknown[]; payload: Uint8Array }[]>;
  /** Set by the decision. */
  source?: MemberId;
  era?: number;
  lineage?: number;
}

const EMPTY = new Uint8Array(0);
/** The header of an application message: one array for all (nothing writes to a header). */
const APP: readonly unknown[] = Object.freeze([GroupKind.App]);

/**
 * The sans-IO heart of a group member, above the protocol stack: application headers, state
 * transfer at the join point, and holding back deliveries until a joiner's state is in. The
 * real driver ({@link Group}) and the simulator run this same code.
 */
export class MemberCore {
  private stack!: Stack;
  private inc = 0;
  private member: MemberId = '';
  /** The view this process was last in, for its next incarnation's join (see `start`). */
  private lastView: LastView | undefined;
  private installed: View | undefined;
  private readonly senders = new Map<MemberId, StateSender>();
  private receiver: StateReceiver | undefined;
  /** Who sends this joiner its state: the first veteran of the joiner's first view, or the
   * co-founder chosen by a founding. Chunks from anyone else are refused. */
  private provider: MemberId | undefined;
  /** Era and lineage of the provider whose chunks are arriving. */
  private providerEra = 0;
  private providerLineage = 0;
  /** The origin of the state arriving (its chunks' `origin`; the provider when they carry none). */
  private providerOrigin: MemberId | undefined;
  private founding: Founding | undefined;
  /** The era and lineage of the group this incarnation belongs to, once its state is settled. */
  private era = 0;
  private lineage = 0;
  /** Whether `era` and `lineage` are this incarnation's (its state settled), not an earlier one's. */
  private historySettled = false;
  /** Application events held while a joiner waits for its state. */
  private held: AppEvent[] | undefined;
  /** When this joiner's state transfer last made progress (or began). */
  private stateProgressAt = 0;
  /** When this joiner's state transfer began (its first view). */
  private stateStartedAt = 0;
  /** What the state transfer that just ended brought, for the `ready` event (observability). */
  private restoredSize: { bytes: number; ms: number } | undefined;
  /** This incarnation gave up (its state transfer stalled): it does nothing until `start()`. */
  private halted = false;
  /**
   * This incarnation was excluded or left (gms said so). Its stack runs on until the driver
   * starts the next one (after rejoin damping, up to 80 s), but what its layers judge of the view
   * it lost is moot: an excluded sequencer's lag reports named the live group's members as
   * `removing` (seen in `npm run chaos -- --lan --seed 7 --max-down 3`).
   */
  private ended = false;
  private out: CoreEffect[] = [];
  private now = 0;
  /** Membership's latest judgement of whether this member may speak to clients (see `speaks`). */
  private speaking = { speaking: true, stallMs: Number.POSITIVE_INFINITY };
  /** Total-order deliveries this incarnation handed to the application. */
  private ordered = 0;

  constructor(private readonly cfg: CoreConfig) {}

  get self(): MemberId {
    return this.member;
  }

  get view(): View | undefined {
    return this.installed;
  }

  /**
   * Which history of the group this incarnation's state belongs to: one number per founding
   * (its era and lineage), the same at every member whose state descends from that founding by
   * view changes and state transfers, and different after the group is founded again (a lost
   * majority, a blackout, a lineage that yielded to another). Undefined until this
   * incarnation's state is settled (founded, or restored from its provider), and without a state
   * provider. What an RPC client needs to tell a `not-found` of the history it sent a request in
   * from one of a later history (docs/rpc.md, "When the whole group loses its majority").
   */
  get history(): number | undefined {
    if (!this.historySettled) return undefined;
    // 21 bits of era and 32 of lineage: an exact integer in a float64.
    return (this.era % 2 ** 21) * 2 ** 32 + this.lineage;
  }

  /**
   * Whether this member may answer clients for its group's history at `now`: membership says so
   * (the `speaking` event), and the stack's timers are not overdue past its stall bound. The
   * second part holds when the process just woke from a long stop and something above (an
   * async method settling, a client packet) runs before the stack's timers have: the stack has
   * not seen the stop yet.
   */
  speaks(now: number): boolean {
    if (this.halted || this.ended || !this.installed || !this.speaking.speaking) return false;
    const due = this.stack.nextDeadline();
    return due === undefined || now - due <= this.speaking.stallMs;
  }

  /**
   * The view this process is in, or was last in: what a restarted process should remember
   * (`Group` keeps it in its membership file). Undefined before any view.
   */
  memory(): LastView | undefined {
    if (this.installed)
      return { members: this.installed.members, addresses: this.installed.addresses, self: this.member };
    return this.lastView;
  }

  /**
   * Before the first `start`: the view an earlier process at this address was last in (read from
   * its membership file), so the bootstrap vote treats this process as one that was in it.
   */
  remember(last: LastView): void {
    if (this.inc === 0) this.lastView = last;
  }

  /** Start a new incarnation and ask to join; with `admitAfter` (a damped rejoin), ask no running
   * group to admit it before then (see the `join` event). */
  start(now: number, admitAfter?: number): CoreEffect[] {
    this.inc++;
    this.halted = false;
    this.ended = false;
    // The view this process was last in: kept across incarnations that never got one (a
    // founding that never started), so one failed attempt does not make it forget.
    if (this.installed)
      this.lastView = {
        members: this.installed.members,
        addresses: this.installed.addresses,
        self: this.member,
      };
    const lastView = this.lastView;
    this.member = memberId({ node: this.cfg.node, inc: this.inc });
    this.installed = undefined;
    this.senders.clear();
    this.receiver = undefined;
    this.held = undefined;
    this.founding = undefined;
    this.historySettled = false;
    this.ordered = 0;
    this.speaking = { speaking: true, stallMs: Number.POSITIVE_INFINITY };
    this.stack = this.cfg.makeStack(this.member);
    return this.call(now, () =>
      this.down({
        type: 'join',
        ...(lastView ? { lastView } : {}),
        ...(admitAfter !== undefined ? { admitAfter } : {}),
      }),
    );
  }

  cast(payload: Uint8Array, qos: QoS, now: number): CoreEffect[] {
    if (this.halted) return [];
    // call() spelled out, here and in receive: a closure per cast and per packet otherwise.
    this.now = now;
    this.down({ type: 'cast', msg: message(payload, APP), qos });
    return this.taken();
  }

  send(to: MemberId, payload: Uint8Array, now: number): CoreEffect[] {
    if (this.halted) return [];
    return this.call(now, () => this.sendKind(to, APP, payload));
  }

  leave(now: number): CoreEffect[] {
    return this.call(now, () => this.down({ type: 'leave' }));
  }

  receive(bytes: Uint8Array, from: string, now: number): CoreEffect[] {
    if (this.halted) return [];
    this.now = now;
    this.consume(this.stack.receive(bytes, from, now));
    return this.taken();
  }

  advance(now: number): CoreEffect[] {
    if (this.halted) return [];
    return this.call(now, () => {
      this.consume(this.stack.advance(now));
      this.checkStateStall();
    });
  }

  nextDeadline(): number | undefined {
    if (this.halted) return undefined;
    const d = this.stack.nextDeadline();
    const f = this.founding;
    const since = this.receiver ? this.stateProgressAt : f && !f.source ? f.progressAt : undefined;
    if (since === undefined) return d;
    const stall = since + this.stallMs;
    return d === undefined ? stall : Math.min(d, stall);
  }

  private get stallMs(): number {
    return this.cfg.stateStallMs ?? STATE_STALL_MS;
  }

  private checkStateStall(): void {
    const f = this.founding;
    if (f && !f.source && !this.receiver && this.now >= f.progressAt + this.stallMs) {
      // Offers are total-order casts, delivered within the view or their caster is removed: a
      // founder whose offer never comes has no state provider (docs/protocol.md, "Re-founding").
      const silent = f.founders.filter((m) => this.installed?.members.includes(m) && !f.offers.has(m));
      this.giveUp(
        f.viewId,
        `founding stalled: no state offer from ${silent.join(', ')} for ${this.stallMs} ms ` +
          '(every member of a group needs a state provider, or none)',
        'STATE_OFFER_MISSING',
      );
      return;
    }
    if (!this.receiver || this.now < this.stateProgressAt + this.stallMs) return;
    this.giveUp(
      this.receiver.viewId,
      `state transfer stalled: nothing from ${this.provider} for ${this.stallMs} ms`,
    );
  }

  /**
   * Ends an incarnation still waiting for its state. It stays silent: without the state it must
   * not deliver, and staying in the view would let it hold locks and be waited for. The others
   * remove it as failed; its driver may start a new incarnation.
   */
  private giveUp(viewId: number, reason: string, code?: StateErrorCode): void {
    this.receiver = undefined;
    this.held = undefined;
    this.founding = undefined;
    this.halted = true;
    this.out.push({
      kind: 'app',
      event: { type: 'partitioned', viewId, reason, ...(code ? { code } : {}) },
    });
  }

  /** Packets `com` has taken so far (authenticated, when there is a key). */
  comReceived(): number {
    return this.stack.statsOf('com')?.received ?? 0;
  }

  stats(): Record<string, Record<string, number>> {
    return {
      ...this.stack.stats(),
      group: { refused: this.refused, snapshotFailed: this.snapshotFailed },
    };
  }

  private call(now: number, fn: () => void): CoreEffect[] {
    this.now = now;
    fn();
    return this.taken();
  }

  /** The effects gathered so far, handed over. */
  private taken(): CoreEffect[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private down(ev: DownEvent): void {
    this.consume(this.stack.down(ev, this.now));
  }

  private sendKind(to: MemberId, header: readonly unknown[], payload: Uint8Array = EMPTY): void {
    this.down({ type: 'send', to, msg: message(payload, header), qos: { order: 'fifo' } });
  }

  /**
   * Handles a stack run's effects in order. A down event this core issues while it handles them
   * (a founder's state offer, a state chunk or ack) runs the stack again, and that run may
   * deliver too (pack sends a full batch at once, and a cast loops back): its effects come after
   * the rest of the earlier run's and wait for them. Handled at once, they overtook them: a
   * founder delivered its own casts out of FIFO order (FINDINGS 126).
   */
  private consume(effects: Effect[]): void {
    if (this.handling) {
      this.later.push(effects);
      return;
    }
    this.handling = true;
    try {
      this.handle(effects);
      // Nested runs may queue more while these are handled: in order, until none is left.
      for (let i = 0; i < this.later.length; i++) this.handle(this.later[i]!);
    } finally {
      this.handling = false;
      this.later.length = 0;
    }
  }

  /** Handling a run's effects: a nested run's wait in `later` (see `consume`). */
  private handling = false;
  /** Effects of stack runs issued while earlier ones are handled; reused, so a run allocates nothing. */
  private readonly later: Effect[][] = [];

  private handle(effects: Effect[]): void {
    for (const e of effects) {
      if (e.kind !== 'up') {
        this.out.push(e);
        continue;
      }
      try {
        this.onUp(e.event);
      } catch (error) {
        // A malformed group-level header from a member is refused like any bad input; anything
        // else is a bug, reported and never thrown into the driver.
        if (error instanceof DecodeError) this.refused++;
        else this.out.push({ kind: 'error', layer: 'group', error });
      }
    }
  }

  /** Group-level messages refused: malformed, or state chunks from a member that is not the provider. */
  refused = 0;
  /** Snapshots this member failed to take for a joiner (the provider's `snapshot()` threw). */
  snapshotFailed = 0;

  private app(event: AppEvent): void {
    if (this.held && event.type !== 'partitioned' && event.type !== 'left') this.held.push(event);
    else this.emit(event);
  }

  /** Hands an event to the driver, keeping the provider's history position in step with what it was given. */
  private emit(event: AppEvent): void {
    if (event.type === 'deliver' && !event.delivery.p2p && event.delivery.qos.order === 'total')
      this.ordered++;
    const state = this.cfg.state;
    if (state && (event.type === 'view' || event.type === 'deliver')) {
      if (event.type === 'view') {
        const v = event.change.view;
        histories.set(state, {
          era: this.era,
          lineage: this.lineage,
          viewId: v.id,
          epoch: v.epoch ?? 0,
          ordered: 0,
          movedAt: this.now,
        });
      } else if (!event.delivery.p2p && event.delivery.qos.order === 'total') {
        const h = histories.get(state);
        if (h) {
          h.ordered++;
          h.movedAt = this.now;
        }
      }
    }
    this.out.push({ kind: 'app', event });
  }

  private onUp(ev: UpEvent): void {
    // A core that gave up hands nothing more to its application: events the stack produced in
    // the same run, after the stop, belong to a view this incarnation has left.
    if (this.halted) return;
    switch (ev.type) {
      case 'deliver':
        this.onDeliver(ev.msg, ev.from, ev.cast, ev.meta.viewId, ev.meta.gseq, ev.meta.qos);
        return;
      case 'view':
        this.onView(ev.view, ev.delta);
        return;
      case 'suspect':
        this.app({ type: 'suspect', suspicion: { member: ev.member, silentMs: ev.silentMs } });
        return;
      case 'lagging': {
        if (this.ended) return;
        const { member, lagMs, lagBytes, removing } = ev;
        this.app({ type: 'lagging', lagging: { member, lagMs, lagBytes, removing } });
        return;
      }
      case 'block':
        this.app({ type: 'block' });
        return;
      case 'stable':
        this.app({ type: 'stable', seqs: ev.seqs });
        return;
      case 'partitioned':
        this.ended = true;
        // Our lineage lost to another: its state is behind the winner's, however recently it
        // moved, and must not win a later re-founding with the winner's members (it would undo
        // the merge; rejoin damping can keep this member out of the winner for a while).
        if (ev.yielded && this.cfg.state) {
          const h = histories.get(this.cfg.state);
          if (h) h.movedAt = Number.NEGATIVE_INFINITY;
        }
        this.app({
          type: 'partitioned',
          viewId: ev.viewId,
          reason: ev.reason,
          ...(ev.yielded ? { yielded: { ...ev.yielded, discarded: this.ordered } } : {}),
        });
        return;
      case 'left':
        this.ended = true;
        this.app({ type: 'left' });
        return;
      case 'bound':
        // A founding view this joiner may be counted in: what it remembers until it installs one.
        if (!this.installed) this.lastView = ev.view;
        return;
      case 'speaking':
        this.speaking = { speaking: ev.speaking, stallMs: ev.stallMs };
        return;
      default:
        return;
    }
  }

  private onDeliver(
    msg: Msg,
    from: MemberId,
    cast: boolean,
    viewId: number | undefined,
    gseq: number | undefined,
    qos: QoS | undefined,
  ): void {
    const h = headerTuple(firstHeader(msg), 'group', 1);
    const kind = headerUint(h[0], 'group', 'kind');
    switch (kind) {
      case GroupKind.App:
        this.app({
          type: 'deliver',
          delivery: {
            payload: msg.payload,
            sender: from,
            qos: qos ?? { order: 'fifo' },
            viewId: viewId ?? this.installed?.id ?? 0,
            p2p: !cast,
            gseq,
          },
        });
        return;
      case GroupKind.StateChunk: {
        if (this.founding && !this.founding.source && !cast) {
          this.keepEarlyChunk(from, h, msg.payload);
          return;
        }
        if (!this.receiver || cast) return;
        // Only the chosen provider may fill this member's state.
        if (from !== this.provider) {
          this.refused++;
          return;
        }
        this.acceptChunk(from, h, msg.payload);
        return;
      }
      case GroupKind.StateAck: {
        const s = this.senders.get(from);
        if (!s || headerUint(h[1], 'group', 'viewId') !== s.viewId) return;
        s.ack(
          headerUint(h[2], 'group', 'received'),
          h.length > 3 ? headerUint(h[3], 'group', 'window') : undefined,
        );
        this.pump(s);
        return;
      }
      case GroupKind.StateOffer: {
        headerTuple(h, 'group', 7);
        const offer: HistoryPosition = {
          era: headerUint(h[1], 'group', 'era'),
          viewId: headerUint(h[2], 'group', 'viewId'),
          epoch: headerUint(h[3], 'group', 'epoch'),
          ordered: headerUint(h[4], 'group', 'ordered'),
          lineage: headerUint(h[5], 'group', 'lineage'),
          silentMs: headerUint(h[6], 'group', 'silentMs'),
        };
        if (!cast || qos?.order !== 'total')
          throw new DecodeError('DECODE_BAD_SHAPE', 'group: a state offer outside the total order');
        const f = this.founding;
        if (!f || f.source || !f.founders.includes(from) || f.offers.has(from)) return;
        f.offers.set(from, offer);
        f.progressAt = this.now;
        this.decideFounding();
        return;
      }
      case GroupKind.StateFail:
        if (cast) return;
        // Before this co-founder decided on the source (as its early chunks are kept).
        if (this.founding && !this.founding.source) this.keepEarlyChunk(from, h, msg.payload);
        else this.onStateFail(from, h);
        return;
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `group: unknown message kind ${kind}`);
    }
  }

  private acceptChunk(from: MemberId, h: unknown[], payload: Uint8Array): void {
    const receiver = this.receiver!;
    headerTuple(h, 'group', 6);
    const v = headerUint(h[1], 'group', 'viewId');
    const index = headerUint(h[2], 'group', 'index');
    const count = headerUint(h[3], 'group', 'count');
    const era = headerUint(h[4], 'group', 'era');
    const lineage = headerUint(h[5], 'group', 'lineage');
    const before = receiver.received;
    const state = receiver.accept(v, index, count, payload);
    if (receiver.received > before) {
      this.stateProgressAt = this.now;
      this.providerEra = era;
      this.providerLineage = lineage;
      // Optional (older providers send 6 elements): taken only when it is a member id, so a
      // later release may put something else there without failing the transfer.
      const origin = h[6];
      this.providerOrigin =
        typeof origin === 'string' && origin !== '' && origin.length <= 64 ? origin : from;
    }
    this.sendKind(from, [GroupKind.StateAck, v, receiver.received, stateWindowFor(this.cfg.receiveBuffer)]);
    if (state) this.restored(state);
  }

  /** A chunk from a co-founder that decided before us: kept until we decide (a window at most). */
  /** The provider could not take the snapshot for this member's view (StateFail). */
  private onStateFail(from: MemberId, h: unknown[]): void {
    if (!this.receiver || from !== this.provider) return;
    if (headerUint(h[1], 'group', 'viewId') !== this.receiver.viewId) return;
    // Busy: the provider will have the state later; the driver joins again (a first join too)
    // instead of failing, unless it does not rejoin (`onPartition: 'stop'`).
    const busy = h.length >= 3 && h[2] === 1;
    this.giveUp(
      this.receiver.viewId,
      `state provider ${from} ${busy ? 'has no state to give yet' : 'failed to take the snapshot'}`,
      busy ? 'STATE_BUSY' : 'STATE_PROVIDER_FAILED',
    );
  }

  private keepEarlyChunk(from: MemberId, h: unknown[], payload: Uint8Array): void {
    const f = this.founding!;
    const kept = f.early.get(from) ?? [];
    if (!f.founders.includes(from) || kept.length >= STATE_WINDOW) {
      this.refused++;
      return;
    }
    kept.push({ h, payload });
    f.early.set(from, kept);
  }

  private pump(s: StateSender): void {
    for (const [header, bytes] of s.pull()) this.sendKind(s.joiner, header, bytes);
    if (s.done) this.senders.delete(s.joiner);
  }

  private onView(view: View, delta: ViewDelta | undefined): void {
    const previous = this.installed;
    this.installed = view;
    const change: ViewChange = {
      view,
      previousId: delta?.previousId,
      joined: delta?.joined ?? [],
      left: delta?.left ?? [],
      failed: delta?.failed ?? [],
    };
    const state = this.cfg.state;
    if (!previous) {
      const veterans = view.members.filter((m) => !change.joined.includes(m));
      if (state && veterans.length > 0) {
        // A joiner of a running group: nothing is delivered until the state as of this view is in.
        this.receiver = new StateReceiver(view.id);
        this.stateProgressAt = this.now;
        this.stateStartedAt = this.now;
        this.provider = veterans[0];
        this.providerOrigin = undefined;
        this.held = [];
        this.app({ type: 'view', change });
        return;
      }
      if (state && view.members.length > 1) {
        this.startFounding(view, state);
        this.app({ type: 'view', change });
        return;
      }
      if (state) {
        this.era = historyOf(state, this.now).era + 1;
        this.lineage = lineageOf(view.members[0]!);
        this.historySettled = true;
      }
      this.app({ type: 'view', change });
      this.app({ type: 'ready' });
      return;
    }
    for (const j of [...this.senders.keys()]) if (!view.members.includes(j)) this.senders.delete(j);
    const veterans = view.members.filter((m) => !change.joined.includes(m));
    if (state && veterans[0] === this.member && change.joined.length > 0) {
      // Between the last delivery of the old view and the first of the new one: exactly the
      // joiners' starting point (taken when the driver gets here, see the 'snapshot' event).
      this.app({ type: 'snapshot', take: this.taker(view.id, change.joined, state) });
    }
    if (this.receiver && !view.members.includes(this.provider!)) {
      // Whoever was sending our state is gone before finishing: the join point is lost with it.
      this.giveUp(view.id, 'state provider left');
      return;
    }
    this.app({ type: 'view', change });
    // A co-founder gone before its offer was delivered: the others may now decide without it.
    if (this.founding && !this.founding.source) {
      this.founding.progressAt = this.now;
      this.decideFounding();
    }
  }

  /**
   * The 'snapshot' event's `take`: snapshots the state once and streams it to each of `to`
   * still in view `viewId`. A provider whose `snapshot()` throws stays up: the failure is
   * reported as an `error` effect and each joiner is told (StateFail) instead of waiting.
   */
  private taker(viewId: number, to: readonly MemberId[], state: StateProvider) {
    return (now: number) =>
      this.call(now, () => {
        // The driver takes this event in its place in the event stream, so the state is exactly
        // the joiners' start (view `viewId`'s), however many views the stack installed since: a
        // provider still in its founding hold releases the event only after later views. The
        // joiners expect `viewId`'s chunks; one no longer in the view is skipped below. (Skipping
        // the snapshot when a later view was installed left the first joiner after a founding
        // with no state: it gave up after stateStallMs and was removed, session 22's class A.)
        if (!this.installed) return;
        let snapshot: Uint8Array;
        let origin: MemberId;
        try {
          snapshot = state.snapshot();
          // Taken at the same point: whose state the snapshot is a copy of (this member's own
          // when it has none to name), so a joiner's copy is never counted as a second witness.
          origin = state.stateOrigin?.() ?? this.member;
          if (!(snapshot instanceof Uint8Array)) throw new TypeError('snapshot() did not return bytes');
        } catch (error) {
          this.snapshotFailed++;
          this.out.push({ kind: 'error', layer: 'group', error });
          const fail =
            error instanceof StateBusyError
              ? [GroupKind.StateFail, viewId, 1]
              : [GroupKind.StateFail, viewId];
          for (const j of to) this.sendKind(j, fail);
          return;
        }
        for (const j of to) {
          if (!this.installed.members.includes(j)) continue;
          const s = new StateSender(j, viewId, { era: this.era, lineage: this.lineage, origin }, snapshot);
          this.senders.set(j, s);
          this.pump(s);
        }
      });
  }

  /**
   * A founding view with co-founders: each may carry a different state (a group re-founded
   * after losing its majority; the same provider rejoins). Until they agree on one, nothing is
   * delivered: each casts its history position in the total order, and the decision is taken at
   * the same point of the order everywhere ({@link decideFounding}).
   */
  private startFounding(view: View, state: StateProvider): void {
    this.founding = {
      viewId: view.id,
      founders: [...view.members],
      offers: new Map(),
      progressAt: this.now,
      early: new Map(),
    };
    this.held = [];
    this.castOffer(historyOf(state, this.now));
  }

  private castOffer(h: HistoryPosition): void {
    const header = [GroupKind.StateOffer, h.era, h.viewId, h.epoch, h.ordered, h.lineage, h.silentMs];
    this.down({ type: 'cast', msg: { headers: [header], payload: EMPTY }, qos: { order: 'total' } });
  }

  /**
   * Decides, once every founder still in the view has its offer delivered: the source is the
   * offer {@link chooseSource} picks, ties to the lower rank in the founding view.
   * Offers and views are delivered in the same order at every member that gets here, so all
   * decide alike. The source streams its state to the other founders, who restore it; with no
   * history anywhere (a first founding) there is nothing to transfer.
   */
  private decideFounding(): void {
    const f = this.founding!;
    const view = this.installed!;
    const candidates = f.founders.filter((m) => view.members.includes(m));
    if (!candidates.every((m) => f.offers.has(m))) return;
    const source = candidates[chooseSource(candidates.map((m) => f.offers.get(m)!))]!;
    const best = f.offers.get(source)!;
    f.source = source;
    f.era = best.era + 1;
    f.lineage = lineageOf(f.founders[0]!);
    const state = this.cfg.state!;
    if (best.viewId === 0) {
      this.founded();
      return;
    }
    if (source === this.member) {
      // Sent before the held events are released: the founders' common starting point.
      this.out.push({
        kind: 'app',
        event: {
          type: 'snapshot',
          take: this.taker(
            view.id,
            candidates.filter((m) => m !== this.member),
            state,
          ),
        },
      });
      this.founded();
      return;
    }
    this.receiver = new StateReceiver(view.id);
    this.provider = source;
    this.providerOrigin = undefined;
    this.stateProgressAt = this.now;
    const early = f.early.get(source) ?? [];
    f.early.clear();
    for (const { h, payload } of early) {
      if (!this.receiver) break;
      try {
        if (h[0] === GroupKind.StateFail) this.onStateFail(source, h);
        else this.acceptChunk(source, h, payload);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        this.refused++;
      }
    }
  }

  /** The founders agreed and this member holds the agreed state: deliver from here on. */
  private founded(): void {
    const f = this.founding!;
    this.founding = undefined;
    this.era = f.era!;
    this.lineage = f.lineage!;
    this.historySettled = true;
    this.release();
  }

  private restored(state: Uint8Array): void {
    const provider = this.provider;
    const viewId = this.receiver!.viewId;
    try {
      this.cfg.state!.restore(state, { provider: provider!, origin: this.providerOrigin ?? provider! });
    } catch (error) {
      // The provider's state does not fit here (corrupt, or another version): never half a
      // member. The restore refused it whole (StateProvider contract); this incarnation ends.
      this.out.push({ kind: 'error', layer: 'group', error });
      const why = error instanceof Error ? error.message : 'restore threw';
      this.giveUp(viewId, `state from ${provider} rejected: ${why}`, 'STATE_REJECTED');
      return;
    }
    this.receiver = undefined;
    this.restoredSize = { bytes: state.length, ms: this.now - this.stateStartedAt };
    if (this.founding) {
      this.founded();
      return;
    }
    this.era = this.providerEra;
    this.lineage = this.providerLineage;
    this.historySettled = true;
    this.release();
  }

  /** Releases the events held while the state was being settled, then `ready`. */
  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const ev of held) this.emit(ev);
    const restored = this.restoredSize;
    this.restoredSize = undefined;
    this.emit(restored ? { type: 'ready', restored } : { type: 'ready' });
  }
}
