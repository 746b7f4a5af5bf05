// guardMsgpack was rewritten to allocate nothing (it runs on every application value a replica
// decodes). It must accept and refuse exactly what the old guard did, with the same message:
// the old one is kept as the reference (fixtures/guard-reference.ts) and both walk the same
// inputs: valid documents of every type, the same documents cut, flipped and spliced, and noise
// biased to type bytes, under limits that allow and refuse maps, extensions, depth and counts.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../runtime/stack/random.js';
import { type GuardLimits, guardMsgpack, PACKET_LIMITS } from '../../runtime/wire/index.js';
import { referenceGuard } from './fixtures/guard-reference.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

const LIMITS: GuardLimits[] = [
  PACKET_LIMITS,
  { maxDepth: 16, maxValues: 1 << 16, allowMaps: true, allowedExtensions: new Set([-1]) },
  { maxDepth: 2, maxValues: 12, allowMaps: true, allowedExtensions: new Set([-1, 5]) },
  { maxDepth: 40, maxValues: 1 << 20, allowMaps: false, allowedExtensions: new Set([0x72]) },
];

function outcome(
  guard: typeof guardMsgpack,
  bytes: Uint8Array,
  start: number,
  end: number,
  limits: GuardLimits,
): string {
  try {
    guard(bytes, start, end, limits);
    return 'ok';
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

describe('guardMsgpack (allocation-free) against the guard it replaced', () => {
  it('agrees on 30,000 documents, mutations and noise, under four limits', () => {
    const random = seededRandom(20261203);
    const int = (n: number) => Math.floor(random() * n);
    const leaf = (): unknown => {
      switch (int(12)) {
        case 0:
          return int(200) - 100;
        case 1:
          return int(2 ** 31) * (random() < 0.5 ? -1 : 1);
        case 2:
          return 2 ** 40 + int(1000);
        case 3:
          return random();
        case 4:
          return 'x'.repeat(int(300));
        case 5:
          return new Uint8Array(int(70_000 * (random() < 0.05 ? 1 : 0.001)));
        case 6:
          return null;
        case 7:
          return random() < 0.5;
        case 8:
          return new Date(int(2 ** 40));
        case 9:
          return 'é'.repeat(int(40));
        case 10:
          return -(2 ** 50);
        default:
          return int(70_000);
      }
    };
    const doc = (depth: number): unknown => {
      if (depth > 4 || random() < 0.45) return leaf();
      const n = depth === 0 && random() < 0.1 ? 16 + int(40) : int(5);
      if (random() < 0.3) {
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) m.set(random() < 0.5 ? `k${i}` : i, doc(depth + 1));
        return m;
      }
      return Array.from({ length: n }, () => doc(depth + 1));
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 30_000; i++) {
      let bytes: Uint8Array = packr.pack(doc(0));
      const kind = int(5);
      if (kind === 1) bytes = bytes.subarray(0, int(bytes.length + 1));
      else if (kind === 2 && bytes.length > 0) {
        bytes = Uint8Array.from(bytes);
        bytes[int(bytes.length)] = int(256);
      } else if (kind === 3) {
        const extra = Uint8Array.from({ length: int(8) }, () => int(256));
        const at = int(bytes.length + 1);
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)]);
      } else if (kind === 4) {
        // Noise made of type bytes and small lengths: containers, exts, strs at every width.
        const pick = [0x90, 0x93, 0x81, 0xdc, 0xdd, 0xde, 0xc7, 0xd4, 0xd8, 0xc4, 0xda, 0xc1, 0xcf, 0xff];
        bytes = Uint8Array.from({ length: 1 + int(24) }, () =>
          random() < 0.5 ? pick[int(pick.length)]! : int(random() < 0.5 ? 4 : 256),
        );
      }
      // Sometimes inside a larger buffer, at an offset (start and end are not the view's edges).
      let start = 0;
      let end = bytes.length;
      if (random() < 0.3) {
        const pad = int(5);
        const big = new Uint8Array(bytes.length + pad + int(5));
        big.set(bytes, pad);
        start = pad;
        end = pad + bytes.length;
        bytes = big;
      }
      const limits = LIMITS[int(LIMITS.length)]!;
      const want = outcome(referenceGuard, bytes, start, end, limits);
      expect(outcome(guardMsgpack, bytes, start, end, limits), `case ${i}`).toBe(want);
      if (want === 'ok') accepted++;
      else refused++;
    }
    // Both answers were exercised in quantity.
    expect(accepted).toBeGreaterThan(3000);
    expect(refused).toBeGreaterThan(3000);
  });
});

describe('guardMsgpack limits', () => {
  it('refuses a maxDepth it cannot hold a stack for, and grows its stack for a deep one', () => {
    const deep = {
      maxDepth: 200,
      maxValues: 1 << 16,
      allowMaps: false,
      allowedExtensions: new Set<number>(),
    };
    const nested = new Uint8Array([...new Array(150).fill(0x91), 0x01]);
    expect(() => guardMsgpack(nested, 0, nested.length, deep)).not.toThrow();
    expect(() => guardMsgpack(nested, 0, nested.length, PACKET_LIMITS)).toThrow('nested deeper than 16');
    for (const maxDepth of [Number.POSITIVE_INFINITY, 2 ** 31, -1, 1.5])
      expect(() => guardMsgpack(nested, 0, nested.length, { ...deep, maxDepth })).toThrow(RangeError);
  });
});
