/** A source of uniform numbers in [0, 1). Injected into layers so runs are reproducible. */
export type RandomSource = () => number;

/**
 * A small, fast, seedable generator (sfc32 seeded through splitmix32). Deterministic across
 * platforms: only 32-bit integer arithmetic. `more` seed words are mixed into its 128-bit state:
 * a live member seeds it with 128 bits from node:crypto, since its draws make nonces that must
 * not be predicted (from one 32-bit seed, 2^32 trials recover the state from one nonce seen).
 */
export function seededRandom(seed: number, ...more: number[]): RandomSource {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix() ^ ((more[0] ?? 0) >>> 0);
  let b = splitmix() ^ ((more[1] ?? 0) >>> 0);
  let c = splitmix() ^ ((more[2] ?? 0) >>> 0);
  let d = splitmix();
  // sfc32 mixes its state for a few rounds before its first output.
  for (let i = 0; more.length > 0 && i < 12; i++) {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (((c << 21) | (c >>> 11)) + t) >>> 0;
  }
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

/** Uniform integer in [lo, hi]. */
export function randomInt(random: RandomSource, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}
