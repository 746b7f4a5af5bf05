/**
 * The client's half of its session with the group (outcomes.ts holds the group's half): which
 * of its own requests it has not settled yet, and so the watermark each `call` packet carries.
 *
 * A request is *unsettled* while a call for it is pending, or after it failed (fail-over,
 * deadline) until the client has its answer or forgets it (`remember`). Everything numbered
 * below the lowest unsettled counter is settled: the client will never ask about it again.
 */
import { MAX_KEPT } from './outcomes.js';
import { parseRequestId } from './result.js';

/** A packet's settled watermark and the unsettled counters it passes. */
export interface Settlement {
  settled: number;
  keep?: number[];
}

/**
 * Counters behind the last issued past which an unsettled request no longer holds the watermark
 * (it goes into `keep`): far above the calls a client keeps in flight, so that `keep` is rare.
 */
export const KEEP_LAG = 4096;

/** Largest counter a request id may carry (15 digits). */
const MAX_COUNTER = 999_999_999_999_999;
/** Highest counter this session numbers from: a billion ids below {@link MAX_COUNTER} stay free. */
const TOP_COUNTER = MAX_COUNTER - 1e9;

/**
 * Counters per millisecond of the clock an incarnation may use before it reaches the next
 * incarnation's first counter (so a restarted client never reuses an id of the previous one).
 */
export const COUNTERS_PER_MS = 100;

/**
 * The counter of `id` when it is `prefix` (`clientId:`) followed by a counter as
 * {@link parseRequestId} reads one (1–15 digits, no leading 0), else undefined: the same answer
 * as parsing `id` and comparing its client id, without the copy of the client id and the
 * object a parse makes (the session reads its own ids three times per call).
 */
export function ownCounter(prefix: string, id: string): number | undefined {
  const start = prefix.length;
  const digits = id.length - start;
  if (digits < 1 || digits > 15 || !id.startsWith(prefix)) return undefined;
  let n = 0;
  for (let i = start; i < id.length; i++) {
    const d = id.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (d === 0 && i === start)) return undefined;
    n = n * 10 + d;
  }
  return n;
}

export class ClientSession {
  /** Unsettled counters of this client's own ids → how many holds (pending, remembered). */
  private readonly open = new Map<number, number>();
  /**
   * Every key of `open` was added above the one before (true until an older counter is held
   * again): its first key is then the lowest, and the watermark costs no walk over the calls
   * in flight, which it did for every call sent.
   */
  private sorted = true;
  /** The last counter added to `open` while {@link sorted}. */
  private top = 0;
  private counter: number;
  /**
   * The highest counter held so far, this session's or the caller's (`requestId`): how far
   * behind a held counter is is measured from it, in whichever numbering the calls use.
   */
  private newest = 0;
  /** `clientId:`, the start of this session's request ids (undefined: not a valid client id). */
  private readonly prefix: string | undefined;

  /**
   * @param clientId this client's id
   * @param now the client's clock at start (ms): the first counter is `now × COUNTERS_PER_MS + 1`,
   *   above every counter an earlier incarnation with the same pinned id used, unless that one
   *   made more than {@link COUNTERS_PER_MS} calls per millisecond of its life or the clock went back.
   */
  constructor(
    readonly clientId: string,
    now: number,
  ) {
    this.counter = Math.min(Math.max(0, Math.floor(now)) * COUNTERS_PER_MS, TOP_COUNTER);
    // An id that is no client id owns no request id (as parsing each id would find).
    this.prefix = parseRequestId(`${clientId}:1`) ? `${clientId}:` : undefined;
  }

  /** A fresh request id of this incarnation. */
  next(): string {
    return `${this.clientId}:${++this.counter}`;
  }

  /** `id` is unsettled (once more): a call for it is pending, or it is remembered unanswered. */
  hold(id: string): void {
    const n = this.own(id);
    if (n === undefined) return;
    if (n > this.newest) this.newest = n;
    const holds = this.open.get(n);
    if (holds === undefined) {
      if (n > this.top) this.top = n;
      else this.sorted = false;
    }
    this.open.set(n, (holds ?? 0) + 1);
    // An id the caller chose counts as issued: what comes below it and settles is settled. Not
    // past TOP_COUNTER: numbered on from the top of the counters, the next id had 16 digits and
    // every later call of this client was refused as a bad request id (FINDINGS 95).
    if (n > this.counter) this.counter = Math.max(this.counter, Math.min(n, TOP_COUNTER));
  }

  /** One hold of `id` ends (its call completed, or its memory was dropped). */
  release(id: string): void {
    const n = this.own(id);
    if (n === undefined) return;
    const holds = (this.open.get(n) ?? 0) - 1;
    if (holds > 0) this.open.set(n, holds);
    else this.open.delete(n);
    if (this.open.size === 0) {
      this.sorted = true;
      this.top = 0;
    }
  }

  /**
   * The settled watermark for a packet about `id`, and the counters it passes unsettled;
   * undefined for another client's id (it is not this session's to settle).
   *
   * The watermark is below the lowest unsettled counter, else the last counter issued, but for
   * the oldest unsettled counters: up to {@link MAX_KEPT} of those more than {@link KEEP_LAG}
   * behind the newest held go in `keep`, and the watermark passes them, up to the next unsettled
   * counter (the packet's own call is one, so there is always one left). Without them one call
   * left unsettled (a fail-over nobody asked about) held every later outcome of this client in
   * every replica until the group's `perClient` cap dropped that very call (FINDINGS 91).
   */
  watermark(id: string): Settlement | undefined {
    if (this.own(id) === undefined) return undefined;
    let low = this.counter + 1;
    if (this.sorted) {
      const first = this.open.keys().next();
      if (!first.done && first.value < low) low = first.value;
    } else for (const n of this.open.keys()) if (n < low) low = n;
    const behind = this.newest - KEEP_LAG;
    if (low >= behind) return { settled: low - 1 };
    // Rare: a call far behind the newest is unsettled. The oldest such pass into `keep`, and the
    // watermark stops below the lowest held counter not kept. Never past every held counter: a
    // caller that picks its own ids below this session's counter (`requestId`) numbers its next
    // calls above those in flight, not above the counter, so counters above them may still come.
    const held = [...this.open.keys()].sort((a, b) => a - b);
    let kept = 0;
    while (kept < MAX_KEPT && kept < held.length - 1 && held[kept]! < behind) kept++;
    if (kept === 0) return { settled: low - 1 };
    return { settled: held[kept]! - 1, keep: held.slice(0, kept) };
  }

  private own(id: string): number | undefined {
    return this.prefix === undefined ? undefined : ownCounter(this.prefix, id);
  }
}
