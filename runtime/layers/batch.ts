import { Packr } from 'msgpackr';
import { type BundleBounds, innerMessages, popKindHeader } from '../stack/header.js';
import { requirePositive } from '../stack/options.js';
import {
  type DeliverEvent,
  type DeliveryMeta,
  type DownEvent,
  downWith,
  headerCount,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type Msg,
  message,
  pushHeader,
  type QoS,
  type UpEvent,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import { decodeGuarded, PACKET_LIMITS } from '../wire/msgpack-guard.js';

/** Header kinds of the batch layer (first element of its header). */
export const BatchKind = {
  /** [0] one message as the layers above made it; their headers follow. */
  Single: 0,
  /** [1, count] `count` consecutive casts of one QoS; the payload is msgpack
   * `[[headers, payload], ...]`, each pair one cast as the layers above made it. */
  Batch: 1,
} as const;

/** A batch is closed before its casts would pass `maxBytes` or `maxMessages`. */
export type BatchOptions = BundleBounds;

/** Defaults of {@link BatchOptions} (the Group driver lowers `maxBytes` to fit one fragment). */
export const BATCH_DEFAULTS: BatchOptions = { maxBytes: 16_384, maxMessages: 256 };

/** Rough per-cast overhead of its headers inside a batch, for the size bound. */
const HEADER_ESTIMATE = 16;

interface Open {
  msgs: Msg[];
  bytes: number;
  qos: QoS;
}

/**
 * BATCH: consecutive casts of one QoS made within one turn travel the stack below as one
 * message, so every layer below (ordering, membership, reliability, stability) handles a batch
 * once instead of each cast: Horus's packing, moved above the ordering layer, where the cost per
 * message is. A lone cast goes down alone, at the end of the turn it was made in, which is when
 * pack would have sent it anyway; nothing waits past the turn.
 *
 * Order is kept exactly: a cast of another QoS, a send, or any other event closes the open batch
 * first, so what leaves this layer leaves in the order it came. A batch is ordered, held,
 * repaired and delivered as one message, so every member delivers its casts together, in their
 * order, in one view; `gseq` is renumbered on the way up so each cast keeps its own position in
 * the view's total order (see `up`).
 */
class Batch implements Layer {
  private open: Open | undefined;
  private armed = false;
  private readonly c = { casts: 0, batches: 0, batched: 0, unbatched: 0 };
  /** The view whose total-order positions `shift` applies to. */
  private shiftView: number | undefined;
  /** How many positions earlier batches of `shiftView` added beyond their one `gseq` each. */
  private shift = 0;

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: BatchOptions,
  ) {}

  down(ev: DownEvent): void {
    if (ev.type !== 'cast' || ev.qos.order === 'unreliable') {
      this.close();
      this.ctx.passDown(
        ev.type === 'cast' || ev.type === 'send' ? downWith(ev, pushHeader(ev.msg, SINGLE)) : ev,
      );
      return;
    }
    this.c.casts++;
    const size = ev.msg.payload.length + HEADER_ESTIMATE * headerCount(ev.msg);
    let b = this.open;
    if (
      b &&
      (!sameQos(b.qos, ev.qos) || b.bytes + size > this.o.maxBytes || b.msgs.length >= this.o.maxMessages)
    ) {
      this.close();
      b = undefined;
    }
    if (!b) {
      b = { msgs: [], bytes: 0, qos: ev.qos };
      this.open = b;
    }
    b.msgs.push(ev.msg);
    b.bytes += size;
    if (!this.armed) {
      this.armed = true;
      this.ctx.setTimer('close', 0);
    }
  }

  timer(key: string): void {
    if (key === 'close') {
      this.armed = false;
      this.close();
    }
  }

  /** Send the open batch down: its one cast as is, or its casts as one message. */
  private close(): void {
    const b = this.open;
    if (!b) return;
    this.open = undefined;
    if (b.msgs.length === 1) {
      this.c.unbatched++;
      this.ctx.passDown({ type: 'cast', msg: pushHeader(b.msgs[0]!, SINGLE), qos: b.qos });
      return;
    }
    this.c.batches++;
    this.c.batched += b.msgs.length;
    const body = packr.pack(b.msgs.map((m) => [m.headers, m.payload]));
    this.ctx.passDown({ type: 'cast', msg: message(body, [BatchKind.Batch, b.msgs.length]), qos: b.qos });
  }

  up(ev: UpEvent): void {
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'batch');
    if (kind === BatchKind.Single) {
      this.ctx.passUp(deliverEvent(ev, rest, this.renumber(ev.meta, 1)));
      return;
    }
    if (kind !== BatchKind.Batch) throw new DecodeError('DECODE_BAD_SHAPE', `batch: unknown kind ${kind}`);
    // Every cast is validated before any is delivered, so a bad batch delivers nothing.
    const msgs = innerMessages(decodeGuarded(rest.payload, 0, rest.payload.length, PACKET_LIMITS), 'batch');
    if (msgs.length < 2 || h[1] !== msgs.length)
      throw new DecodeError('DECODE_BAD_SHAPE', 'batch: count does not match its casts');
    const first = this.renumber(ev.meta, msgs.length);
    for (let i = 0; i < msgs.length; i++) {
      const meta = i === 0 || first.gseq === undefined ? first : at(first, first.gseq + i);
      this.ctx.passUp(deliverEvent(ev, msgs[i]!, meta));
    }
  }

  /**
   * The meta of the first of `count` casts delivered as one message. A batch takes one position
   * in the view's total order below this layer; every member delivers the same batches in the
   * same order in a view (virtual synchrony), so each can count the positions the batches before
   * added and give every cast its own, the same at every member: positions stay consecutive and
   * distinct per view, as they were without batches.
   */
  private renumber(meta: DeliveryMeta, count: number): DeliveryMeta {
    if (meta.gseq === undefined) return meta;
    if (meta.viewId !== this.shiftView) {
      this.shiftView = meta.viewId;
      this.shift = 0;
    }
    const out = this.shift === 0 ? meta : at(meta, meta.gseq + this.shift);
    this.shift += count - 1;
    return out;
  }

  stats(): Record<string, number> {
    return { ...this.c };
  }
}

/** `meta` at position `gseq`, as a literal of every field: a spread of the many meta shapes the
 * layers below build was this layer's largest cost per cast (see `deliverWith`). */
function at(meta: DeliveryMeta, gseq: number): DeliveryMeta {
  return { seq: meta.seq, viewId: meta.viewId, gseq, qos: meta.qos, unreliable: meta.unreliable };
}

function deliverEvent(ev: DeliverEvent, msg: Msg, meta: DeliveryMeta): DeliverEvent {
  return { type: 'deliver', msg, from: ev.from, cast: ev.cast, meta };
}

function sameQos(a: QoS, b: QoS): boolean {
  return (
    a === b ||
    (a.order === b.order && a.resilience === b.resilience && a.k === b.k && a.awaited === b.awaited)
  );
}

/** Encodes a batch's casts; what it returns is not overwritten by its next call. */
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** The header of a message sent alone: one array for all (nothing writes to a header). */
const SINGLE: readonly unknown[] = Object.freeze([BatchKind.Single]);

export const batch: LayerFactory<BatchOptions> = {
  name: 'batch',
  provides: ['batching'],
  requires: ['virtual-synchrony'],
  create: (ctx, o) => {
    const opts = { ...BATCH_DEFAULTS, ...o };
    requirePositive('batch', opts, ['maxBytes', 'maxMessages'], true);
    return new Batch(ctx, opts);
  },
};
