// Input generators for the fuzz suite: values of the shapes msgpack can decode to (the only shapes
// a hostile peer can make a decoder see), and byte mutations of valid encodings. Deterministic
// from a seed, so a failing input is reproduced by its seed and index.
import { seededRandom } from '../../runtime/stack/random.js';

/** Inputs per decoder: TROUPE_FUZZ_N, or 200,000 with TROUPE_FUZZ=long, else `fast`. */
export function fuzzCount(fast: number): number {
  const n = Number(process.env.TROUPE_FUZZ_N);
  if (Number.isInteger(n) && n > 0) return n;
  return process.env.TROUPE_FUZZ === 'long' ? 200_000 : fast;
}

/**
 * A test's timeout for `n` inputs: the suite's default (60 s) for CI's fast counts, and a
 * millisecond per input beyond that, so a long run (`TROUPE_FUZZ=long`) on a loaded machine ends
 * by its own bounds, not vitest's (seed 3003's validator target took 66 s at load 8).
 */
export function fuzzTimeout(n: number): number {
  return Math.max(60_000, 2 * n);
}

export type Rng = () => number;

/**
 * Added to every target's seed: `TROUPE_FUZZ_SEED=k` explores inputs CI never ran (CI runs 0).
 * A failure names the seed it used, the offset included.
 */
export const FUZZ_SEED_OFFSET = Number.isInteger(Number(process.env.TROUPE_FUZZ_SEED))
  ? Number(process.env.TROUPE_FUZZ_SEED)
  : 0;

/** The input stream of a target whose base seed is `seed` (see {@link FUZZ_SEED_OFFSET}). */
export const rng = (seed: number): Rng => seededRandom(seed + FUZZ_SEED_OFFSET);

const int = (r: Rng, n: number) => Math.floor(r() * n);

const MEMBERS = ['00000001.1', '00000002.1', '00000bad.1', 'ffffffff.4294967295', '0.0', ''];
const EDGE_NUMBERS = [
  0,
  1,
  -1,
  2,
  3,
  4,
  5,
  7,
  31,
  32,
  255,
  256,
  65535,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  1.5,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MAX_SAFE_INTEGER,
];
const STRINGS = [
  '',
  'x',
  'toString',
  '__proto__',
  'constructor',
  'a:1',
  'c:1',
  '127.0.0.1:1',
  'ß'.repeat(40),
];

/** A random msgpack-decodable value: numbers (edge ones often), strings, member ids, booleans,
 * null, bytes and arrays, nested at most `depth` deep. */
export function value(r: Rng, depth = 3): unknown {
  const x = r();
  if (x < 0.3) return EDGE_NUMBERS[int(r, EDGE_NUMBERS.length)];
  if (x < 0.4) return int(r, 20);
  if (x < 0.5) return MEMBERS[int(r, MEMBERS.length)];
  if (x < 0.58) return STRINGS[int(r, STRINGS.length)];
  if (x < 0.62) return r() < 0.5;
  if (x < 0.66) return null;
  if (x < 0.72) return new Uint8Array(int(r, 16)).map(() => int(r, 256));
  if (depth <= 0) return int(r, 4);
  return Array.from({ length: int(r, 6) }, () => value(r, depth - 1));
}

/** A random layer header: usually `[kind, ...fields]` with a small kind, sometimes anything. */
export function header(r: Rng): unknown {
  if (r() < 0.1) return value(r, 2);
  return [int(r, 10) - (r() < 0.05 ? 1 : 0), ...Array.from({ length: int(r, 7) }, () => value(r, 3))];
}

/** A random object value too (validators and snapshots see objects, not only arrays). */
export function jsValue(r: Rng, depth = 4): unknown {
  if (depth > 0 && r() < 0.25) {
    // Own properties only, as a decoder makes them: assigning `o.__proto__` sets the prototype
    // instead, and such objects made the generator itself throw a TypeError (`TROUPE_FUZZ=long`,
    // decodeGroupMsg seed 29, input 172722), failing the run with no decoder at fault.
    const entries: [string, unknown][] = [];
    for (let i = int(r, 5); i > 0; i--)
      entries.push([STRINGS[int(r, STRINGS.length)]! + (r() < 0.5 ? '' : int(r, 4)), jsValue(r, depth - 1)]);
    return Object.fromEntries(entries);
  }
  if (depth > 0 && r() < 0.2) return Array.from({ length: int(r, 5) }, () => jsValue(r, depth - 1));
  return value(r, 1);
}

/** `bytes` with 1–4 random bytes replaced, sometimes truncated, sometimes extended. */
export function mutate(r: Rng, bytes: Uint8Array): Uint8Array {
  let out = bytes.slice();
  for (let f = 1 + int(r, 4); f > 0 && out.length > 0; f--) out[int(r, out.length)] = int(r, 256);
  if (r() < 0.15) out = out.subarray(0, int(r, out.length + 1));
  if (r() < 0.05) {
    const more = new Uint8Array(out.length + 1 + int(r, 8));
    more.set(out);
    out = more;
  }
  return out;
}

/** Random bytes, `max` long at most. */
export function bytes(r: Rng, max: number): Uint8Array {
  return new Uint8Array(int(r, max + 1)).map(() => int(r, 256));
}
