import type { LayerRegistry } from '../../runtime/stack/builder.js';
import { buildStack } from '../../runtime/stack/builder.js';
import { type MemberId, memberId } from '../../runtime/stack/member.js';
import { type RandomSource, seededRandom } from '../../runtime/stack/random.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { Effect, LayerSpec, QoS, UpEvent } from '../../runtime/stack/types.js';
import { EventQueue } from './queue.js';

export type Fault = 'loss' | 'dup' | 'reorder' | 'delay' | 'crash' | 'pause' | 'partition';
export const ALL_FAULTS: readonly Fault[] = [
  'loss',
  'dup',
  'reorder',
  'delay',
  'crash',
  'pause',
  'partition',
];

export interface ScenarioConfig {
  seed: number;
  members: number;
  faults: ReadonlySet<Fault>;
  stack: readonly LayerSpec[];
  registry: LayerRegistry;
  /** Casts per member. */
  messages: number;
  /** QoS of each cast: a fixed one, or chosen per cast from the world's random source. */
  qos: QoS | ((rng: () => number) => QoS);
  /** Casting happens in [0, loadMs); faults in [0, faultMs); then quiet until endMs. */
  loadMs: number;
  faultMs: number;
  endMs: number;
  trace: boolean;
}

/** One member incarnation's record, kept after it crashes. */
export interface Incarnation {
  node: number;
  member: MemberId;
  startedAt: number;
  crashedAt: number | null;
  casts: string[];
  /** Delivered payloads with their sender, in delivery order. */
  delivered: SimDelivery[];
  /** Views installed, in order. */
  views: { id: number; members: readonly MemberId[]; at: number }[];
  /** Set when membership stopped this incarnation (minority or excluded). */
  partitionedAt: number | null;
  errors: string[];
  stats: () => Record<string, Record<string, number>>;
}

export interface SimDelivery {
  from: MemberId;
  payload: string;
  viewId?: number;
  gseq?: number;
  order?: string;
  resilience?: string;
}

/** Identity of a view across members: id and membership (two lineages never share both). */
export const viewKey = (v: { id: number; members: readonly MemberId[] }) => `${v.id}[${v.members.join(',')}]`;

interface Node {
  index: number;
  address: string;
  inc: number;
  stack: Stack;
  rec: Incarnation;
  alive: boolean;
  pausedUntil: number;
  /** Wake-up time for the stack's timers that is already queued. */
  wakeAt: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The deterministic world: members over a simulated network in virtual time. One seeded
 * random source decides every choice, so a seed replays byte for byte.
 */
export class World {
  readonly queue = new EventQueue();
  readonly rng: RandomSource;
  readonly trace: string[] = [];
  now = 0;
  readonly nodes: Node[] = [];
  readonly incarnations: Incarnation[] = [];
  /** Partition: node index → side. Packets cross only between nodes on the same side. */
  private side: number[] = [];

  constructor(readonly cfg: ScenarioConfig) {
    this.rng = seededRandom(cfg.seed);
    for (let i = 0; i < cfg.members; i++) this.nodes.push(this.start(i, 1));
    this.side = this.nodes.map(() => 0);
  }

  log(line: string): void {
    if (this.cfg.trace) this.trace.push(`${this.now.toFixed(3)} ${line}`);
  }

  private start(index: number, inc: number): Node {
    const node = Math.floor(this.rng() * 0xffffffff) >>> 0;
    const self = memberId({ node, inc });
    const address = `n${index}`;
    const stackRng = seededRandom(Math.floor(this.rng() * 0xffffffff));
    const tracer = this.cfg.trace ? (l: string) => this.log(`${address} ${l}`) : undefined;
    const seeds = Array.from({ length: this.cfg.members }, (_, k) => `n${k}`);
    const specs = this.cfg.stack.map((l) =>
      l.name === 'gms' ? { ...l, options: { ...l.options, seeds, address } } : l,
    );
    const stack = buildStack(specs, this.cfg.registry, {
      self,
      groupName: 'sim',
      random: stackRng,
      ...(tracer ? { tracer } : {}),
    });
    const rec: Incarnation = {
      node: index,
      member: self,
      startedAt: this.now,
      crashedAt: null,
      casts: [],
      delivered: [],
      views: [],
      partitionedAt: null,
      errors: [],
      stats: () => stack.stats(),
    };
    this.incarnations.push(rec);
    this.log(`${address} start as ${self}`);
    const n: Node = {
      index,
      address,
      inc,
      stack,
      rec,
      alive: true,
      pausedUntil: 0,
      wakeAt: Number.POSITIVE_INFINITY,
    };
    if (this.isGroup)
      this.queue.push(this.now, () => this.onNode(n, inc, () => stack.down({ type: 'join' }, this.now)));
    return n;
  }

  /** Whether the stack runs membership (views, joins, partitions) or only reliable streams. */
  get isGroup(): boolean {
    return this.cfg.stack.some((l) => l.name === 'gms');
  }

  private faultOn(f: Fault): boolean {
    return this.cfg.faults.has(f) && this.now < this.cfg.faultMs;
  }

  /** Run `fn` on a node when it is alive and not paused (a paused node's work waits). */
  private onNode(n: Node, inc: number, fn: () => Effect[]): void {
    if (!n.alive || n.inc !== inc) return;
    if (this.now < n.pausedUntil) {
      this.queue.push(n.pausedUntil, () => this.onNode(n, inc, fn));
      return;
    }
    this.apply(n, fn());
  }

