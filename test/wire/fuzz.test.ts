import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../runtime/stack/random.js';
import { DecodeError, decodePacket, encodePacket, PacketType } from '../../runtime/wire/index.js';

const valid = encodePacket({
  type: PacketType.Stack,
  flags: 0,
  groupId: 42,
  sender: { node: 7, inc: 1 },
  headers: [
    [1, 0, 12],
    [3, 'x'],
  ],
  payload: new Uint8Array([1, 2, 3, 4, 5]),
});

/** Any input: either a packet or a DecodeError, never anything else. */
function decodeOrRefuse(bytes: Uint8Array): 'ok' | string {
  try {
    decodePacket(bytes);
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return e.code;
    throw e;
  }
}

describe('decodePacket under hostile input', () => {
  it('refuses 100,000 random and mutated inputs with DecodeError only', () => {
    const r = seededRandom(1234);
    const codes = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(r() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(r() * 256);
        if (r() < 0.5 && bytes.length > 2) bytes.set([0x54, 1, 1].slice(0, bytes.length));
      } else {
        bytes = valid.slice();
        const flips = 1 + Math.floor(r() * 4);
        for (let f = 0; f < flips; f++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
        if (r() < 0.2) bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
      }
      const c = decodeOrRefuse(bytes);
      codes.set(c, (codes.get(c) ?? 0) + 1);
    }
    // The mutations reach deep into the body, not only the fixed header.
    expect(codes.get('DECODE_BAD_BODY') ?? 0).toBeGreaterThan(100);
    expect(codes.get('DECODE_TRUNCATED') ?? 0).toBeGreaterThan(100);
  });

  it('round-trips a packet and keeps the payload as a view, not a copy', () => {
    const p = decodePacket(valid);
    expect(p.headers).toEqual([
      [1, 0, 12],
      [3, 'x'],
    ]);
    expect([...p.payload]).toEqual([1, 2, 3, 4, 5]);
    expect(p.payload.buffer).toBe(valid.buffer);
  });

  const body = (bytes: number[]) => {
    const b = valid.slice(0, 24);
    new DataView(b.buffer).setUint32(20, bytes.length);
    const out = new Uint8Array(24 + bytes.length);
    out.set(b);
    out.set(bytes, 24);
    return out;
  };

  it.each([
    ['a msgpackr RegExp extension', [0x92, 0x90, 0xd4, 0x78, 0x00], 'DECODE_BAD_BODY'],
    ['a structured-clone pointer', [0x92, 0x90, 0xd6, 0x70, 0, 0, 0, 1], 'DECODE_BAD_BODY'],
    ['a map (bodies carry arrays only)', [0x92, 0x81, 0xa1, 0x61, 0x01, 0xc4, 0x00], 'DECODE_BAD_BODY'],
    ['an array claiming 4 billion entries', [0xdd, 0xff, 0xff, 0xff, 0xff], 'DECODE_BAD_BODY'],
    ['nesting 40 deep', [...new Array(40).fill(0x91), 0x01], 'DECODE_BAD_BODY'],
    ['trailing bytes after the body', [0x92, 0x90, 0xc4, 0x00, 0x00], 'DECODE_BAD_BODY'],
    ['a body that is not [headers, payload]', [0x93, 0x90, 0xc4, 0x00, 0x01], 'DECODE_BAD_SHAPE'],
    ['a payload that is not bytes', [0x92, 0x90, 0xa1, 0x61], 'DECODE_BAD_SHAPE'],
  ])('refuses %s', (_name, bytes, code) => {
    expect(decodeOrRefuse(body(bytes))).toBe(code);
  });

  it('refuses oversized, wrong-version and foreign-magic packets by code', () => {
    expect(decodeOrRefuse(new Uint8Array(10))).toBe('DECODE_TRUNCATED');
    const v = valid.slice();
    v[1] = 9;
    expect(decodeOrRefuse(v)).toBe('DECODE_BAD_VERSION');
    const m = valid.slice();
    m[0] = 0;
    expect(decodeOrRefuse(m)).toBe('DECODE_BAD_MAGIC');
    expect(() => decodePacket(valid, 30)).toThrow(expect.objectContaining({ code: 'DECODE_OVERSIZED' }));
  });
});
