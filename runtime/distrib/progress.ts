import type { AfdpEvent } from '../bulk/afdp.js';

/** The sender's `progress` event (runtime/bulk/afdp.ts), what the bar draws. */
export type Progress = Extract<AfdpEvent, { type: 'progress' }>;

/**
 * One line of the sender's progress bar: the bar, bytes sent of the total, the send rate, the
 * receivers done / lagging / dropped, and the time left at the current rate.
 *
 * `cli-progress` (in the machine's package lists) would draw this, but it is not a dependency of
 * the package yet; this is the whole of what `troupe dist` needs from one.
 *
 * @example
 * ```ts
 * import { progressLine } from './progress.js';
 * const line = progressLine({
 *   type: 'progress', xfer: 1, ms: 2000, bytes: 4 << 20, size: 8 << 20, resent: 3,
 *   receivers: 4, done: 1, dropped: 0, lagging: 1, gapMs: 0.1,
 * }, 20);
 * // '[##########----------]  50% 4.0/8.0 MB  2.0 MB/s  done 1/4 lagging 1  ETA 2s'
 * ```
 */
export function progressLine(p: Progress, width = 24): string {
  const frac = p.size === 0 ? 1 : Math.min(1, p.bytes / p.size);
  const filled = Math.round(frac * width);
  const rate = p.ms > 0 ? (p.bytes * 1000) / p.ms : 0;
  const left = p.size - p.bytes;
  // Once every byte has gone out once, what remains is repair: no rate-based estimate holds.
  const eta = left <= 0 ? 'repairing' : rate > 0 ? `ETA ${duration(left / rate)}` : 'ETA ?';
  const dropped = p.dropped > 0 ? ` dropped ${p.dropped}` : '';
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}% ` +
    `${mb(p.bytes)}/${mb(p.size)} MB  ${mb(rate)} MB/s  done ${p.done}/${p.receivers} lagging ${p.lagging}${dropped}  ${eta}`
  );
}

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Draws {@link progressLine} in place on a terminal (carriage return, erase to the end of line),
 * at most every `everyMs`; `clear()` erases it before the summary is printed.
 */
export class ProgressBar {
  private last = Number.NEGATIVE_INFINITY;
  private shown = false;

  constructor(
    private readonly write: (s: string) => void,
    private readonly everyMs = 200,
  ) {}

  update(p: Progress): void {
    if (p.ms - this.last < this.everyMs) return;
    this.last = p.ms;
    this.shown = true;
    this.write(`\r${progressLine(p)}\x1b[K`);
  }

  clear(): void {
    if (this.shown) this.write('\r\x1b[K');
    this.shown = false;
  }
}
