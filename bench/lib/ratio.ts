import type { BaselineRef, Measurement } from './types.js';

/**
 * Declares an entry's baseline: `baseline: against('floor: raw dgram 1 B', 'raw dgram floor')`. The
 * runner measures the baseline in the same run (even when `--only` filtered it out) and prints the
 * entry as `<figure> = <ratio> × <label>`.
 */
export function against(entry: string, label: string): BaselineRef {
  return { entry, label };
}

/**
 * Entry ÷ baseline for the entry's primary figure: for rates, below 1 means slower than the baseline;
 * for latency (p50 and p99 separately), above 1 means slower.
 */
export interface Ratio {
  kind: 'rate' | 'latency';
  /** rate ratio, or p50 latency ratio */
  value: number;
  /** p99 latency ratio (latency only) */
  p99?: number;
}

export function ratioTo(m: Measurement, base: Measurement): Ratio {
  if (m.primary === 'rate') {
    if (!m.rate || !base.rate) throw new Error('rate ratio needs a rate on both sides');
    return { kind: 'rate', value: m.rate.value / base.rate.value };
  }
  if (!m.latency || !base.latency) throw new Error('latency ratio needs latency on both sides');
  return { kind: 'latency', value: m.latency.p50 / base.latency.p50, p99: m.latency.p99 / base.latency.p99 };
}

// Two significant digits below 0.1 (0.013, not 0.01), so small ratios that differ 2× still read differently.
const times = (r: number): string =>
  `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)} ×`;

/** `0.31 × raw dgram floor`, or `p50 3.2 × / p99 4.1 × tcp rr floor`. */
export function formatRatio(r: Ratio, label: string): string {
  if (r.kind === 'rate') return `${times(r.value)} ${label}`;
  return `p50 ${times(r.value)} / p99 ${times(r.p99 ?? Number.NaN)} ${label}`;
}
