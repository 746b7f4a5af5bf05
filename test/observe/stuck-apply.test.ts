// An async method that keeps running holds back every later request at its replica (methods
// apply one at a time, in the order). Until it settles nothing else says so: the slow-request
// list sees a request once it is answered. The replica's stats, the metrics, `status` and a
// warning in the log name it.
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer } from '../../runtime/observe/observer.js';
import { Cluster, type Ledger } from '../rpc/support/cluster.js';
import { until } from '../support/until.js';

let cluster: Cluster<Ledger> | undefined;
let observer: Observer | undefined;
afterEach(async () => {
  observer?.close();
  await cluster?.close();
});

it('names the request an async method has been running for, and the queue behind it', async () => {
  const lines: Record<string, unknown>[] = [];
  observer = new Observer({
    logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) }),
    stuckApplyMs: 150,
  });
  cluster = await Cluster.of(1, { observe: observer });
  const replica = cluster.nodes[0]!.replica;
  const client = await cluster.client();
  expect(replica.stats()).toMatchObject({ applyRunningMs: 0, applyQueued: 0 });
  expect(replica.applying()).toBeUndefined();

  const slow = client.invoke('ledger', 'slowAppend', ['slow', 700]);
  const after = client.invoke('ledger', 'append', ['after']);
  await until(() => (replica.applying()?.ms ?? 0) >= 200, 5_000, 'the slow method running');
  const running = replica.applying()!;
  expect(running.method).toBe('slowAppend');
  expect(running.requestId).toMatch(/:\d+$/);
  await until(() => replica.stats().applyQueued >= 1, 5_000, 'the next call queued behind it');
  expect(observer.status().applying).toMatchObject({ requestId: running.requestId, method: 'slowAppend' });
  const text = await observer.registry.metrics();
  expect(
    Number(/^troupe_replica_apply_running_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]),
  ).toBeGreaterThan(0.1);
  expect(Number(/^troupe_replica_apply_queued(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(
    1,
  );

  await until(
    () => lines.filter((l) => l.msg === 'request still applying: later requests wait').length >= 2,
    5_000,
    'two warnings (at 150 ms, then 300 ms)',
  );
  const warnings = lines.filter((l) => l.msg === 'request still applying: later requests wait');
  expect(warnings[0]).toMatchObject({ level: 40, requestId: running.requestId, method: 'slowAppend' });
  expect(warnings[0]!.ms as number).toBeGreaterThanOrEqual(150);
  expect(warnings[1]!.ms as number).toBeGreaterThanOrEqual(300);
  expect(warnings[0]!.queued).toBeGreaterThanOrEqual(1);

  await Promise.all([slow, after]);
  await cluster.settle();
  expect(replica.applying()).toBeUndefined();
  expect(replica.stats()).toMatchObject({ applyRunningMs: 0, applyQueued: 0 });
  // Settled: no more warnings.
  const n = lines.filter((l) => l.msg === 'request still applying: later requests wait').length;
  await new Promise((r) => setTimeout(r, 400));
  expect(lines.filter((l) => l.msg === 'request still applying: later requests wait')).toHaveLength(n);
});

it('refuses a stuckApplyMs that is no number of ms, and 0 turns the warning off', () => {
  expect(() => new Observer({ stuckApplyMs: -1 })).toThrow(
    expect.objectContaining({ code: 'OBSERVE_BAD_OPTION' }),
  );
  expect(() => new Observer({ stuckApplyMs: Number.NaN })).toThrow(
    expect.objectContaining({ code: 'OBSERVE_BAD_OPTION' }),
  );
  new Observer({ stuckApplyMs: 0 }).close();
});
