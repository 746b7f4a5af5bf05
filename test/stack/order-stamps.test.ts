// Bounds on stamping messages (seq's Order, total's Ack): one header may stamp at most MAX_STAMPS
// messages, ranks ascend, and a refused header changes nothing. Found by session 19's
// hostile-input review: an Order naming 2^24 stamps blocked its receiver for 18 s, took 1.8 GB
// and threw part-way, leaving the round's next global sequence number ahead of its stamps, so
// every later Order was refused ("stamps out of turn") until the next view.
import { describe, expect, it } from 'vitest';
import { seq } from '../../runtime/layers/index.js';
import { MAX_STAMPS, OrderRound } from '../../runtime/layers/order.js';
import type { Layer, LayerContext, UpEvent, View } from '../../runtime/stack/types.js';
import { DecodeError } from '../../runtime/wire/errors.js';

const SEQUENCER = '00000001.1';
const SELF = '00000002.1';
const VIEW: View = { id: 3, members: [SEQUENCER, SELF], addresses: ['10.0.0.1:1', '10.0.0.2:1'], epoch: 1 };

describe('OrderRound', () => {
  it('refuses a header over MAX_STAMPS, or with a rank twice, and stays as it was', () => {
    const r = new OrderRound(VIEW, SELF);
    expect(() => r.applyStamps('t', 0, [[0, 0, MAX_STAMPS]])).toThrow(DecodeError);
    expect(() =>
      r.applyStamps('t', 0, [
        [0, 0, 3],
        [0, 0, 3],
      ]),
    ).toThrow(/out of order/);
    expect(() =>
      r.applyStamps('t', 0, [
        [1, 0, 0],
        [0, 0, 0],
      ]),
    ).toThrow(/out of order/);
    expect(r.nextGseq).toBe(0);
    expect(r.stamps.size).toBe(0);
    r.applyStamps('t', 0, [[0, 0, MAX_STAMPS - 1]]); // exactly the bound
    expect(r.nextGseq).toBe(MAX_STAMPS);
  });

  it('lists at most MAX_STAMPS unstamped messages; the rest come next time', () => {
    const r = new OrderRound(VIEW, SELF);
    r.senders[0]!.next = MAX_STAMPS - 10;
    r.senders[1]!.next = 30;
    const first = r.unstamped(r.stampedUpTo);
    expect(first).toEqual([
      [0, 0, MAX_STAMPS - 11],
      [1, 0, 9],
    ]);
    r.applyStamps('t', 0, first);
    expect(r.unstamped(r.stampedUpTo)).toEqual([[1, 10, 29]]);
  });
});

/** A seq layer at `self` in `view`: what it delivers, and a way to hand it a header from a member. */
function seqAt(self: string, view: View) {
  const delivered: UpEvent[] = [];
  const ctx = {
    self,
    groupName: 'g',
    now: () => 0,
    random: () => 0.5,
    passDown: () => {},
    passUp: (e: UpEvent) => delivered.push(e),
    emit: () => {},
    defer: (f: () => void) => f(),
    setTimer: () => {},
    clearTimer: () => {},
    trace: () => {},
  } as unknown as LayerContext;
  const layer: Layer = seq.create(ctx, {});
  layer.down({ type: 'view', view } as never);
  layer.up({ type: 'view', view } as never);
  const from = (member: string, h: unknown[]) =>
    layer.up({
      type: 'deliver',
      msg: { headers: [h], payload: new Uint8Array(1) },
      from: member,
      cast: true,
      meta: { viewId: view.id },
    } as never);
  return { delivered, from };
}

describe('seq: a forged Order from the sequencer', () => {
  it('over the bound is refused at once, and the next true Order is applied', () => {
    const { delivered, from } = seqAt(SELF, VIEW);
    const fromSequencer = (h: unknown[]) => from(SEQUENCER, h);
    expect(() => fromSequencer([2, 0, [[0, 0, MAX_STAMPS]]])).toThrow(/stamps in one message/);
    // The sequencer's first ordered message (tseq 0) and its true Order (gseq 0 → [0, 0]).
    fromSequencer([0, 0, 0, 0]);
    fromSequencer([2, 0, [[0, 0, 0]]]);
    expect(delivered.filter((e) => e.type === 'deliver')).toHaveLength(1);
  });
});

describe('seq: Acks', () => {
  const PEER = '00000003.1';
  const VIEW3: View = {
    ...VIEW,
    members: [SEQUENCER, SELF, PEER],
    addresses: [...VIEW.addresses, '10.0.0.3:1'],
  };

  it('an Ack that holds nothing yet (hold -1) is taken, not refused', () => {
    // A stamp can arrive before its message: the member has seen gseq 0 and holds nothing. Its
    // Ack was refused as malformed, and the sequencer's lag rule later removed the healthy member
    // (session 22's healthy-removal class B, seed 144300057).
    const { from } = seqAt(SEQUENCER, VIEW3);
    expect(() => from(PEER, [3, -1, 0])).not.toThrow();
    expect(() => from(PEER, [3, -2, 0])).toThrow(DecodeError);
    expect(() => from(PEER, [3, 1, 0])).toThrow(/holds more than it has seen/);
  });
});
