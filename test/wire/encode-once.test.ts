// encodePacket writes the body's msgpack `[headers, payload]` itself (array marker, msgpackr's
// packing of the headers, the payload's bin header and bytes) instead of letting msgpackr pack
// the pair and copying its result: the payload is copied once. The bytes must be exactly
// msgpackr's, for every header shape the layers send and every payload size class.
import { Packr } from 'msgpackr';
import { expect, it } from 'vitest';
import { seededRandom } from '../../runtime/stack/random.js';
import { decodePacket, encodePacket, FIXED_HEADER_BYTES, PacketType } from '../../runtime/wire/packet.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

function value(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 6 : 8));
  switch (k) {
    case 0:
      return Math.floor(r() * 300) - 20;
    case 1:
      return Math.floor(r() * 2 ** 40) * (r() < 0.5 ? -1 : 1);
    case 2:
      return 'x'.repeat(Math.floor(r() * 40)) + String(Math.floor(r() * 1e6));
    case 3:
      return r() < 0.5 ? null : r() < 0.5;
    case 4:
      return r() * 1e9;
    case 5:
      return new Uint8Array(Math.floor(r() * 600)).fill(Math.floor(r() * 256));
    default:
      return Array.from({ length: Math.floor(r() * 5) }, () => value(r, depth + 1));
  }
}

const SIZES = [0, 1, 255, 256, 1000, 65_535, 65_536, 70_000, 300_000];

it('is byte for byte msgpackr’s encoding of [headers, payload], for 3,000 random packets', () => {
  const r = seededRandom(20261203);
  for (let i = 0; i < 3_000; i++) {
    const headers = Array.from({ length: Math.floor(r() * 6) }, () => value(r, 0));
    const size = i < SIZES.length * 20 ? SIZES[i % SIZES.length]! : Math.floor(r() * 3000);
    const payload = new Uint8Array(size).map((_, k) => (k * 31 + i) & 0xff);
    const tag = r() < 0.3 ? new Uint8Array(32).fill(9) : undefined;
    const p = {
      type: PacketType.Stack,
      flags: 2,
      groupId: 0xdeadbeef,
      sender: { node: 7, inc: 3 },
      headers,
      payload,
    };
    const out = encodePacket(tag ? { ...p, tag } : p);
    const body = out.subarray(FIXED_HEADER_BYTES + (tag?.length ?? 0));
    expect(Buffer.from(body).equals(packr.pack([headers, payload])), `packet ${i}`).toBe(true);
    const back = decodePacket(out);
    // Buffer.equals: toEqual walks a 300 KB array element by element (40 s for this file).
    expect(Buffer.from(back.payload).equals(payload), `payload ${i}`).toBe(true);
    expect(Buffer.from(packr.pack(back.headers)).equals(packr.pack(headers))).toBe(true);
  }
});

it('writes every byte: the same packet encodes alike over a pool left dirty', () => {
  const p = {
    type: PacketType.Stack,
    flags: 2,
    groupId: 42,
    sender: { node: 1, inc: 1 },
    headers: [[1, 2], 'h'],
    payload: new Uint8Array(300).fill(3),
  };
  const tag = new Uint8Array(32).fill(9);
  // encodePacket takes its buffer from Node's unzeroed Buffer pool: leave garbage there first.
  Buffer.allocUnsafe(4000).fill(0xaa);
  const a = encodePacket({ ...p, tag });
  Buffer.allocUnsafe(4000).fill(0x55);
  const b = encodePacket({ ...p, tag });
  expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  expect([...a.subarray(5, 8)]).toEqual([0, 0, 0]);
});
