import { describe, expect, it } from 'vitest';
import { BatchKind, batch } from '../../runtime/layers/batch.js';
import { popKindHeader } from '../../runtime/stack/header.js';
import {
  type DeliveryMeta,
  type DownEvent,
  type Layer,
  type LayerContext,
  type Msg,
  message,
  type QoS,
  type UpEvent,
} from '../../runtime/stack/types.js';
import { DecodeError } from '../../runtime/wire/errors.js';

/** One batch layer with a recording context: what it passes down and up, and its armed timers. */
function harness(opts: Record<string, number> = {}) {
  const downs: DownEvent[] = [];
  const ups: UpEvent[] = [];
  const timers = new Set<string>();
  const ctx: LayerContext = {
    self: '0000000a.1',
    groupName: 'g',
    now: () => 0,
    random: () => 0.5,
    passDown: (ev) => downs.push(ev),
    passUp: (ev) => ups.push(ev),
    emit: () => {},
    defer: (fn) => fn(),
    setTimer: (key) => timers.add(key),
    clearTimer: (key) => timers.delete(key),
    trace: () => {},
  };
  const layer: Layer = batch.create(ctx, opts);
  /** Fire the armed timers, as the stack does at the end of the turn. */
  const endTurn = () => {
    const due = [...timers];
    timers.clear();
    for (const k of due) layer.timer?.(k);
  };
  return { layer, downs, ups, timers, endTurn };
}

const TOTAL: QoS = { order: 'total' };
const FIFO: QoS = { order: 'fifo' };
const castOf = (n: number, qos: QoS = TOTAL): DownEvent => ({
  type: 'cast',
  msg: message(new Uint8Array([n]), [0, `h${n}`]),
  qos,
});

/** What a receiver's batch layer gets for one message the sender's passed down. */
function arriving(ev: DownEvent, meta: DeliveryMeta): UpEvent {
  if (ev.type !== 'cast' && ev.type !== 'send') throw new Error('not a message');
  return { type: 'deliver', msg: ev.msg, from: '0000000a.1', cast: ev.type === 'cast', meta };
}

const delivered = (ups: UpEvent[]) =>
  ups.flatMap((e) =>
    e.type === 'deliver'
      ? [{ p: e.msg.payload[0], h: e.msg.headers, gseq: e.meta.gseq, view: e.meta.viewId }]
      : [],
  );

describe('batch', () => {
  it('sends the casts of one turn and one QoS as one message, delivered as the casts in order', () => {
    const a = harness();
    for (let i = 1; i <= 3; i++) a.layer.down(castOf(i));
    expect(a.downs).toEqual([]);
    a.endTurn();
    expect(a.downs).toHaveLength(1);
    const sent = a.downs[0]!;
    expect(sent.type === 'cast' && popKindHeader(sent.msg, 'batch').kind).toBe(BatchKind.Batch);
    const b = harness();
    b.layer.up(arriving(sent, { viewId: 4, gseq: 0 }));
    expect(delivered(b.ups)).toEqual([
      { p: 1, h: [[0, 'h1']], gseq: 0, view: 4 },
      { p: 2, h: [[0, 'h2']], gseq: 1, view: 4 },
      { p: 3, h: [[0, 'h3']], gseq: 2, view: 4 },
    ]);
  });

  it('sends a lone cast alone, with the layers above its headers untouched', () => {
    const a = harness();
    a.layer.down(castOf(7));
    a.endTurn();
    const sent = a.downs[0]!;
    expect(sent.type === 'cast' && popKindHeader(sent.msg, 'batch').kind).toBe(BatchKind.Single);
    const b = harness();
    b.layer.up(arriving(sent, { viewId: 1, gseq: 5 }));
    expect(delivered(b.ups)).toEqual([{ p: 7, h: [[0, 'h7']], gseq: 5, view: 1 }]);
  });

  it('keeps the order of everything passed down: a QoS change or a send closes the open batch', () => {
    const a = harness();
    a.layer.down(castOf(1));
    a.layer.down(castOf(2));
    a.layer.down(castOf(3, FIFO));
    a.layer.down({ type: 'send', to: '0000000b.1', msg: message(new Uint8Array([4]), [0]), qos: FIFO });
    a.layer.down(castOf(5));
    a.layer.down({ type: 'leave' });
    a.layer.down(castOf(6));
    a.endTurn();
    const kinds = a.downs.map((d) => {
      if (d.type !== 'cast' && d.type !== 'send') return d.type;
      const { kind, rest } = popKindHeader(d.msg, 'batch');
      return `${d.type}:${kind === BatchKind.Batch ? 'batch' : rest.payload[0]}`;
    });
    expect(kinds).toEqual(['cast:batch', 'cast:3', 'send:4', 'cast:5', 'leave', 'cast:6']);
  });

  it('closes a batch at maxMessages and before maxBytes', () => {
    const a = harness({ maxMessages: 2, maxBytes: 1_000 });
    for (let i = 1; i <= 5; i++) a.layer.down(castOf(i));
    a.endTurn();
    expect(a.downs).toHaveLength(3);
    const big = harness({ maxBytes: 100 });
    const payload = (n: number): DownEvent => ({
      type: 'cast',
      msg: message(new Uint8Array(60).fill(n), [0]),
      qos: TOTAL,
    });
    big.layer.down(payload(1));
    big.layer.down(payload(2));
    expect(big.downs).toHaveLength(1);
  });

  it('gives every cast its own position in the view, the same at every receiver', () => {
    const a = harness();
    const sent: DownEvent[] = [];
    for (const n of [3, 1, 2]) {
      for (let i = 0; i < n; i++) a.layer.down(castOf(10 * n + i));
      a.endTurn();
      sent.push(a.downs.pop()!);
    }
    const at = (viewId: number, first: number) => {
      const r = harness();
      sent.forEach((s, i) => {
        r.layer.up(arriving(s, { viewId, gseq: first + i }));
      });
      return delivered(r.ups).map((d) => [d.p, d.gseq]);
    };
    expect(at(2, 0)).toEqual([
      [30, 0],
      [31, 1],
      [32, 2],
      [10, 3],
      [20, 4],
      [21, 5],
    ]);
    // The next view starts its positions afresh.
    const r = harness();
    r.layer.up(arriving(sent[0]!, { viewId: 2, gseq: 0 }));
    r.layer.up(arriving(sent[1]!, { viewId: 3, gseq: 0 }));
    expect(delivered(r.ups).map((d) => d.gseq)).toEqual([0, 1, 2, 0]);
  });

  it('refuses a malformed batch with a DecodeError and delivers none of it', () => {
    const a = harness();
    a.layer.down(castOf(1));
    a.layer.down(castOf(2));
    a.endTurn();
    const good = a.downs[0]!;
    if (good.type !== 'cast') throw new Error('cast expected');
    const payload = good.msg.payload;
    const bad: Msg[] = [
      message(payload, [BatchKind.Batch, 3]), // count does not match
      message(payload.subarray(0, payload.length - 1), [BatchKind.Batch, 2]), // truncated
      message(new Uint8Array([0x92, 0x01, 0x02]), [BatchKind.Batch, 2]), // items not pairs
      message(new Uint8Array([0x91, 0x92, 0x90, 0x01]), [BatchKind.Batch, 1]), // payload not bytes
      message(payload, [9]), // unknown kind
      message(payload, []), // no header
    ];
    for (const msg of bad) {
      const b = harness();
      expect(() => b.layer.up({ type: 'deliver', msg, from: 'x', cast: true, meta: {} })).toThrow(
        DecodeError,
      );
      expect(b.ups).toEqual([]);
    }
  });
});
