/**
 * What the observer keeps of the requests a contact answers, now stored without an object per
 * request: the receipt-to-reply times (typed-array ring), the slow list (references copied when
 * shown) and the trace ring looked up once per event. Fed events directly, as the replica would.
 */
import { describe, expect, it } from 'vitest';
import { Observer } from '../../runtime/observe/observer.js';

/** The events a contact reports for one ordered call it answers. */
function lifecycle(o: Observer, id: string): void {
  o.event({ type: 'request', step: 'received', id, peer: '127.0.0.1:1' });
  o.event({ type: 'request', step: 'cast', id });
  o.event({ type: 'request', step: 'ordered', id, viewId: 1, gseq: 7, peer: '' });
  o.event({ type: 'request', step: 'applying', id, method: 'deposit' });
  o.event({ type: 'request', step: 'outcome', id, viewId: 1, status: 'committed', ok: true });
  o.event({ type: 'request', step: 'replied', id, peer: '127.0.0.1:1' });
}

describe('request records at a contact', () => {
  it('keep the last 4096 receipt-to-reply times', () => {
    const o = new Observer({ divergence: { checkEvery: 0 } });
    const before = performance.timeOrigin + performance.now();
    for (let i = 0; i < 5000; i++) lifecycle(o, `c:${i}`);
    const times = o.latenciesSince(before - 1);
    expect(times).toHaveLength(4096);
    expect(times.every((ms) => ms >= 0 && ms < 10_000)).toBe(true);
    expect(o.latenciesSince(performance.timeOrigin + performance.now() + 1_000)).toEqual([]);
    o.close();
  });

  it('trace every step once per event, a retransmitted call as a count', () => {
    const o = new Observer({ divergence: { checkEvery: 0 } });
    o.event({ type: 'request', step: 'received', id: 'c:1', peer: '127.0.0.1:1' });
    lifecycle(o, 'c:1');
    const t = o.trace('c:1')!;
    expect(t.steps.map((s) => s.step)).toEqual([
      'received',
      'cast',
      'ordered',
      'applying',
      'outcome',
      'replied',
    ]);
    expect(t.steps[0]!.count).toBe(2);
    expect(t.steps[4]!.ms).toBeGreaterThanOrEqual(0);
    // Steps of requests never received here are not traced unless they start a trace.
    o.event({ type: 'request', step: 'replied', id: 'c:2', peer: '127.0.0.1:1' });
    expect(o.trace('c:2')).toBeUndefined();
    o.close();
  });

  it('list the last 20 slow requests as copies', () => {
    const o = new Observer({ slowMs: 0, divergence: { checkEvery: 0 } });
    for (let i = 0; i < 30; i++) lifecycle(o, `c:${i}`);
    const slow = o.status().slow;
    expect(slow.map((t) => t.requestId)).toEqual(Array.from({ length: 20 }, (_, i) => `c:${i + 10}`));
    slow[19]!.steps.length = 0;
    expect(o.status().slow[19]!.steps).toHaveLength(6);
    expect(o.trace('c:29')!.steps).toHaveLength(6);
    o.close();
  });
});
