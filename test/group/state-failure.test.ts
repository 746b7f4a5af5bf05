import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import { udp } from '../../runtime/transport/udp.js';

/**
 * Issue 11 item 8 over real sockets: a provider whose `snapshot()` throws used to take its
 * process down (the exception escaped the driver's packet callback) as soon as a joiner came.
 */
const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };
const KEY = 'state-failure-test-key-0123456789';

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(300).catch(() => {})));
  groups = [];
});

describe('a state provider whose snapshot() throws', () => {
  it('stays up, and the joiner is refused with STATE_PROVIDER_FAILED', async () => {
    const t = await udp({ host: '127.0.0.1' });
    const provider = await joinGroup('g', {
      seeds: [t.address],
      transport: t,
      layers: FAST,
      key: KEY,
      state: {
        snapshot: () => {
          throw new Error('the application cannot snapshot');
        },
        restore: () => {},
      },
    });
    groups.push(provider);
    const joining = joinGroup('g', {
      seeds: [t.address],
      layers: FAST,
      key: KEY,
      joinTimeoutMs: 8_000,
      state: { snapshot: () => new Uint8Array(0), restore: () => {} },
    });
    await expect(joining).rejects.toMatchObject({ code: 'STATE_PROVIDER_FAILED' });
    expect(provider.stats().group!.snapshotFailed).toBe(1);
    expect(
      provider.errors.some((e) => (e.error as Error).message === 'the application cannot snapshot'),
    ).toBe(true);
    // Still serving: a cast still comes back.
    const back = new Promise<void>((resolve) => provider.on('deliver', () => resolve()));
    provider.cast(new Uint8Array([1]));
    await back;
  }, 20_000);
});

describe('co-founders with and without a state provider', () => {
  it('the one with a provider is refused with STATE_OFFER_MISSING, not wedged', async () => {
    const [ta, tb] = await Promise.all([udp({ host: '127.0.0.1' }), udp({ host: '127.0.0.1' })]);
    const seeds = [ta.address, tb.address];
    const withProvider = joinGroup('g2', {
      seeds,
      transport: ta,
      layers: FAST,
      key: KEY,
      stateStallMs: 1_000,
      joinTimeoutMs: 8_000,
      state: { snapshot: () => new Uint8Array(0), restore: () => {} },
    });
    const without = joinGroup('g2', { seeds, transport: tb, layers: FAST, key: KEY, joinTimeoutMs: 8_000 });
    await expect(withProvider).rejects.toMatchObject({ code: 'STATE_OFFER_MISSING' });
    groups.push(await without);
    await ta.close();
  }, 20_000);
});
