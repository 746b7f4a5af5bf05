// Keyed members whose wall clocks disagree by hours form a group and order casts over real UDP:
// each learns the others' clock offsets from their handshake answers (docs/protocol.md,
// "Handshake"). Without the handshake (the earlier fixed freshness bound), the same trio cannot
// hear each other at all.
import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_KEY } from '../support/key.js';
import { until } from '../support/until.js';

const HOUR = 3_600_000;
const SKEWS = [-3 * HOUR, 0, 5 * HOUR];
const FAST = { heartbeatMs: 50, suspectMs: 2_000, partitionMs: 6_000, bootstrapMs: 200, joinRetryMs: 50 };

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(300).catch(() => {})));
  groups = [];
});

async function trio(handshake: boolean, joinTimeoutMs: number): Promise<PromiseSettledResult<Group>[]> {
  const ts = await Promise.all(SKEWS.map(() => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  const made = await Promise.allSettled(
    ts.map((transport, i) =>
      joinGroup('skew', {
        seeds,
        transport,
        key: TEST_KEY,
        joinTimeoutMs,
        layers: { gms: FAST, com: { clock: () => Date.now() + SKEWS[i]!, handshake } },
      }),
    ),
  );
  for (const [i, m] of made.entries())
    if (m.status === 'fulfilled') groups.push(m.value);
    else await ts[i]!.close();
  return made;
}

describe('clock skew of hours between keyed members', () => {
  it('with the handshake: one view of three, casts ordered alike, offsets learnt', async () => {
    const made = await trio(true, 15_000);
    const gs = made.map((m) => (m as PromiseFulfilledResult<Group>).value);
    expect(made.every((m) => m.status === 'fulfilled')).toBe(true);
    await until(() => gs.every((g) => g.view?.members.length === 3), 10_000, 'a view of three');
    const got = gs.map(() => [] as string[]);
    for (const [i, g] of gs.entries()) {
      g.on('deliver', (d) => {
        got[i]!.push(new TextDecoder().decode(d.payload));
      });
    }
    for (const [i, g] of gs.entries())
      for (let k = 0; k < 5; k++) g.cast(new TextEncoder().encode(`${i}:${k}`));
    await until(() => got.every((l) => l.length === 15), 10_000, 'all casts delivered');
    expect(got[1]).toEqual(got[0]);
    expect(got[2]).toEqual(got[0]);
    for (const g of gs) expect(g.stats().com).toMatchObject({ stale: 0 });
    expect(gs[1]!.stats().com!.hsLearnt).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it('without it (fixed 60 s freshness), every packet between them is stale: no view of three', async () => {
    const made = await trio(false, 3_000);
    const views = made.map((m) => (m.status === 'fulfilled' ? m.value.view?.members.length : 0));
    expect(views.every((n) => (n ?? 0) < 3)).toBe(true);
    // A member that founded alone (its bootstrap heard no one it could verify) is all it gets.
    expect(made.some((m) => m.status === 'rejected') || groups.every((g) => g.stats().com!.stale! > 0)).toBe(
      true,
    );
  }, 40_000);
});
