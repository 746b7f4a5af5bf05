import { headerTuple, headerUint } from '../stack/header.js';
import { type MemberId, memberId } from '../stack/member.js';
import type { Stack } from '../stack/stack.js';
import type { DownEvent, Effect, Msg, QoS, UpEvent, View, ViewDelta } from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import { GroupKind, StateReceiver, StateSender } from './state-transfer.js';
import type { Delivery, StateProvider, Suspicion, ViewChange } from './types.js';

/** What the application sees, in order. */
export type AppEvent =
  | { type: 'deliver'; delivery: Delivery }
  | { type: 'view'; change: ViewChange }
  | { type: 'suspect'; suspicion: Suspicion }
  | { type: 'block' }
  | { type: 'stable'; seqs: ReadonlyMap<MemberId, number> }
  | { type: 'partitioned'; viewId: number; reason: string }
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
}

/** Default of {@link CoreConfig.stateStallMs}. */
export const STATE_STALL_MS = 10_000;

const EMPTY = new Uint8Array(0);

/**
 * The sans-IO heart of a group member, above the protocol stack: application headers, state
 * transfer at the join point, and holding back deliveries until a joiner's state is in. The
 * real driver ({@link Group}) and the simulator run this same code.
 */
export class MemberCore {
  private stack!: Stack;
  private inc = 0;
  private member: MemberId = '';
  private installed: View | undefined;
  private readonly senders = new Map<MemberId, StateSender>();
  private receiver: StateReceiver | undefined;
  /** Who sends this joiner its state: the first veteran of the joiner's first view. */
  private provider: MemberId | undefined;
  /** Application events held while a joiner waits for its state. */
  private held: AppEvent[] | undefined;
  /** When this joiner's state transfer last made progress (or began). */
  private stateProgressAt = 0;
  /** When this joiner's state transfer began (its first view). */
  private stateStartedAt = 0;
  /** This incarnation gave up (its state transfer stalled): it does nothing until `start()`. */
  private halted = false;
  private out: CoreEffect[] = [];
  private now = 0;

  constructor(private readonly cfg: CoreConfig) {}

  get self(): MemberId {
    return this.member;
  }

  get view(): View | undefined {
    return this.installed;
  }

  /** Start a new incarnation and ask to join. */
  start(now: number): CoreEffect[] {
    this.inc++;
    this.halted = false;
    this.member = memberId({ node: this.cfg.node, inc: this.inc });
    this.installed = undefined;
    this.senders.clear();
    this.receiver = undefined;
    this.held = undefined;
    this.stack = this.cfg.makeStack(this.member);
    return this.call(now, () => this.down({ type: 'join' }));
  }

  cast(payload: Uint8Array, qos: QoS, now: number): CoreEffect[] {
    if (this.halted) return [];
    return this.call(now, () =>
      this.down({ type: 'cast', msg: { headers: [[GroupKind.App]], payload }, qos }),
    );
  }

  send(to: MemberId, payload: Uint8Array, now: number): CoreEffect[] {
    if (this.halted) return [];
    return this.call(now, () => this.sendKind(to, [GroupKind.App], payload));
  }

  leave(now: number): CoreEffect[] {
    return this.call(now, () => this.down({ type: 'leave' }));
  }

  receive(bytes: Uint8Array, from: string, now: number): CoreEffect[] {
    if (this.halted) return [];
    return this.call(now, () => this.consume(this.stack.receive(bytes, from, now)));
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
    if (!this.receiver) return d;
    const stall = this.stateProgressAt + this.stallMs;
    return d === undefined ? stall : Math.min(d, stall);
  }

  private get stallMs(): number {
    return this.cfg.stateStallMs ?? STATE_STALL_MS;
  }

