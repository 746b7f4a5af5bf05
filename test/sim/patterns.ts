/**
 * The opt-in fault plans (see `ExtraFault` in test/sim/world.ts), each drawn from its own
 * seeded generator so that switching one on leaves the seed's other faults as they were:
 *
 * - `splits`: the network splits and heals repeatedly, in a pattern chosen per seed: halves
 *   (2|2 for 4 members), every member alone (1|1|1), or a majority and a minority that swap
 *   sides between rounds (the old minority becomes part of the new majority);
 * - `links`: one-way cuts (a member hears the others, they do not hear it, or the reverse)
 *   and non-transitive cuts (a and b cannot talk, while both talk to c);
 * - `skew`: each member's and client's wall clock is offset by up to ±3 h and drifts by up to
 *   ±2 % (the RPC mode's replicas and clients read it; the protocol layers run on monotonic
 *   time and do not).
 *
 * Every split and cut heals before `faultMs`, so the quiet phase can show recovery.
 */
import { randomInt, seededRandom } from '../../runtime/stack/random.js';
import type { World } from './world.js';

export type SplitPattern = 'halves' | 'singles' | 'swap';
export const SPLIT_PATTERNS: readonly SplitPattern[] = ['halves', 'singles', 'swap'];

/** Sides for one round of `pattern` over `n` nodes; `round` alternates the swap pattern. */
export function splitSides(pattern: SplitPattern, n: number, round: number, r: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(r, 0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const sides = Array.from({ length: n }, () => 0);
  if (pattern === 'singles') {
    order.forEach((node, k) => {
      sides[node] = k;
    });
    return sides;
  }
  const minority = pattern === 'halves' ? Math.floor(n / 2) : Math.max(1, Math.floor((n - 1) / 2));
  if (pattern === 'swap') {
    // A fixed ring order so consecutive rounds move the minority: round k isolates the nodes
    // k*m .. k*m+m-1 (mod n), so each round's minority was part of the previous majority.
    for (let k = 0; k < minority; k++) sides[(round * minority + k) % n] = 1;
    return sides;
  }
  for (let k = 0; k < minority; k++) sides[order[k]!] = 1;
  return sides;
}

/** `splits`: 2..4 rounds of split-then-heal in the seed's pattern, all within the fault phase. */
export function planSplits(w: World): SplitPattern {
  const r = seededRandom(w.cfg.seed * 131 + 7);
  const pattern = SPLIT_PATTERNS[randomInt(r, 0, SPLIT_PATTERNS.length - 1)]!;
  const rounds = randomInt(r, 2, 4);
  let t = 100 + r() * 300;
  for (let k = 0; k < rounds; k++) {
    const split = 300 + r() * 1_700;
    const healed = 200 + r() * 800;
    if (t + split > w.cfg.faultMs) break;
    const sides = splitSides(pattern, w.cfg.members, k, r);
    w.at(t, () => w.partition(sides));
    w.at(t + split, () => w.heal());
    t += split + healed;
  }
  return pattern;
}

/** `links`: a one-way cut and a non-transitive cut (a↮b, both reach c), each healed later. */
export function planLinks(w: World): void {
  const r = seededRandom(w.cfg.seed * 137 + 11);
  const n = w.cfg.members;
  if (n < 2) return;
  const pick = () => randomInt(r, 0, n - 1);
  const other = (a: number) => (a + randomInt(r, 1, n - 1)) % n;
  const rounds = randomInt(r, 1, 3);
  for (let k = 0; k < rounds; k++) {
    const t = r() * w.cfg.faultMs * 0.7;
    const len = 200 + r() * 1_500;
    const a = pick();
    if (r() < 0.5) {
      // One way: a hears everyone (or everyone hears a) but not the reverse.
      const deaf = r() < 0.5;
      for (let b = 0; b < n; b++) {
        if (b === a) continue;
        w.at(t, () => w.cutLink(deaf ? b : a, deaf ? a : b));
        w.at(Math.min(t + len, w.cfg.faultMs), () => w.cutLink(deaf ? b : a, deaf ? a : b, false, true));
      }
    } else {
      // Non-transitive: a and b lose each other both ways; everyone else still talks to both.
      const b = other(a);
      w.at(t, () => w.cutLink(a, b, true));
      w.at(Math.min(t + len, w.cfg.faultMs), () => w.cutLink(a, b, true, true));
    }
  }
}

/** Largest wall-clock offset of `skew` (3 h) and drift rate (2 %). */
export const MAX_SKEW_MS = 3 * 3_600_000;
export const MAX_DRIFT = 0.02;

/** Wall-clock time at virtual time 0 under `skew` (2026-01-01T00:00:00Z). */
export const SKEW_EPOCH_MS = Date.UTC(2026, 0, 1);

/** `skew`: per-address wall-clock offset and drift for every member and every `clients` address. */
export function planSkew(w: World, clients: readonly string[] = []): void {
  const r = seededRandom(w.cfg.seed * 139 + 13);
  for (const address of [...w.nodes.map((n) => n.address), ...clients]) {
    // Most clocks are a little off; some are off by minutes to hours, either way.
    const big = r() < 0.3;
    const offset = (r() * 2 - 1) * (big ? MAX_SKEW_MS : 2_000);
    const drift = (r() * 2 - 1) * MAX_DRIFT;
    // From a real epoch: virtual time starts at 0, and a clock hours behind must not go
    // negative (a replica clamps a negative request time to 0, which no real clock gives).
    w.skew.set(address, (now) => SKEW_EPOCH_MS + offset + drift * now);
  }
}
