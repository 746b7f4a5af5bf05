import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../runtime/transport/framing.js';

function decodeAll(
  stream: Buffer,
  chunkSizes: (i: number) => number,
  limit = 1 << 20,
): Buffer[] | 'rejected' {
  const decoder = new FrameDecoder(limit);
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const end = Math.min(stream.length, at + Math.max(1, chunkSizes(i)));
    if (!decoder.push(stream.subarray(at, end), (p) => out.push(Buffer.from(p)))) return 'rejected';
    at = end;
  }
  return out;
}

describe('FrameDecoder', () => {
  const payloads = [0, 1, 3, 4, 5, 1000, 0, 70_000, 2].map((n, k) => Buffer.alloc(n, k + 1));
  const stream = Buffer.concat(payloads.map(encodeFrame));

  it.each([
    ['one chunk', () => stream.length],
    ['byte by byte', () => 1],
    ['odd chunks', (i: number) => 1 + ((i * 37) % 11)],
    ['64 KiB chunks', () => 65_536],
  ])('reassembles frames fed as %s', (_name, sizes) => {
    expect(decodeAll(stream, sizes)).toEqual(payloads);
  });

  it('rejects a header above the limit before the payload arrives', () => {
    expect(decodeAll(Buffer.from([0xff, 0xff, 0xff, 0xff]), () => 4)).toBe('rejected');
    expect(decodeAll(encodeFrame(Buffer.alloc(11)), () => 2, 10)).toBe('rejected');
    expect(decodeAll(encodeFrame(Buffer.alloc(10)), () => 2, 10)).toEqual([Buffer.alloc(10)]);
  });
});
