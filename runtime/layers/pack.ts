import { type BundleBounds, innerMessages, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import {
  type DownEvent,
  deliverWith,
  headerCount,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type Msg,
  pushHeader,
  type QoS,
  type UpEvent,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** [0] one message as is; [1, [[headers, payload], ...]] several messages in one packet. */
export const PackKind = { Single: 0, Packed: 1 } as const;

/** A destination's batch is flushed before it would pass `maxBytes` or `maxMessages`. */
export type PackOptions = BundleBounds;

/** Defaults of {@link PackOptions} (the Group driver lowers `maxBytes` to fit its transport's datagram). */
export const PACK_DEFAULTS: PackOptions = { maxBytes: 60_000, maxMessages: 1024 };

/** Rough per-message overhead of its headers on the wire, for the size bound. */
const HEADER_ESTIMATE = 48;

interface Batch {
  to: MemberId | null;
  msgs: Msg[];
  bytes: number;
  qos: QoS;
}

/**
 * PACK (Horus's message packing): small messages bound for the same destination within one
 * turn go out together in one packet. A zero-delay timer flushes the batch, so nothing waits
 * past the end of the current turn of the event loop (or virtual instant in the simulator).
 */
class Pack implements Layer {
  private readonly batches = new Map<string, Batch>();
  private readonly c = { messages: 0, packets: 0, unpacked: 0 };
  private flushArmed = false;
  /** Inside the run of a flush, until its deferred work is done (see `timer`). */
  private flushing = false;

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: PackOptions,
  ) {}

  down(ev: DownEvent): void {
    if (ev.type !== 'cast' && ev.type !== 'send') {
      this.ctx.passDown(ev);
      return;
    }
    const to = ev.type === 'cast' ? null : ev.to;
    const key = to ?? '*';
    const size = ev.msg.payload.length + HEADER_ESTIMATE * (headerCount(ev.msg) + 1);
    let b = this.batches.get(key);
    if (b && (b.bytes + size > this.o.maxBytes || b.msgs.length >= this.o.maxMessages)) {
      this.flush(key, b);
      b = undefined;
    }
    if (!b) {
      b = { to, msgs: [], bytes: 0, qos: ev.qos };
      this.batches.set(key, b);
    }
    b.msgs.push(ev.msg);
    b.bytes += size;
    this.c.messages++;
    // Arm the end-of-turn flush once per turn, not once per message (a timer is a map entry).
    if (!this.flushArmed) {
      this.flushArmed = true;
      // During a flush's run, the end of that run sends it (see `timer`).
      if (!this.flushing) this.ctx.setTimer('flush', 0);
    }
  }

  private flush(key: string, b: Batch): void {
    this.batches.delete(key);
    const [first] = b.msgs;
    if (!first) return;
    const msg =
      b.msgs.length === 1
        ? pushHeader(first, SINGLE)
        : {
            headers: [[PackKind.Packed, b.msgs.map((m) => [m.headers, m.payload])]],
            payload: EMPTY,
          };
    this.c.packets++;
    if (b.to === null) this.ctx.passDown({ type: 'cast', msg, qos: b.qos });
    else this.ctx.passDown({ type: 'send', to: b.to, msg, qos: b.qos });
  }

  timer(key: string): void {
    if (key !== 'flush') return;
    if (!this.ctx.atRunEnd) {
      this.flushAll();
      return;
    }
    // The batch leaves at the end of the run this timer fires in, with what the run's other
    // timers send (the sequencer's Order stamping its own casts of the turn: one packet, not two).
    this.flushing = true;
    this.ctx.atRunEnd(() => this.flushAtRunEnd(MAX_FLUSHES_PER_RUN));
  }

  /** A flushed cast comes back to its sender within the same run (com's loop-back), and what that
   * causes is deferred work (an Ack, an Order for others' casts): it leaves at the end of this run
   * too, not a turn later, up to `rounds` times; then the next turn's flush takes the rest. */
  private flushAtRunEnd(rounds: number): void {
    this.flushAll();
    this.ctx.atRunEnd!(() => {
      if (this.batches.size > 0 && rounds > 1) this.flushAtRunEnd(rounds - 1);
      else {
        this.flushing = false;
        if (this.batches.size > 0) {
          this.flushArmed = true;
          this.ctx.setTimer('flush', 0);
        }
      }
    });
  }

  private flushAll(): void {
    this.flushArmed = false;
    // flush deletes the entry it sends (allowed while iterating a Map) and adds none.
    for (const [k, b] of this.batches) this.flush(k, b);
  }

  up(ev: UpEvent): void {
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'pack');
    if (kind === PackKind.Single) {
      this.ctx.passUp(deliverWith(ev, rest));
      return;
    }
    if (kind !== PackKind.Packed) throw new DecodeError('DECODE_BAD_SHAPE', `pack: unknown kind ${kind}`);
    const msgs = innerMessages(h[1], 'pack');
    this.c.unpacked += msgs.length;
    for (const msg of msgs) this.ctx.passUp(deliverWith(ev, msg));
  }

  stats(): Record<string, number> {
    return { ...this.c };
  }
}

const EMPTY = new Uint8Array(0);
/** The header of a packet of one message: one array for all (nothing writes to a header). */
const SINGLE: readonly unknown[] = Object.freeze([PackKind.Single]);
/** Flushes at one run's end (each for what the previous one's loop-back caused): a bound, since
 * a loop-back may always cause more. */
const MAX_FLUSHES_PER_RUN = 4;

export const pack: LayerFactory<PackOptions> = {
  name: 'pack',
  provides: ['packing'],
  requires: ['transport'],
  create: (ctx, o) =>
    new Pack(ctx, {
      maxBytes: o.maxBytes ?? PACK_DEFAULTS.maxBytes,
      maxMessages: o.maxMessages ?? PACK_DEFAULTS.maxMessages,
    }),
};
