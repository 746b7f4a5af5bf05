// StateReceiver copies each chunk into one buffer as it arrives (sized from the first chunk),
// so the joiner does not copy the whole state at the end; it must still return exactly the
// sender's bytes, whatever the chunk sizes, and refuse chunks out of sequence.
import { expect, it } from 'vitest';
import { StateReceiver, StateSender } from '../../runtime/group/state-transfer.js';
import { DecodeError } from '../../runtime/wire/errors.js';

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

it.each([
  [0, 1000],
  [1, 1000],
  [999, 1000],
  [1000, 1000],
  [1001, 1000],
  [5_500, 1000],
  [64 * 1024, 4096],
])('a %i-byte state in %i-byte chunks arrives whole', (size, chunk) => {
  const state = bytes(size);
  const tx = new StateSender('j', 3, { era: 1, lineage: 77 }, state, chunk, 2);
  const rx = new StateReceiver(3);
  let out: Uint8Array | undefined;
  while (!tx.done) {
    const batch = tx.pull();
    for (const [h, b] of batch) out = rx.accept(h[1] as number, h[2] as number, h[3] as number, b) ?? out;
    tx.ack(rx.received);
  }
  expect(out?.length).toBe(size);
  expect(Buffer.from(out!).equals(Buffer.from(state))).toBe(true);
});

it('grows when a later chunk is larger than the first, and refuses one out of sequence', () => {
  const rx = new StateReceiver(1);
  expect(rx.accept(1, 0, 3, bytes(10))).toBeUndefined();
  expect(rx.accept(1, 1, 3, bytes(50))).toBeUndefined();
  const out = rx.accept(1, 2, 3, bytes(40))!;
  expect([...out]).toEqual([...bytes(10), ...bytes(50), ...bytes(40)]);
  const other = new StateReceiver(1);
  other.accept(1, 0, 3, bytes(10));
  expect(() => other.accept(1, 2, 3, bytes(10))).toThrow(DecodeError);
  expect(other.accept(2, 1, 3, bytes(10))).toBeUndefined(); // another view's chunk: ignored
});

it('refuses a made-up chunk count with a DecodeError, and sets aside no more than it must', () => {
  // Sized as 64 KiB × 2^20 from chunk 0, the buffer threw a RangeError; count 2^32 − 1 of 1 byte
  // reserved 4 GiB (session 19's hostile-input review).
  expect(() => new StateReceiver(1).accept(1, 0, 2 ** 20, bytes(64 * 1024))).toThrow(DecodeError);
  const before = process.memoryUsage().arrayBuffers;
  const rx = new StateReceiver(1);
  expect(rx.accept(1, 0, 16_384, bytes(64 * 1024))).toBeUndefined(); // 1 GiB announced
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThanOrEqual(256 * 1024 * 1024 + 1_000_000);
});
