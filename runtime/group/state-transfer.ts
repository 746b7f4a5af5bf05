import { DecodeError } from '../wire/errors.js';

/**
 * State transfer (Birman's Table II) as a small state machine, one per joiner on the sending
 * side and one on the receiving side. The snapshot is taken at the exact point in the order
 * where the joiner's view is installed; the group goes on ordering messages while the chunks
 * stream out, `window` chunks at a time, each acknowledged by the joiner.
 */

/** Group-level header of a point-to-point message, carried as the innermost message header. */
export const GroupKind = {
  /** [0] an application message. */
  App: 0,
  /** [1, viewId, index, count, era, lineage, origin?] one chunk of a state snapshot; `era` and
   * `lineage` are the provider's, `origin` the member whose state the snapshot is a copy of
   * (`StateProvider.stateOrigin`, else the provider; absent from older providers, and read by
   * a joiner only when it is a member id, so older joiners, which take headers of at least 6
   * elements, ignore it). */
  StateChunk: 1,
  /** [2, viewId, received, window] the joiner holds chunks 0..received-1, and takes `window`
   * chunks in flight (absent: {@link STATE_WINDOW}). */
  StateAck: 2,
  /** [3, era, viewId, epoch, ordered, lineage, silentMs] a co-founder's history position (a
   * total-order cast). */
  StateOffer: 3,
  /** [4, viewId, busy?] the provider could not take the snapshot for this joiner's view; `busy`
   * 1: not yet (`StateBusyError`), the joiner joins again. */
  StateFail: 4,
} as const;

export const STATE_CHUNK_BYTES = 256 * 1024;
/** Most chunks a state may come in: 4 GiB in chunks of {@link STATE_CHUNK_BYTES}. */
const MAX_STATE_CHUNKS = 16_384;
/** Largest buffer a joiner sets aside before the bytes arrive; it grows beyond as they do. */
const PRESIZE_BYTES = 256 * 1024 * 1024;
/** Chunks in flight to a joiner that has not said how many it takes (its first ack does): one,
 * which any receive buffer holds (a window of 4 before the first ack cost NAKs with Linux's
 * default buffer). */
export const STATE_WINDOW = 1;
/** The window a joiner asks for when it does not know its receive buffer (a stream transport,
 * which pushes back instead of dropping, or the in-memory one). */
export const UNKNOWN_BUFFER_WINDOW = 4;
/** Most chunks a joiner may ask to have in flight (4 MiB). */
export const MAX_STATE_WINDOW = 16;

/**
 * The window a joiner asks for: as many chunks as half its receive buffer holds (the rest is
 * for the group's other traffic and the kernel's per-datagram overhead), at least one. A burst
 * past the buffer is lost and repaired by NAKs, which costs far more than the window saves:
 * with Linux's default 208 KiB `rmem_max` a window of 4 took 1.45 s for 64 MiB (70 NAKs), of 1
 * 0.75–0.81 s (none); with a 4 MiB buffer 4 took 0.82 s, 16 0.57–0.59 s, 32 0.67–0.79 s (NAKs
 * again). Unknown buffer: {@link UNKNOWN_BUFFER_WINDOW}.
 */
export function stateWindowFor(receiveBuffer: number | undefined, chunkBytes = STATE_CHUNK_BYTES): number {
  if (receiveBuffer === undefined) return UNKNOWN_BUFFER_WINDOW;
  return Math.max(1, Math.min(MAX_STATE_WINDOW, Math.floor(receiveBuffer / 2 / chunkBytes)));
}

/** Sender side: streams one snapshot to one joiner. */
export class StateSender {
  private next = 0;
  private acked = 0;
  readonly count: number;
  /** Chunks in flight: {@link STATE_WINDOW} until the joiner's first ack says how many it takes. */
  private window = STATE_WINDOW;

  constructor(
    readonly joiner: string,
    readonly viewId: number,
    /** The provider's era and lineage (see `HistoryPosition`), which the joiner adopts with the
     * state, and the state's origin (see {@link GroupKind}.StateChunk). */
    private readonly history: { era: number; lineage: number; origin?: string },
    private readonly state: Uint8Array,
    private readonly chunkBytes = STATE_CHUNK_BYTES,
  ) {
    this.count = Math.max(1, Math.ceil(state.length / chunkBytes));
  }

  /** Chunks that may go out now: [header, bytes] pairs. */
  pull(): [unknown[], Uint8Array][] {
    const out: [unknown[], Uint8Array][] = [];
    while (this.next < this.count && this.next < this.acked + this.window) {
      const i = this.next++;
      const bytes = this.state.subarray(i * this.chunkBytes, (i + 1) * this.chunkBytes);
      const h = this.history;
      const header: unknown[] = [GroupKind.StateChunk, this.viewId, i, this.count, h.era, h.lineage];
      if (h.origin !== undefined) header.push(h.origin);
      out.push([header, bytes]);
    }
    return out;
  }

  /** The joiner holds `received` chunks and takes `window` in flight (bounded here: it is the
   * joiner's word). */
  ack(received: number, window?: number): void {
    this.acked = Math.max(this.acked, Math.min(received, this.count));
    if (window !== undefined) this.window = Math.max(1, Math.min(MAX_STATE_WINDOW, window));
  }

  get done(): boolean {
    return this.acked >= this.count;
  }
}

/** Receiver side: reassembles the snapshot, in order (chunks come over a reliable FIFO stream). */
export class StateReceiver {
  private received_ = 0;
  private count: number | undefined;
  /** The state so far: each chunk is copied in as it arrives, so the copy and the page faults
   * of a large state spread over the transfer instead of stalling the member at its end. Sized
   * from the first chunk (every chunk but the last has its size), grown if a sender's chunks
   * turn out larger. */
  private buf: Uint8Array = EMPTY;
  private at = 0;

  constructor(readonly viewId: number) {}

  /** Take a chunk; returns the full state once the last chunk is in, else undefined. */
  accept(viewId: number, index: number, count: number, bytes: Uint8Array): Uint8Array | undefined {
    if (viewId !== this.viewId) return undefined;
    if (count > MAX_STATE_CHUNKS)
      throw new DecodeError('DECODE_BAD_SHAPE', `state of ${count} chunks (at most ${MAX_STATE_CHUNKS})`);
    if (this.count === undefined) this.count = count;
    if (count !== this.count || index !== this.received_ || count === 0)
      throw new DecodeError('DECODE_BAD_SHAPE', `state chunk ${index}/${count} out of sequence`);
    // Sized from what the sender says, but no further ahead than PRESIZE_BYTES: a count it made
    // up reserved 4 GiB, or threw a RangeError where a DecodeError is due (session 19's review).
    if (index === 0 && count > 1) this.buf = new Uint8Array(Math.min(bytes.length * count, PRESIZE_BYTES));
    if (this.at + bytes.length > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.at + bytes.length, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.at));
      this.buf = grown;
    }
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
    this.received_++;
    if (this.received_ < count) return undefined;
    const state = this.buf.subarray(0, this.at);
    this.buf = EMPTY;
    return state;
  }

  get received(): number {
    return this.received_;
  }
}

const EMPTY = new Uint8Array(0);