  private checkStateStall(): void {
    if (!this.receiver || this.now < this.stateProgressAt + this.stallMs) return;
    const viewId = this.receiver.viewId;
    this.receiver = undefined;
    this.held = undefined;
    // The incarnation ends here, silent: without the state it must not deliver, and staying in
    // the view would let it hold locks and be waited for. The others remove it as failed.
    this.halted = true;
    this.out.push({
      kind: 'app',
      event: {
        type: 'partitioned',
        viewId,
        reason: `state transfer stalled: nothing from ${this.provider} for ${this.stallMs} ms`,
      },
    });
  }

  stats(): Record<string, Record<string, number>> {
    return { ...this.stack.stats(), group: { refused: this.refused } };
  }

  private call(now: number, fn: () => void): CoreEffect[] {
    this.now = now;
    fn();
    const out = this.out;
    this.out = [];
    return out;
  }

  private down(ev: DownEvent): void {
    this.consume(this.stack.down(ev, this.now));
  }

  private sendKind(to: MemberId, header: unknown[], payload: Uint8Array = EMPTY): void {
    this.down({ type: 'send', to, msg: { headers: [header], payload }, qos: { order: 'fifo' } });
  }

  private consume(effects: Effect[]): void {
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

  /** Group-level messages refused as malformed. */
  refused = 0;

  private app(event: AppEvent): void {
    if (this.held && event.type !== 'partitioned' && event.type !== 'left') this.held.push(event);
    else this.out.push({ kind: 'app', event });
  }

  private onUp(ev: UpEvent): void {
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
      case 'block':
        this.app({ type: 'block' });
        return;
      case 'stable':
        this.app({ type: 'stable', seqs: ev.seqs });
        return;
      case 'partitioned':
        this.app({ type: 'partitioned', viewId: ev.viewId, reason: ev.reason });
        return;
      case 'left':
        this.app({ type: 'left' });
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
    const h = headerTuple(msg.headers[0], 'group', 1);
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
            ...(gseq !== undefined ? { gseq } : {}),
          },
        });
        return;
      case GroupKind.StateChunk: {
        if (!this.receiver) return;
        const v = headerUint(h[1], 'group', 'viewId');
        const index = headerUint(h[2], 'group', 'index');
        const count = headerUint(h[3], 'group', 'count');
        const before = this.receiver.received;
        const state = this.receiver.accept(v, index, count, msg.payload);
        if (this.receiver.received > before) this.stateProgressAt = this.now;
        this.sendKind(from, [GroupKind.StateAck, v, this.receiver.received]);
        if (state) this.restored(state);
        return;
      }
      case GroupKind.StateAck: {
        const s = this.senders.get(from);
        if (!s || headerUint(h[1], 'group', 'viewId') !== s.viewId) return;
        s.ack(headerUint(h[2], 'group', 'received'));
        this.pump(s);
        return;
      }
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `group: unknown message kind ${kind}`);
    }
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
        this.held = [];
        this.app({ type: 'view', change });
        return;
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
      const take = (now: number) =>
        this.call(now, () => {
          const snapshot = state.snapshot();
          for (const j of change.joined) {
            // A later view came first: this snapshot is not the joiners' start any more. They are
            // not rescued here; they wait, and a joiner whose provider leaves starts over.
            if (this.installed?.id !== view.id) return;
            const s = new StateSender(j, view.id, snapshot);
            this.senders.set(j, s);
            this.pump(s);
          }
        });
      this.app({ type: 'snapshot', take });
    }
    if (this.receiver && !view.members.includes(this.provider!)) {
      // Whoever was sending our state is gone before finishing: the join point is lost with it.
      this.out.push({
        kind: 'app',
        event: { type: 'partitioned', viewId: view.id, reason: 'state provider left' },
      });
      return;
    }
    this.app({ type: 'view', change });
  }

  private restored(state: Uint8Array): void {
    this.cfg.state!.restore(state);
    const held = this.held ?? [];
    this.held = undefined;
    this.receiver = undefined;
    for (const ev of held) this.out.push({ kind: 'app', event: ev });
    const restored = { bytes: state.length, ms: this.now - this.stateStartedAt };
    this.out.push({ kind: 'app', event: { type: 'ready', restored } });
  }
}
