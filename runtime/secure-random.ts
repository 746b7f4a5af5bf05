import { randomFillSync } from 'node:crypto';
import type { RandomSource } from './stack/random.js';

/** Bytes drawn from the OS at a time: one system call per 512 numbers. */
const POOL_BYTES = 4096;

/**
 * A {@link RandomSource} from the OS's cryptographic generator, for stacks that face a network.
 * Without a key, a group's defence against a forger who spoofs a member's address is numbers it
 * cannot guess (nak's stream origins and nonces, gms's join and report nonces), drawn from the
 * stack's source; a small seeded generator (sfc32 from 32 bits) gave them all away to whoever
 * saw one and searched the 2^32 seeds (FINDINGS 213). The simulator keeps `seededRandom`, which
 * replays. Each number carries 53 random bits, as `Math.random`'s do.
 */
export function secureRandom(): RandomSource {
  const pool = new Uint32Array(POOL_BYTES / 4);
  let next = pool.length;
  return () => {
    if (next + 2 > pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    const hi = pool[next++]! >>> 5; // 27 bits
    const lo = pool[next++]! >>> 6; // 26 bits
    return (hi * 2 ** 26 + lo) / 2 ** 53;
  };
}
