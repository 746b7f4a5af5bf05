// An async method that keeps running holds back every later request at its replica (methods
// apply one at a time, in the order). Until it settles nothing else says so: the slow-request
// list sees a request once it is answered. The replica's stats, the metrics, `status` and a
// warning in the log name it.
import type { Browser } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { statusLines } from '../../runtime/observe/cli.js';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer } from '../../runtime/observe/observer.js';
import { type MetricsServer, metricsServer } from '../../runtime/observe/server.js';
import { Cluster, type Ledger } from '../rpc/support/cluster.js';
import { launchChromium } from '../support/chromium.js';
import { until } from '../support/until.js';

let cluster: Cluster<Ledger> | undefined;
let observer: Observer | undefined;
let server: MetricsServer | undefined;
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  await server?.close();
  observer?.close();
  await cluster?.close();
  browser = server = observer = cluster = undefined;
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
  // `troupe status` lists a run of a second or more, not one of 200 ms.
  const rendered = (value: unknown) => statusLines('ledger', [{ member: 'm1', address: 'a:1', value }]);
  expect(rendered(observer.status()).join('\n')).not.toContain('still applying');
  const longer = { ...observer.status(), applying: { ...running, ms: 1_500 } };
  expect(rendered(longer)).toContain(`  ${running.requestId} slowAppend for 1.5 s at m1`);
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

it('the live page names a request applying for a second or more', async () => {
  observer = new Observer();
  cluster = await Cluster.of(1, { observe: observer });
  const replica = cluster.nodes[0]!.replica;
  const client = await cluster.client();
  server = await metricsServer({ observer, port: 0 });
  browser = await launchChromium();
  const tab = await browser.newPage();
  await tab.goto(`${server.url}/`);
  await tab.waitForFunction("document.getElementById('conn')?.textContent === 'live'", undefined, {
    timeout: 10_000,
  });
  const slow = client.invoke('ledger', 'slowAppend', ['slow', 4_000]);
  await tab.waitForSelector('[data-applying]', { timeout: 10_000 });
  const line = await tab.textContent('[data-applying]');
  expect(line).toContain(replica.applying()!.requestId);
  expect(line).toMatch(/slowAppend for \d+\.\d s/);
  await slow;
  await tab.waitForSelector('[data-applying]', { state: 'detached', timeout: 10_000 });
}, 30_000);

it('refuses a stuckApplyMs that is no number of ms, and 0 turns the warning off', () => {
  expect(() => new Observer({ stuckApplyMs: -1 })).toThrow(
    expect.objectContaining({ code: 'OBSERVE_BAD_OPTION' }),
  );
  expect(() => new Observer({ stuckApplyMs: Number.NaN })).toThrow(
    expect.objectContaining({ code: 'OBSERVE_BAD_OPTION' }),
  );
  new Observer({ stuckApplyMs: 0 }).close();
});
