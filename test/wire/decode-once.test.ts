// The one-pass packet body decoder (decodeGuarded) must accept exactly what the guard accepted and
// return what msgpackr returned after it: the old two walks are the reference it is checked against.
import { isDeepStrictEqual } from 'node:util';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../runtime/stack/random.js';
import { DecodeError, decodeGuarded, guardMsgpack, PACKET_LIMITS } from '../../runtime/wire/index.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' });

/** The reference: guard, then msgpackr (what decodePacket did before). */
function twoWalks(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    guardMsgpack(bytes, 0, bytes.length, PACKET_LIMITS);
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false };
    throw e;
  }
  return { ok: true, value: unpackr.unpack(bytes) };
}

function oneWalk(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decodeGuarded(bytes, 0, bytes.length, PACKET_LIMITS) };
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false };
    throw e;
  }
}

/** Bytes as plain arrays so Buffer and Uint8Array views compare by content. */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array ? { bytes: [...v] } : Array.isArray(v) ? v.map(plain) : v;

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 9 : 10));
  switch (k) {
    case 0:
      return Math.floor(r() * 256) - 128;
    case 1:
      return Math.floor(r() * 2 ** 32) * (r() < 0.5 ? 1 : -1);
    case 2:
      return Math.floor(r() * 2 ** 53);
    case 3:
      return r() * 1e6;
    case 4:
      return 'abcdéf😀'.slice(0, Math.floor(r() * 9)).repeat(1 + Math.floor(r() * 40));
    case 5:
      return new Uint8Array(Math.floor(r() * 300)).map(() => Math.floor(r() * 256));
    case 6:
      return r() < 0.5;
    case 7:
      return null;
    case 8:
      return Math.floor(r() * 70_000);
    default:
      return Array.from({ length: Math.floor(r() * 20) }, () => randomValue(r, depth + 1));
  }
}

describe('decodeGuarded: one walk instead of guard + msgpackr', () => {
  it('decodes 1,000 random documents as msgpackr does', () => {
    const r = seededRandom(2026);
    for (let i = 0; i < 1_000; i++) {
      const bytes = packr.pack([randomValue(r, 0), randomValue(r, 0)]);
      const want = twoWalks(bytes);
      expect(want.ok).toBe(true);
      expect(plain(oneWalk(bytes))).toEqual(plain(want));
    }
  });

  it('accepts exactly what the guard accepted in 10,000 mutated documents', () => {
    const r = seededRandom(77);
    let refused = 0;
    const differ: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const bytes = new Uint8Array(
        packr.pack([[1, 2, [3, 'x']], new Uint8Array([1, 2, 3]), randomValue(r, 2)]),
      );
      for (let f = 1 + Math.floor(r() * 3); f > 0; f--)
        bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const cut = r() < 0.2 ? bytes.subarray(0, Math.floor(r() * bytes.length)) : bytes;
      const want = twoWalks(cut);
      const got = oneWalk(cut);
      if (!want.ok) refused++;
      if (!isDeepStrictEqual(plain(got), plain(want))) differ.push(i);
    }
    expect(differ).toEqual([]);
    expect(refused).toBeGreaterThan(1_000); // the mutations do reach the refusals
  });

  it('returns bin values as views into the input, not copies', () => {
    const bytes = packr.pack([[], new Uint8Array([9, 8, 7])]);
    const v = decodeGuarded(bytes, 0, bytes.length, PACKET_LIMITS) as [unknown[], Uint8Array];
    expect(v[1].buffer).toBe(bytes.buffer);
  });

  it('refuses limits it cannot honour (maps, extensions)', () => {
    expect(() => decodeGuarded(new Uint8Array([0xc0]), 0, 1, { ...PACKET_LIMITS, allowMaps: true })).toThrow(
      RangeError,
    );
  });
});
