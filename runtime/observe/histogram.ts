/**
 * A Prometheus histogram whose `observe` allocates nothing: bucket counts in a typed array per
 * label set, exported through a prom-client registry in prom-client's own format.
 *
 * Why not prom-client's `Histogram`: each of its `observe` calls builds a closure and a label
 * object, hashes the labels and turns the float bucket bound into a property key. A contact
 * observes three histograms per call at thousands of calls a second, and that garbage was the
 * largest part of what observation cost a busy replica (docs/observability.md, "Cost").
 */
import type { Metric, Registry } from 'prom-client';

/** The sample shape prom-client's registry formats (`metric.get().values`). */
interface Sample {
  labels: Record<string, string | number>;
  /** The series' own labels; the registry writes them after the default labels, as for prom-client's. */
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
}

/** One label set's counts; `observe` is the hot path. */
export class HistogramSeries {
  /** Per bucket (not cumulative), the last slot counting values above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts `value` (seconds or bytes); a non-finite value is ignored rather than thrown. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

export interface HistogramConfig<L extends string> {
  name: string;
  help: string;
  buckets: readonly number[];
  labelNames?: readonly L[];
  registers: Registry[];
}

/**
 * A histogram metric: {@link observe} for the unlabelled series, {@link labels} for a labelled
 * one (look it up once and keep it: the lookup builds a key string).
 *
 * @example
 * ```ts
 * const h = new BucketHistogram({ name: 'x_seconds', help: 'x', buckets: [0.001, 0.01], labelNames: ['method'], registers: [registry] });
 * const deposit = h.labels({ method: 'deposit' });
 * deposit.observe(0.0004);
 * ```
 */
export class BucketHistogram<L extends string = never> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: readonly number[];
  private readonly labelNames: readonly L[];
  private readonly series = new Map<string, HistogramSeries>();
  private unlabelled: HistogramSeries | undefined;

  constructor(config: HistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.labelNames = config.labelNames ?? [];
    // As prom-client does: a histogram without labels is exported (at zero) before it counts.
    if (this.labelNames.length === 0) this.unlabelled = this.newSeries({});
    // The registry formats any object with name, help, type and get(); prom-client's own types
    // only name its classes.
    for (const r of config.registers) r.registerMetric(this as unknown as Metric);
  }

  /** Counts `value` in the series without labels. */
  observe(value: number): void {
    this.unlabelled ??= this.newSeries({});
    this.unlabelled.observe(value);
  }

  /** The series of `values` (every label name given). */
  labels(values: Record<L, string>): HistogramSeries {
    const v = values as Record<string, string>;
    const key = this.labelNames.map((n) => v[n] ?? '').join('\0');
    let s = this.series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      for (const n of this.labelNames) labels[n] = v[n] ?? '';
      s = this.newSeries(labels);
      this.series.set(key, s);
    }
    return s;
  }

  /** Forgets every count. */
  reset(): void {
    this.series.clear();
    this.unlabelled = this.labelNames.length === 0 ? this.newSeries({}) : undefined;
  }

  /** prom-client's metric shape: cumulative `_bucket` samples with `le`, then `_sum` and `_count`. */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: Sample[];
  }> {
    const values: Sample[] = [];
    const all = this.unlabelled ? [this.unlabelled, ...this.series.values()] : [...this.series.values()];
    for (const s of all) {
      let acc = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        acc += s.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: acc,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  private newSeries(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(this.bounds, labels);
  }
}
