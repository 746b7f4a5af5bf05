// Periodic divergence checks are spaced by the measured digest time, so a large state is checked
// less often instead of blocking every replica's event loop every `checkEvery` requests.
import { describe, expect, it } from 'vitest';
import type { GroupHandle } from '../../runtime/group/types.js';
import { DEFAULT_DIGEST_SHARE, DivergenceMonitor } from '../../runtime/observe/divergence.js';
import { silentLogger } from '../../runtime/observe/logger.js';
import { Metrics } from '../../runtime/observe/metrics.js';
import { decodeGroupMsg, type RequestMsg } from '../../runtime/rpc/messages.js';

/**
 * A monitor at member `self` of `members` (the coordinator is the first), on a clock the test
 * moves. `deliver` brings every checkpoint cast since the last call back in order, each digest
 * taking `digestMs`.
 */
function monitorAt(self: string, members: string[], checkEvery: number, digestShare?: number | false) {
  let now = 0;
  let delivered = 0;
  const casts: RequestMsg[] = [];
  const view = { id: 1, members };
  const g = {
    self,
    view,
    cast: (bytes: Uint8Array) => casts.push(decodeGroupMsg(bytes) as RequestMsg),
  } as unknown as GroupHandle;
  const monitor = new DivergenceMonitor(
    () => g,
    silentLogger,
    new Metrics(),
    { checkEvery, ...(digestShare === undefined ? {} : { digestShare }) },
    undefined,
    () => now,
  );
  const checkpointsCast = () => casts.filter((m) => m.method === 'checkpoint');
  const deliver = (digestMs: number) => {
    for (const msg of checkpointsCast().slice(delivered))
      monitor.onSystem({
        type: 'system',
        msg,
        view,
        digest: () => {
          now += digestMs;
          return 'd';
        },
        last: undefined,
      });
    delivered = checkpointsCast().length;
  };
  const step = (ms: number) => {
    now += ms;
  };
  return { monitor, step, deliver, checkpoints: () => checkpointsCast().length };
}

function fixture(digestMs: number, digestShare?: number | false) {
  const m = monitorAt('a', ['a', 'b'], 10, digestShare);
  /** Applies `n` requests, 1 ms apart; every checkpoint this member cast comes back in order. */
  const apply = (n: number) => {
    for (let i = 0; i < n; i++) {
      m.step(1);
      m.monitor.onApplied();
      m.deliver(digestMs);
    }
  };
  return { apply, checkpoints: m.checkpoints };
}

describe('divergence check budget', () => {
  it('a digest short enough for the share: a check every checkEvery requests', () => {
    // 0.01 ms ÷ 0.002 = 5 ms, under the 10 ms that checkEvery (10 requests, 1 ms apart) takes.
    const f = fixture(0.01);
    f.apply(100);
    expect(f.checkpoints()).toBe(10);
  });

  it('a sub-millisecond digest is spaced too (it was not before session 22)', () => {
    // 0.5 ms ÷ 0.002 = 250 ms between checks: 100 requests 1 ms apart hold the first only.
    const f = fixture(0.5);
    f.apply(100);
    expect(f.checkpoints()).toBe(1);
    f.apply(250);
    expect(f.checkpoints()).toBe(2);
  });

  it('digestShare false: a check every checkEvery requests, whatever the digest costs', () => {
    const f = fixture(20, false);
    f.apply(100);
    expect(f.checkpoints()).toBe(10);
  });

  it(`a digest of 20 ms: checks at least 20 ms ÷ ${DEFAULT_DIGEST_SHARE} apart (the default share), whatever the rate`, () => {
    const gap = 20 / DEFAULT_DIGEST_SHARE;
    const f = fixture(20);
    f.apply(100); // 100 ms of requests (+20 ms per digest): the first check only
    expect(f.checkpoints()).toBe(1);
    f.apply(gap); // one gap more: one check per gap of time
    expect(f.checkpoints()).toBe(2);
    f.apply(2 * gap);
    expect(f.checkpoints()).toBe(4);
  });

  it('a share outside (0, 1] is refused with a typed error', () => {
    for (const digestShare of [0, -1, 2, Number.NaN])
      expect(() => fixture(0, digestShare)).toThrow(expect.objectContaining({ code: 'OBSERVE_BAD_OPTION' }));
  });

  it('a share of 0.1: ten times as often', () => {
    const f = fixture(20, 0.1);
    // Checks start 200 ms apart (the clock counts the digests too): at 10, 210, ..., 1,010 ms
    // of the 1,120 ms that 1,000 requests and six digests take.
    f.apply(1_000);
    expect(f.checkpoints()).toBe(6);
  });
});

describe('a check at a join (FINDINGS 216)', () => {
  const joined = (self: string, digestShare?: number | false, checkEvery = 10) =>
    monitorAt(self, ['a', 'b', 'j'], checkEvery, digestShare);

  it('the coordinator starts one at once; another member does not', () => {
    const a = joined('a');
    a.monitor.onJoined();
    expect(a.checkpoints()).toBe(1);
    const b = joined('b');
    b.monitor.onJoined();
    expect(b.checkpoints()).toBe(0);
  });

  it('spaced as the periodic checks are, and none with checks off', () => {
    // A 1 ms digest at a share of 0.01: checks at least 100 ms apart.
    const a = joined('a', 0.01);
    a.monitor.onJoined();
    a.deliver(1);
    a.step(10);
    a.monitor.onJoined();
    expect(a.checkpoints()).toBe(1);
    a.step(100);
    a.monitor.onJoined();
    expect(a.checkpoints()).toBe(2);
    const off = joined('a', undefined, 0);
    off.monitor.onJoined();
    expect(off.checkpoints()).toBe(0);
  });
});
