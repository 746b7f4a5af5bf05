/**
 * What the observer keeps of the requests a contact answers, now stored without an object per
 * request: the receipt-to-reply times (typed-array ring), the slow list (references copied when
 * shown) and the trace ring looked up once per event. Fed events directly, as the replica would.
 */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BucketHistogram } from '../../runtime/observe/histogram.js';
import { Observer } from '../../runtime/observe/observer.js';

/** The steps `lifecycle` records, in order. */
const LIFECYCLE = ['received', 'cast', 'ordered', 'applying', 'outcome', 'replied'];

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
    expect(t.steps.map((s) => s.step)).toEqual(LIFECYCLE);
    expect(t.steps[0]!.count).toBe(2);
    expect(t.steps[4]!.ms).toBeGreaterThanOrEqual(0);
    // Steps of requests never received here are not traced unless they start a trace.
    o.event({ type: 'request', step: 'replied', id: 'c:2', peer: '127.0.0.1:1' });
    expect(o.trace('c:2')).toBeUndefined();
    o.close();
  });

  it('time requests for the metrics with no traces kept (`traces: 0`)', async () => {
    // Before: the histograms and the page's latencies read times from the trace ring, and with
    // `traces: 0` there was none: every one stayed empty, silently.
    const o = new Observer({ traces: 0, slowMs: 0, divergence: { checkEvery: 0 } });
    for (let i = 0; i < 300; i++) lifecycle(o, `c:${i}`);
    const text = await o.registry.metrics();
    expect(text).toMatch(/^troupe_replica_order_latency_seconds_count 300$/m);
    expect(text).toMatch(/^troupe_replica_apply_duration_seconds_count\{method="deposit"\} 300$/m);
    expect(o.latenciesSince(0)).toHaveLength(300);
    // Nothing is answered from the ring.
    expect(o.trace('c:299')).toBeUndefined();
    expect(o.status().slow).toEqual([]);
    expect(() => new Observer({ traces: -1 })).toThrow(/traces/);
    expect(() => new Observer({ traces: Number.POSITIVE_INFINITY })).toThrow(/traces/);
    // Under one request is none: the metrics still time every request.
    const half = new Observer({ traces: 0.5, divergence: { checkEvery: 0 } });
    lifecycle(half, 'c:1');
    expect(half.latenciesSince(0)).toHaveLength(1);
    expect(half.trace('c:1')).toBeUndefined();
    half.close();
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

  it('keep every field of a step, a repeated step in its place, and slow requests past the ring', () => {
    const o = new Observer({ slowMs: 0, traces: 4, divergence: { checkEvery: 0 } });
    lifecycle(o, 'c:0');
    // The same request ordered again here (a reissue after a view change): a second step.
    o.event({ type: 'request', step: 'ordered', id: 'c:0', viewId: 2, gseq: 9, peer: 'm.2' });
    const t = o.trace('c:0')!;
    expect(t.steps.map((s) => s.step)).toEqual([...LIFECYCLE, 'ordered']);
    expect(t.steps[0]).toEqual({ step: 'received', at: t.steps[0]!.at, peer: '127.0.0.1:1' });
    expect(t.steps[2]).toMatchObject({ viewId: 1, gseq: 7, peer: '' });
    expect(t.steps[3]).toMatchObject({ method: 'deposit' });
    expect(t.steps[4]).toMatchObject({ viewId: 1, status: 'committed', ok: true });
    expect(t.steps[6]).toMatchObject({ viewId: 2, gseq: 9, peer: 'm.2' });
    expect(Object.keys(t.steps[1]!).sort()).toEqual(['at', 'step']);
    // The ring holds 4 requests: c:0 leaves it, but as a slow request it is still shown whole.
    for (let i = 1; i <= 4; i++) lifecycle(o, `c:${i}`);
    expect(o.trace('c:0')).toBeUndefined();
    expect(o.trace('c:1')!.steps).toHaveLength(6);
    const slow = o.status().slow;
    expect(slow.map((x) => x.requestId)).toEqual(['c:0', 'c:1', 'c:2', 'c:3', 'c:4']);
    expect(slow[0]!.steps).toHaveLength(7);
    o.close();
  });
});

describe('the observer histograms', () => {
  it('export exactly what prom-client histograms export for the same observations', async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const values = [0, 0.0005, 0.001, 0.002, 0.05, 0.5, 3, Number.NaN, 0.01];
    const theirs = new Registry();
    const ours = new Registry();
    for (const r of [theirs, ours]) r.setDefaultLabels({ group: 'bank' });
    const h1 = new Histogram({ name: 'x_seconds', help: 'x.', buckets, registers: [theirs] });
    const l1 = new Histogram({
      name: 'y_seconds',
      help: 'y.',
      buckets,
      labelNames: ['method'],
      registers: [theirs],
    });
    const h2 = new BucketHistogram({ name: 'x_seconds', help: 'x.', buckets, registers: [ours] });
    const l2 = new BucketHistogram({
      name: 'y_seconds',
      help: 'y.',
      buckets,
      labelNames: ['method'],
      registers: [ours],
    });
    for (const v of values) {
      if (Number.isFinite(v)) h1.observe(v);
      h2.observe(v);
      for (const method of ['deposit', 'get']) {
        if (Number.isFinite(v)) l1.labels({ method }).observe(v * 2);
        l2.labels({ method }).observe(v * 2);
      }
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('y_seconds_bucket{le="+Inf",group="bank",method="get"} 8');
  });
});
