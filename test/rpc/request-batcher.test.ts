// The contact's batching rule (runtime/rpc/request-batcher.ts): a lone call is cast at once;
// calls arriving while an own cast is being ordered go together when it comes back.
import { describe, expect, it } from 'vitest';
import { decodeGroupMsg, encodeGroupMsg, type RequestMsg } from '../../runtime/rpc/messages.js';
import { DEFAULT_CALL_QOS } from '../../runtime/rpc/qos.js';
import { RequestBatcher } from '../../runtime/rpc/request-batcher.js';
import type { QoS } from '../../runtime/stack/types.js';

const request = (id: string): Uint8Array =>
  encodeGroupMsg({
    kind: 'request',
    id,
    service: 'bank',
    method: 'deposit',
    args: new Uint8Array([0x90]),
    mode: 'first',
    client: '127.0.0.1:9',
    contact: 'aaaaaaaa.1',
    ts: 1,
    settled: undefined,
    issue: 0,
  } satisfies RequestMsg);

/** The request ids of each cast, in cast order. */
function harness(maxParts?: number, maxBytes?: number) {
  const casts: { ids: string[]; qos: QoS }[] = [];
  const b = new RequestBatcher(
    (payload, qos) => {
      const m = decodeGroupMsg(payload);
      const ids =
        m.kind === 'requests'
          ? m.parts.map((p) => (decodeGroupMsg(p) as RequestMsg).id)
          : [(m as RequestMsg).id];
      casts.push({ ids, qos });
    },
    maxParts,
    maxBytes,
  );
  return { b, casts, ids: () => casts.map((c) => c.ids) };
}

describe('batching at the contact', () => {
  it('casts a lone call at once, and the calls that came meanwhile together when it is delivered', () => {
    const { b, ids } = harness();
    b.submit('c:1', request('c:1'), DEFAULT_CALL_QOS);
    expect(ids()).toEqual([['c:1']]);
    for (const id of ['c:2', 'c:3', 'c:4']) b.submit(id, request(id), DEFAULT_CALL_QOS);
    expect(ids()).toEqual([['c:1']]);
    expect(b.waiting).toBe(3);
    b.delivered();
    expect(ids()).toEqual([['c:1'], ['c:2', 'c:3', 'c:4']]);
    b.delivered();
    b.submit('c:5', request('c:5'), DEFAULT_CALL_QOS);
    expect(ids().at(-1)).toEqual(['c:5']);
    expect(b.casts).toBe(3);
    expect(b.requests).toBe(5);
  });

  it('never mixes QoS in one cast, and keeps the arrival order across them', () => {
    const { b, casts } = harness();
    const safe: QoS = { order: 'total', resilience: 'safe' };
    b.submit('c:1', request('c:1'), DEFAULT_CALL_QOS);
    b.submit('c:2', request('c:2'), DEFAULT_CALL_QOS);
    b.submit('c:3', request('c:3'), safe);
    b.submit('c:4', request('c:4'), { order: 'total', resilience: 'majority' });
    // A change of QoS sends what waits before the new call joins the queue.
    expect(casts.map((c) => c.ids)).toEqual([['c:1'], ['c:2'], ['c:3']]);
    b.delivered();
    b.delivered();
    expect(b.waiting).toBe(1);
    b.delivered();
    expect(casts.map((c) => c.ids)).toEqual([['c:1'], ['c:2'], ['c:3'], ['c:4']]);
    expect(casts.map((c) => c.qos.resilience)).toEqual(['majority', 'majority', 'safe', 'majority']);
  });

  it('sends a batch at its size bounds, on a retransmission of one of its calls and at a view change', () => {
    const { b, ids } = harness(3);
    b.submit('c:10', request('c:10'), DEFAULT_CALL_QOS);
    for (const id of ['c:1', 'c:2', 'c:3']) b.submit(id, request(id), DEFAULT_CALL_QOS);
    expect(ids()).toEqual([['c:10'], ['c:1', 'c:2', 'c:3']]);
    b.submit('c:4', request('c:4'), DEFAULT_CALL_QOS);
    b.nudge('c:9');
    expect(b.waiting).toBe(1);
    b.nudge('c:4');
    expect(ids().at(-1)).toEqual(['c:4']);
    b.submit('c:5', request('c:5'), DEFAULT_CALL_QOS);
    b.reset();
    expect(ids().at(-1)).toEqual(['c:5']);
    // After the view change nothing is counted in the order: the next call goes at once.
    b.submit('c:6', request('c:6'), DEFAULT_CALL_QOS);
    expect(ids().at(-1)).toEqual(['c:5']);
    const bytes = harness(256, 2 * request('c:1').byteLength);
    bytes.b.submit('c:10', request('c:10'), DEFAULT_CALL_QOS);
    bytes.b.submit('c:1', request('c:1'), DEFAULT_CALL_QOS);
    bytes.b.submit('c:2', request('c:2'), DEFAULT_CALL_QOS);
    expect(bytes.ids()).toEqual([['c:10'], ['c:1', 'c:2']]);
  });

  it('forgets waiting calls when cut off from the group', () => {
    const { b, ids } = harness();
    b.submit('c:1', request('c:1'), DEFAULT_CALL_QOS);
    b.submit('c:2', request('c:2'), DEFAULT_CALL_QOS);
    b.drop();
    b.delivered();
    expect(ids()).toEqual([['c:1']]);
    b.submit('c:3', request('c:3'), DEFAULT_CALL_QOS);
    expect(ids()).toEqual([['c:1'], ['c:3']]);
  });

  it('refuses a requests message with no parts or too many', () => {
    expect(() => decodeGroupMsg(encodeGroupMsg({ kind: 'requests', parts: [] }))).toThrow(/1 to 256 parts/);
    const parts = Array.from({ length: 257 }, () => new Uint8Array(1));
    expect(() => decodeGroupMsg(encodeGroupMsg({ kind: 'requests', parts }))).toThrow(/1 to 256 parts/);
  });
});