  private apply(n: Node, effects: Effect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'transmit':
          this.transmit(n, e.to, e.bytes);
          break;
        case 'up':
          this.onUp(n, e.event);
          break;
        case 'error':
          n.rec.errors.push(`layer ${e.layer} threw: ${String((e.error as Error)?.stack ?? e.error)}`);
          break;
        case 'peers':
          break;
      }
    }
    this.scheduleWake(n);
  }

  private onUp(n: Node, ev: UpEvent): void {
    switch (ev.type) {
      case 'deliver': {
        const payload = decoder.decode(ev.msg.payload);
        const m = ev.meta;
        n.rec.delivered.push({
          from: ev.from,
          payload,
          ...(m.viewId !== undefined ? { viewId: m.viewId } : {}),
          ...(m.gseq !== undefined ? { gseq: m.gseq } : {}),
          ...(m.qos ? { order: m.qos.order, resilience: m.qos.resilience ?? 'none' } : {}),
        });
        this.log(`${n.address} deliver ${payload} from ${ev.from} v${m.viewId ?? '-'} g${m.gseq ?? '-'}`);
        return;
      }
      case 'lost':
        n.rec.errors.push(`lost ${ev.from} ${ev.fromSeq}..${ev.toSeq}`);
        return;
      case 'view':
        n.rec.views.push({ id: ev.view.id, members: ev.view.members, at: this.now });
        this.log(`${n.address} VIEW ${viewKey(ev.view)}`);
        return;
      case 'partitioned': {
        n.rec.partitionedAt = this.now;
        this.log(`${n.address} PARTITIONED ${ev.reason}`);
        // The application's answer to a partition: come back as a new member (RMP).
        const i = n.index;
        const inc = n.inc;
        this.queue.push(this.now + 1, () => {
          const cur = this.nodes[i]!;
          if (cur.inc !== inc || !cur.alive) return;
          cur.alive = false;
          this.restart(i);
        });
        return;
      }
      default:
        return;
    }
  }

  private scheduleWake(n: Node): void {
    if (!n.alive) return;
    const due = n.stack.nextDeadline();
    if (due === undefined) return;
    // A paused node's overdue timers fire when it resumes.
    const at = Math.max(due, this.now, n.pausedUntil);
    if (at >= n.wakeAt) return;
    n.wakeAt = at;
    const inc = n.inc;
    this.queue.push(at, () => {
      if (n.inc !== inc || n.wakeAt !== at) return;
      n.wakeAt = Number.POSITIVE_INFINITY;
      this.onNode(n, inc, () => n.stack.advance(this.now));
      this.scheduleWake(n);
    });
  }

  private transmit(src: Node, to: string | null, bytes: Uint8Array): void {
    const targets =
      to === null ? this.nodes.filter((d) => d !== src) : this.nodes.filter((d) => d.address === to);
    for (const dst of targets) {
      if (this.side[src.index] !== this.side[dst.index]) continue;
      if (this.faultOn('loss') && this.rng() < 0.1) continue;
      const copies = this.faultOn('dup') && this.rng() < 0.05 ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        let delay = 0.2 + this.rng() * 0.3;
        if (this.faultOn('delay')) delay += this.rng() * 5;
        if (this.faultOn('reorder') && this.rng() < 0.2) delay += this.rng() * 20;
        const inc = dst.inc;
        const from = src.address;
        this.queue.push(this.now + delay, () =>
          this.onNode(dst, inc, () => dst.stack.receive(bytes, from, this.now)),
        );
      }
    }
  }

  /** The application on `n` casts its next message (numbered when the member runs it). */
  cast(n: Node): void {
    const inc = n.inc;
    this.onNode(n, inc, () => {
      const payload = `${n.rec.member}#${n.rec.casts.length}`;
      n.rec.casts.push(payload);
      this.log(`${n.address} cast ${payload}`);
      const msg = { headers: [], payload: encoder.encode(payload) };
      const q = this.cfg.qos;
      const qos = typeof q === 'function' ? q(this.rng) : q;
      return n.stack.down({ type: 'cast', msg, qos }, this.now);
    });
  }

  crash(n: Node): void {
    if (!n.alive) return;
    n.alive = false;
    n.rec.crashedAt = this.now;
    this.log(`${n.address} CRASH`);
  }

  restart(i: number): void {
    const old = this.nodes[i]!;
    if (old.alive) return;
    const fresh = this.start(i, old.inc + 1);
    this.nodes[i] = fresh;
    this.scheduleWake(fresh);
  }

  pause(n: Node, ms: number): void {
    n.pausedUntil = Math.max(n.pausedUntil, this.now + ms);
    this.log(`${n.address} PAUSE ${ms.toFixed(1)}ms`);
  }

  partition(sides: number[]): void {
    this.side = sides;
    this.log(`PARTITION ${sides.join('')}`);
  }

  heal(): void {
    this.side = this.nodes.map(() => 0);
    this.log('HEAL');
  }

  at(t: number, fn: () => void): void {
    this.queue.push(t, () => fn());
  }

  run(): void {
    for (let e = this.queue.pop(); e && e.at <= this.cfg.endMs; e = this.queue.pop()) {
      this.now = e.at;
      e.fn();
    }
    this.now = this.cfg.endMs;
  }
}
