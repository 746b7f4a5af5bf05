/** Bytes in a frame's length prefix (unsigned 32-bit big-endian). */
export const FRAME_HEADER = 4;

/** Prefixes `payload` with its length. One buffer, so one write and no caller aliasing. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER);
  return frame;
}

/**
 * Reassembles length-prefixed frames from a byte stream. Chunks are kept as a list and joined
 * once per frame, so a multi-MiB frame arriving in 64 KiB pieces costs one copy, not a
 * quadratic series of concatenations.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Payload length of the frame being assembled, once its header has arrived. */
  private pending: number | undefined;

  /** @param limit largest payload accepted; may be lowered later (see {@link setLimit}). */
  constructor(private limit: number) {}

  setLimit(limit: number): void {
    this.limit = limit;
  }

  /** Bytes held for the frame in progress (its header or the payload received so far). */
  get held(): number {
    return this.buffered;
  }

  /** Whether part of a frame is held (its header or some of its payload). */
  get partial(): boolean {
    return this.buffered > 0 || this.pending !== undefined;
  }

  /**
   * Feeds a chunk; calls `onFrame` for each complete frame. Returns `false` as soon as a
   * header claims more than the limit: the stream cannot be resynchronised, and the claimed
   * size is never allocated.
   */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): boolean {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.pending === undefined) {
        if (this.buffered < FRAME_HEADER) return true;
        const length = this.take(FRAME_HEADER).readUInt32BE(0);
        if (length > this.limit) return false;
        this.pending = length;
      }
      if (this.buffered < this.pending) return true;
      const payload = this.take(this.pending);
      this.pending = undefined;
      onFrame(payload);
    }
  }

  /** Removes the first `n` buffered bytes (n ≤ buffered). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
    } else if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    } else {
      const joined = Buffer.concat(this.chunks, this.buffered);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
      this.buffered -= n;
      return joined.subarray(0, n);
    }
    this.buffered -= n;
    return first;
  }
}
