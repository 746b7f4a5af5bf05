/** A source of uniform numbers in [0, 1). Injected into layers so runs are reproducible. */
export type RandomSource = () => number;

/**
 * A small, fast, seedable generator (sfc32 seeded through splitmix32). Deterministic across
 * platforms: only 32-bit integer arithmetic.
 */
export function seededRandom(seed: number): RandomSource {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
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
