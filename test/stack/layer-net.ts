import type { LayerRegistry } from '../../runtime/stack/builder.js';
import { buildStack } from '../../runtime/stack/builder.js';
import { type MemberId, memberId } from '../../runtime/stack/member.js';
import { type RandomSource, seededRandom } from '../../runtime/stack/random.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { DownEvent, Effect, LayerFactory, LayerSpec, UpEvent, View } from '../../runtime/stack/types.js';
import { EventQueue } from '../sim/queue.js';

/**
 * A small deterministic network of stacks for layer tests: virtual time, one seeded random
 * source, optional loss, per-member records of what reached the top. Unlike the simulator's
 * World it lets a test install views, send any down event and reach each stack directly.
 */
export interface NetMember {
  index: number;
  id: MemberId;
  address: string;
  stack: Stack;
  ups: UpEvent[];
  errors: unknown[];
  /** Wake-up already queued for the stack's timers. */
  wakeAt: number;
  /** Packets to this member are dropped while true. */
  deaf: boolean;
}

export interface NetOptions {
  members: number;
  stack: readonly LayerSpec[];
  registry: LayerRegistry;
  seed?: number;
  /** Probability that one packet to one receiver is lost. */
  loss?: number;
  /** Probability that one packet from `src` to `dst` is lost, on top of `loss` (a bad link). */
  linkLoss?: (src: NetMember, dst: NetMember) => number;
  /** Keep delivered events at the top (turn off for long soak runs). */
  record?: boolean;
  /** Called for every event reaching the top of a member's stack. */
  onUp?: (m: NetMember, ev: UpEvent) => void;
}

export class Net {
  readonly queue = new EventQueue();
  readonly rng: RandomSource;
  readonly members: NetMember[] = [];
  now = 0;
  loss: number;

  constructor(readonly o: NetOptions) {
    this.rng = seededRandom(o.seed ?? 1);
    this.loss = o.loss ?? 0;
    for (let i = 0; i < o.members; i++) {
      const id = memberId({ node: 0x100 + i, inc: 1 });
      const stack = buildStack(o.stack, o.registry, {
        self: id,
        groupName: 'g',
        random: seededRandom(Math.floor(this.rng() * 0xffffffff)),
      });
      this.members.push({
        index: i,
        id,
        address: `n${i}`,
        stack,
        ups: [],
        errors: [],
        wakeAt: Number.POSITIVE_INFINITY,
        deaf: false,
      });
    }
  }

  /** The view of the given members (all by default), installed by passing it down each stack. */
  view(id: number, members: readonly NetMember[] = this.members): View {
    return { id, members: members.map((m) => m.id), addresses: members.map((m) => m.address) };
  }

  installView(id: number, members: readonly NetMember[] = this.members): View {
    const v = this.view(id, members);
    for (const m of members) this.down(m, { type: 'view', view: v });
    return v;
  }

  down(m: NetMember, ev: DownEvent): void {
    this.apply(m, m.stack.down(ev, this.now));
  }

  private apply(m: NetMember, effects: Effect[]): void {
    for (const e of effects) {
      if (e.kind === 'transmit') this.transmit(m, e.to, e.bytes);
      else if (e.kind === 'up') {
        if (this.o.record !== false) m.ups.push(e.event);
        this.o.onUp?.(m, e.event);
      } else if (e.kind === 'error') m.errors.push(e.error);
    }
    this.scheduleWake(m);
  }

  private scheduleWake(m: NetMember): void {
    const due = m.stack.nextDeadline();
    if (due === undefined) return;
    const at = Math.max(due, this.now);
    if (at >= m.wakeAt) return;
    m.wakeAt = at;
    this.queue.push(at, () => {
      if (m.wakeAt !== at) return;
      m.wakeAt = Number.POSITIVE_INFINITY;
      this.apply(m, m.stack.advance(this.now));
    });
  }

  private transmit(src: NetMember, to: string | null, bytes: Uint8Array): void {
    for (const dst of this.members) {
      if (dst === src || (to !== null && dst.address !== to)) continue;
      if (dst.deaf || this.rng() < this.loss) continue;
      if (this.o.linkLoss && this.rng() < this.o.linkLoss(src, dst)) continue;
      const delay = 0.2 + this.rng() * 0.3;
      this.queue.push(this.now + delay, () =>
        this.apply(dst, dst.stack.receive(bytes, src.address, this.now)),
      );
    }
  }

  at(t: number, fn: () => void): void {
    this.queue.push(t, fn);
  }

  /** Run events until virtual time `until` (or the queue empties). */
  run(until: number): void {
    for (let e = this.queue.pop(); e; e = this.queue.pop()) {
      if (e.at > until) {
        this.queue.push(e.at, e.fn);
        break;
      }
      this.now = e.at;
      e.fn();
    }
    this.now = Math.max(this.now, until);
  }

  delivered(m: NetMember): Extract<UpEvent, { type: 'deliver' }>[] {
    return m.ups.flatMap((e) => (e.type === 'deliver' ? [e] : []));
  }
}

/**
 * A stand-in for the total-order layer in tests of layers that must sit above it: passes
 * everything through and, like membership below a real stack, reports an installed view up.
 */
export const totalStub: LayerFactory = {
  name: 'total-stub',
  provides: ['total'],
  requires: [],
  create: (ctx) => ({
    down: (ev) => {
      ctx.passDown(ev);
      if (ev.type === 'view') ctx.passUp({ type: 'view', view: ev.view });
    },
    up: (ev) => ctx.passUp(ev),
  }),
};
