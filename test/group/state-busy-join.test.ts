/**
 * A provider whose snapshot() throws StateBusyError answers StateFail with busy 1: a joiner that
 * rejoins joins again, a first join too; one that does not (`onPartition: 'stop'`) fails at once
 * with STATE_BUSY rather than waiting for its join timeout (FINDINGS 113).
 */
import { afterEach, expect, it } from 'vitest';
import { StateBusyError } from '../../runtime/errors.js';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import { udp } from '../../runtime/transport/udp.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };
const KEY = 'review3-busy-join-key-0123456789abcdef';

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(300).catch(() => {})));
  groups = [];
});

async function busyProvider(busyMs: number) {
  const t = await udp({ host: '127.0.0.1' });
  let until = Number.POSITIVE_INFINITY;
  const provider = await joinGroup('g', {
    seeds: [t.address],
    transport: t,
    layers: FAST,
    key: KEY,
    state: {
      snapshot: () => {
        if (performance.now() < until) throw new StateBusyError('a run is half applied');
        return new Uint8Array([1]);
      },
      restore: () => {},
    },
  });
  groups.push(provider);
  until = performance.now() + busyMs;
  return t.address;
}

it("a first join with onPartition 'stop' told busy fails at once with a state error, not a join timeout", async () => {
  const seed = await busyProvider(60_000);
  const t0 = performance.now();
  const joining = joinGroup('g', {
    seeds: [seed],
    layers: FAST,
    key: KEY,
    onPartition: 'stop',
    joinTimeoutMs: 5_000,
    state: { snapshot: () => new Uint8Array(0), restore: () => {} },
  });
  const error = (await joining.then(
    (g) => {
      groups.push(g);
      return undefined;
    },
    (e: unknown) => e,
  )) as { code?: string; message?: string } | undefined;
  const ms = performance.now() - t0;
  // Fails on 1245d13: the busy give-up has no code, the member does not rejoin ('stop'), and
  // `ready` is left pending until joinTimeoutMs: JOIN_TIMEOUT "no view of 'g' within 5000 ms"
  // (it had one). Before 1245d13 this was STATE_PROVIDER_FAILED at once.
  expect({ code: error?.code, fast: ms < 3_000 }).toEqual({ code: 'STATE_BUSY', fast: true });
}, 20_000);
