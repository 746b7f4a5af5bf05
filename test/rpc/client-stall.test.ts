// A client process that does not run for a while (a long GC pause, a blocked event loop, a
// stopped and resumed process) must not blame its contact for its own stall. After one, Node
// runs due timers before it reads the sockets, so the heartbeat found the contact silent since
// before the stall (its answers still unread) and failed every call over: under a loaded test
// run a 150 ms contact timeout did (test/rpc/lost-history.test.ts, FailoverError). A heartbeat
// that comes more than two periods late now restarts the contact's clock instead, as the
// sequencer's stall checks do; a contact that really went silent is still found one timeout later.
import { afterEach, expect, it } from 'vitest';
import { FailoverError } from '../../runtime/rpc/errors.js';
import { Cluster, type Ledger, QUICK_DETECTION, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Blocks this process's event loop for `ms` (the client, and here the replicas too). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else runs
  }
}

it('a client stalled 400 ms, past its 150 ms contact timeout, fails nothing over', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client(QUICK_DETECTION);
  const call = client.invoke('ledger', 'slowAppend', ['a', 1_000]);
  await sleep(100);
  stall(400);
  expect(await call).toBe(1);
  expect(client.stats().failovers).toBe(0);
});

it('a contact that went silent during the stall is still left, within a few timeouts', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
  const call = client.invoke('ledger', 'slowAppend', ['x', 2_000]);
  await sleep(100);
  // From here the client hears nobody.
  cluster.net.drop = (_from, to) => to.startsWith('192.168.0.');
  const t0 = performance.now();
  stall(400);
  const err = await call.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FailoverError);
  expect(performance.now() - t0).toBeLessThan(400 + 1_500);
});
