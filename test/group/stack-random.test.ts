import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RandomSource } from '../../runtime/stack/random.js';

// What every member's stack was built with: its random source.
const sources = vi.hoisted(() => [] as RandomSource[]);

vi.mock('../../runtime/stack/builder.js', async (original) => {
  const m = await original<typeof import('../../runtime/stack/builder.js')>();
  return {
    ...m,
    buildStack: (...args: Parameters<typeof m.buildStack>) => {
      sources.push(args[2].random);
      return m.buildStack(...args);
    },
  };
});

// node:crypto's randomInt stuck at one value: what a 32-bit seed gives an attacker who
// searches all 2^32 of them.
vi.mock('node:crypto', async (original) => {
  const m = await original<typeof import('node:crypto')>();
  return { ...m, randomInt: () => 7 };
});

const { joinGroup } = await import('../../runtime/group/group.js');
const { udp } = await import('../../runtime/transport/udp.js');

let groups: Awaited<ReturnType<typeof joinGroup>>[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
});

describe("a member's stack randomness", () => {
  it('does not follow from a 32-bit seed (FINDINGS 213)', async () => {
    // Keyless groups rest on numbers a forger cannot guess: nak's stream origins and nonces
    // (FINDINGS 206), gms's join and report nonces. They were all drawn from sfc32 seeded with
    // 32 bits: one nonce a member sends a stranger pins the seed after a search of 2^32 seeds.
    for (let i = 0; i < 2; i++) {
      const transport = await udp({ host: '127.0.0.1' });
      groups.push(
        await joinGroup(`rnd${i}`, {
          seeds: [transport.address],
          transport,
          insecure: true,
          layers: { gms: { bootstrapMs: 50 } },
        }),
      );
    }
    expect(sources.length).toBeGreaterThanOrEqual(2);
    const draws = (r: RandomSource) => Array.from({ length: 8 }, () => Math.floor(r() * 2 ** 32));
    const [a, b] = [draws(sources[0]!), draws(sources[1]!)];
    expect(a).not.toEqual(b);
    // Each draw carries more than 32 bits (origins and nonces are built from two draws).
    expect(Array.from({ length: 64 }, () => sources[0]!() * 2 ** 32).some((x) => !Number.isInteger(x))).toBe(
      true,
    );
  });
});
