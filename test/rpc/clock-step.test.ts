// A wall clock stepped by an NTP correction or a resumed VM must not move a client's or a
// replica's timers: they measure durations with a clock that is wall time at start and never
// stepped (runtime/clock.ts). With `Date.now` a step forward failed over every call at once,
// and a step back stopped retransmissions and failure detection for as long as the step.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FailoverError } from '../../runtime/rpc/errors.js';
import { Cluster, type Ledger, QUICK_DETECTION, sleep } from './support/cluster.js';

const HOUR = 3_600_000;
let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await cluster?.close();
  cluster = undefined;
});

/** From now on `Date.now()` answers `stepMs` off the real clock. */
function stepWallClock(stepMs: number): void {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() + stepMs);
}

describe('a stepped wall clock', () => {
  it('two hours forward during a call: the call completes, no fail-over', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client();
    const call = client.invoke('ledger', 'slowAppend', ['a', 200]);
    await sleep(50);
    stepWallClock(2 * HOUR);
    expect(await call).toBe(1);
    expect(await client.invoke('ledger', 'append', ['b'])).toBe(2);
    expect(client.stats().failovers).toBe(0);
  });

  it('an hour back: a contact gone silent is still detected within its timeout', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
    const call = client.invoke('ledger', 'slowAppend', ['x', 1_000]);
    await sleep(40);
    // From here the client hears nobody (no view push can tell it either): only its own timer can.
    cluster.net.drop = (_from, to) => to.startsWith('192.168.0.');
    const t0 = performance.now();
    stepWallClock(-HOUR);
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailoverError);
    // contactTimeoutMs is 150 ms here; the call's own deadline (5 s) must not be what ended it.
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('an hour back: a lost call is still retransmitted', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ timeoutMs: 5_000 });
    // The client's packets are lost until the clock has stepped back: the call's first copy with
    // them, and any copy sent again before the step (a loss window of 100 ms let a slow
    // machine's first copy through, or resend it before the step).
    let stepped = false;
    cluster.net.drop = (from) => from.startsWith('192.168.0.') && !stepped;
    const t0 = performance.now();
    const call = client.invoke('ledger', 'append', ['a']);
    await sleep(20);
    stepWallClock(-HOUR);
    stepped = true;
    const before = client.stats().retransmits;
    expect(await call).toBe(1);
    // Sent again after the step: only a copy sent then could get through.
    expect(client.stats().retransmits).toBeGreaterThan(before);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});
