/**
 * When each of a member's own totally ordered casts was made, until it comes back delivered: a
 * ring in cast order, searched from its oldest entry. Own ordered casts are delivered in the
 * order they were cast (FIFO per sender inside the total order), so the match is the oldest entry
 * or close to it, and older entries passed over were never delivered (a view change dropped or
 * recast them) and are forgotten.
 *
 * It replaces a `WeakMap` keyed by the payload: a weak entry per cast is costly garbage for V8
 * (ephemeron tables), and a busy member casts thousands a second.
 */
/** Entries a delivery looks at, at most. */
const SCAN = 256;

export class CastTimes {
  private readonly payloads: (Uint8Array | undefined)[];
  private readonly times: Float64Array;
  private head = 0;
  private size = 0;

  /** @param capacity casts remembered; past it the oldest is forgotten (its latency unmeasured). */
  constructor(private readonly capacity = 4096) {
    this.payloads = new Array(capacity).fill(undefined);
    this.times = new Float64Array(capacity);
  }

  /** Remembers that `payload` was cast at `at`. */
  cast(payload: Uint8Array, at: number): void {
    if (this.size === this.capacity) this.drop(1);
    const i = (this.head + this.size) % this.capacity;
    this.payloads[i] = payload;
    this.times[i] = at;
    this.size++;
  }

  /**
   * When `payload` was cast (forgetting it and every older cast), or undefined if unknown. Casts
   * older than `staleMs` before `now` are forgotten first (a view change dropped them), and the
   * search stops after {@link SCAN} entries, so a delivery costs a bounded walk whatever happened.
   */
  delivered(payload: Uint8Array, now: number, staleMs = 60_000): number | undefined {
    while (this.size > 0 && this.times[this.head]! < now - staleMs) this.drop(1);
    const n = Math.min(this.size, SCAN);
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % this.capacity;
      if (this.payloads[i] !== payload) continue;
      const at = this.times[i]!;
      this.drop(k + 1);
      return at;
    }
    return undefined;
  }

  private drop(n: number): void {
    for (let k = 0; k < n; k++) {
      this.payloads[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.size -= n;
  }
}
