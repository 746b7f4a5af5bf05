// StateReceiver copies each chunk into one buffer as it arrives (sized from the first chunk),
// so the joiner does not copy the whole state at the end; it must still return exactly the
// sender's bytes, whatever the chunk sizes, and refuse chunks out of sequence.
import { expect, it } from 'vitest';
import {
  MAX_STATE_WINDOW,
  STATE_CHUNK_BYTES,
  STATE_WINDOW,
  StateReceiver,
  StateSender,
  stateWindowFor,
  UNKNOWN_BUFFER_WINDOW,
} from '../../runtime/group/state-transfer.js';
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
  const tx = new StateSender('j', 3, { era: 1, lineage: 77 }, state, chunk);
  const rx = new StateReceiver(3);
  let out: Uint8Array | undefined;
  while (!tx.done) {
    const batch = tx.pull();
    for (const [h, b] of batch) out = rx.accept(h[1] as number, h[2] as number, h[3] as number, b) ?? out;
    tx.ack(rx.received, 2);
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

it('keeps the window the joiner asks for, within bounds, and sizes it by the receive buffer', () => {
  const state = bytes(100 * 1000);
  // Chunks in flight after the first ack (of chunk 0) that says `window`.
  const inFlight = (window?: number): number => {
    const tx = new StateSender('j', 1, { era: 1, lineage: 1 }, state, 1000);
    const first = tx.pull().length;
    expect(first).toBe(STATE_WINDOW); // before any ack: the default
    tx.ack(1, window);
    return first - 1 + tx.pull().length;
  };
  expect(inFlight()).toBe(STATE_WINDOW);
  expect(inFlight(10)).toBe(10);
  expect(inFlight(10_000)).toBe(MAX_STATE_WINDOW); // the joiner's word, bounded
  // Smaller than what is out already: nothing new until the acks catch up.
  expect(inFlight(1)).toBe(1);
  expect(inFlight(0)).toBe(1); // at least one
  // Half the buffer's worth of chunks, 1 to MAX_STATE_WINDOW; unknown: the default.
  expect(stateWindowFor(undefined)).toBe(UNKNOWN_BUFFER_WINDOW);
  expect(stateWindowFor(212_992 * 2)).toBe(1); // Linux's default rmem_max, as the kernel reports it
  expect(stateWindowFor(8 * 1024 * 1024)).toBe(16);
  expect(stateWindowFor(64 * 1024 * 1024)).toBe(MAX_STATE_WINDOW);
  expect(stateWindowFor(2 * 1024 * 1024, STATE_CHUNK_BYTES)).toBe(4);
});
