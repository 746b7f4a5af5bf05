import type { ProcessHarness } from 'troupe/testkit';
import type { LatencySummary } from './stats.js';

/**
 * What one entry measured. `primary` names the headline figure, which is also the one compared to
 * the entry's baseline: a rate (higher is better) or latency percentiles (lower is better).
 */
export interface Measurement {
  primary: 'rate' | 'latency';
  /** Operations per second, with the unit spelled out, e.g. `msg/s per member`. */
  rate?: { value: number; unit: string };
  /** Latency percentiles in microseconds. */
  latency?: LatencySummary;
  /** Operations actually measured (after warm-up) and the seconds they took. */
  ops: number;
  seconds: number;
  /** Secondary figures worth printing (loss, buffer sizes, latency under load...). */
  notes?: Record<string, string | number>;
}

/** Per-entry bounds: an entry stops at `maxOps` operations or `maxSeconds`, whichever comes first. */
export interface Limits {
  maxOps: number;
  maxSeconds: number;
}

export interface BenchContext {
  /** Set by `--quick` (CI smoke runs): the limits are already scaled down. */
  quick: boolean;
  limits: Limits;
  /** Starts child processes; the runner kills all of them after the entry, whatever happens. */
  procs: ProcessHarness;
  /** Progress output (stderr, so `--json -` style piping of stdout stays clean). */
  log(message: string): void;
}

/** Names the entry this one is compared to and how that baseline reads in the table. */
export interface BaselineRef {
  entry: string;
  label: string;
}

export interface BenchEntry {
  /** Unique; `--only` matches substrings of it. Convention: `<area>: <what>`, e.g. `floor: raw dgram 1 B`. */
  name: string;
  /** One line on what the figure means (printed by `--list`, repeated in bench/README.md). */
  description: string;
  /** The entry to compare against, measured in the same run (see `against`). Floors have none. */
  baseline?: BaselineRef;
  /** Further floors this entry is read against, measured in the same run; their ratios go into
   * the notes (`vs <label> …`) and the JSON, not the table's ratio column. */
  also?: readonly BaselineRef[];
  /** Hard bound on start-up, drain and reporting on top of the limits (ms; default 30 s): for an
   * entry that starts many processes, which a loaded machine starts slowly. */
  slackMs?: number;
  /** Hard bound on the whole entry in ms, when its limits do not bound it (a fixed-size transfer);
   * default: `maxSeconds` plus the runner's slack. */
  timeoutMs?: number;
  run(ctx: BenchContext): Promise<Measurement>;
}
