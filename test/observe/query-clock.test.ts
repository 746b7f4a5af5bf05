// `queryGroup` (the `troupe status`/`trace` client) times its deadline and resends with the
// monotonic clock: with the wall clock stepped back mid-query (an NTP correction, a resumed VM),
// a query of seeds that never answer still ends at its deadline, not never.
import { afterEach, describe, expect, it, vi } from 'vitest';
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
