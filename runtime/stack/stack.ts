import { DecodeError } from '../wire/errors.js';
import type { MemberId } from './member.js';
import type { RandomSource } from './random.js';
import type { DownEvent, Effect, Layer, LayerContext, LayerFactory, LayerSpec } from './types.js';

interface Armed {
  at: number;
  order: number;
  layer: number;
  key: string;
}

export interface StackInit {
  self: MemberId;
  groupName: string;
  random: RandomSource;
  /** Receives trace lines when set. */
  tracer?: (line: string) => void;
}

/**
 * A built stack of layers. Sans-IO: the driver feeds it events with the current time and
 * carries out the effects it returns. The same object runs under real sockets and timers and
 * under the simulator.
 */
export class Stack {
  private readonly layers: Layer[] = [];
  readonly names: string[];
  /** Armed timers, one map per layer (index), by the layer's key: no `layer:key` string is built
   * per setTimer/clearTimer, which layers call several times per message. */
  private readonly timers: Map<string, Armed>[] = [];
  private timerOrder = 0;
  private effects: Effect[] = [];
  private deferred: (() => void)[] = [];
  private atEnd: (() => void)[] = [];
  private clock = 0;
  /** Inputs refused as malformed (DecodeError from any layer). */
  refused = 0;

  constructor(factories: readonly { factory: LayerFactory; spec: LayerSpec }[], init: StackInit) {
    this.names = factories.map((f) => f.factory.name);
    factories.forEach(({ factory, spec }, i) => {
      this.timers.push(new Map());
      this.layers.push(factory.create(this.contextFor(i, init), spec.options ?? {}));
    });
  }

  private contextFor(i: number, init: StackInit): LayerContext {
    const name = this.names[i]!;
    const tracer = init.tracer;
    return {
      self: init.self,
      groupName: init.groupName,
      now: () => this.clock,
      random: init.random,
      // passDown and passUp run once per message per layer: they catch in place rather than
      // through guard(), whose closure would be one more allocation on that path.
      passDown: (ev) => {
        const below = this.layers[i + 1];
        if (!below) throw new Error(`bottom layer '${name}' cannot pass an event down`);
        try {
          below.down(ev);
        } catch (error) {
          this.failed(i + 1, error);
        }
      },
      passUp: (ev) => {
        const above = this.layers[i - 1];
        if (!above) {
          this.effects.push({ kind: 'up', event: ev });
          return;
        }
        try {
          above.up(ev);
        } catch (error) {
          this.failed(i - 1, error);
        }
      },
      emit: (effect) => this.effects.push(effect),
      defer: (fn) => this.deferred.push(() => this.guard(i, fn)),
      atRunEnd: (fn) => this.atEnd.push(() => this.guard(i, fn)),
      setTimer: (key, delayMs) => {
        // A zero delay means "after this turn"; the sequence number orders same-instant timers.
        const at = this.clock + Math.max(0, delayMs);
        const armed = this.timers[i]!.get(key);
        // Re-armed in place: layers re-arm the same few timers per message.
        if (armed) {
          armed.at = at;
          armed.order = this.timerOrder++;
        } else this.timers[i]!.set(key, { at, order: this.timerOrder++, layer: i, key });
      },
      clearTimer: (key) => {
        this.timers[i]!.delete(key);
      },
      trace: tracer ? (line) => tracer(`${name}: ${line()}`) : () => {},
    };
  }

  /** Run `fn` for layer `i`; a DecodeError is a refused input, anything else a reported bug. */
  private guard(i: number, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.failed(i, error);
    }
  }

  private failed(i: number, error: unknown): void {
    if (error instanceof DecodeError) this.refused++;
    else this.effects.push({ kind: 'error', layer: this.names[i]!, error });
  }

  private run(now: number, fn: () => void): Effect[] {
    this.clock = Math.max(this.clock, now);
    fn();
    return this.finish();
  }

  /** The rest of a run, after its event: deferred and end-of-run work, then the effects. */
  private finish(): Effect[] {
    // Deferred work may defer more; bounded by what the layers queue. End-of-run work comes
    // after it, and what that defers runs before the effects are returned.
    while (this.deferred.length > 0 || this.atEnd.length > 0) {
      const batch = this.deferred.length > 0 ? this.deferred : this.atEnd;
      if (batch === this.deferred) this.deferred = [];
      else this.atEnd = [];
      for (const f of batch) f();
    }
    const out = this.effects;
    this.effects = [];
    return out;
  }

  /** An event from the application into the top layer. */
  down(ev: DownEvent, now: number): Effect[] {
    // run() and guard() spelled out: their two closures per call were allocated per cast.
    this.clock = Math.max(this.clock, now);
    try {
      this.layers[0]!.down(ev);
    } catch (error) {
      this.failed(0, error);
    }
    return this.finish();
  }

  /** Raw bytes from the transport into the bottom layer. */
  receive(bytes: Uint8Array, from: string, now: number): Effect[] {
    const bottom = this.layers.length - 1;
    this.clock = Math.max(this.clock, now);
    try {
      this.layers[bottom]!.receive!(bytes, from);
    } catch (error) {
      this.failed(bottom, error);
    }
    return this.finish();
  }

  /** When the next timer is due, if any. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const m of this.timers) for (const t of m.values()) if (min === undefined || t.at < min) min = t.at;
    return min;
  }

  /** Fire every timer due at or before `now`, earliest first. */
  advance(now: number): Effect[] {
    return this.run(now, () => {
      for (;;) {
        let due: Armed | undefined;
        for (const m of this.timers)
          for (const t of m.values()) {
            if (t.at <= this.clock && (!due || t.at < due.at || (t.at === due.at && t.order < due.order)))
              due = t;
          }
        if (!due) return;
        const d = due;
        this.timers[d.layer]!.delete(d.key);
        this.guard(d.layer, () => this.layers[d.layer]!.timer?.(d.key));
      }
    });
  }

  /** One layer's counters (by its name), without building every layer's: for a driver that
   * reads a counter per packet. */
  statsOf(name: string): Record<string, number> | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.layers[i]!.stats?.();
  }

  /** Per-layer counters. */
  stats(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = { stack: { refused: this.refused } };
    this.layers.forEach((l, i) => {
      if (l.stats) out[this.names[i]!] = l.stats();
    });
    return out;
  }
}
