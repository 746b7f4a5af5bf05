// `queryGroup` (the `troupe status`/`trace` client) times its deadline and resends with the
// monotonic clock: with the wall clock stepped back mid-query (an NTP correction, a resumed VM),
// a query of seeds that never answer still ends at its deadline, not never. The live page picks
// the last second's latencies by the steady clock the observer stamps them with.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { steadyNow } from '../../runtime/clock.js';
import type { Observer } from '../../runtime/observe/observer.js';
import { LiveFeed } from '../../runtime/observe/page.js';
import { queryGroup } from '../../runtime/observe/query.js';
import { udp } from '../../runtime/transport/udp.js';

afterEach(() => vi.restoreAllMocks());

describe('queryGroup and the wall clock', () => {
  it('ends at its deadline with NO_CONTACT when the wall clock steps back an hour', async () => {
    // A seed that receives and never answers.
    const silent = await udp({ host: '127.0.0.1' });
    silent.onPacket(() => {});
    const real = Date.now;
    const start = real();
    vi.spyOn(Date, 'now').mockImplementation(() => {
      const t = real();
      return t - start > 50 ? t - 3_600_000 : t;
    });
    const t0 = performance.now();
    const err = await queryGroup({ group: 'g', seeds: [silent.address], timeoutMs: 300 }, 'status', []).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'NO_CONTACT' });
    expect(performance.now() - t0).toBeLessThan(3_000);
    await silent.close();
  });
});

describe('the live page and the wall clock', () => {
  it("picks the last second's latencies by the clock that stamped them, whatever Date.now says", () => {
    const asked: number[] = [];
    const observer = {
      appliedCount: () => 0,
      latenciesSince: (since: number) => {
        asked.push(since);
        return [];
      },
    } as unknown as Observer;
    const feed = new LiveFeed(observer);
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() - 3_600_000);
    (feed as unknown as { sample(): void }).sample();
    feed.close();
    expect(Math.abs(asked[0]! - (steadyNow() - 1_000))).toBeLessThan(1_000);
  });
});
