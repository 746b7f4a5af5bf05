// The benchmark runner: `npm run bench [-- --only <substring>] [--quick] [--json <file>] [--list]`.
// Runs each selected entry (and the baselines it is compared to) once, in child processes, bounded
// per entry in operations and seconds, then prints one table: figure, ratio to its baseline measured
// in this same run, and notes. See bench/README.md.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ProcessHarness } from 'troupe/testkit';
import { formatRatio, type Ratio, ratioTo } from './lib/ratio.js';
import type { BenchEntry, Limits, Measurement } from './lib/types.js';
import { entries, select } from './registry.js';

const FULL: Limits = { maxOps: 500_000, maxSeconds: 3 };
const QUICK: Limits = { maxOps: 20_000, maxSeconds: 0.5 };
/** Hard bound per entry on top of its own limits: process start-up, drain, reporting. */
const ENTRY_SLACK_MS = 30_000;
/** Hard bound on the whole run; entries not started by then are skipped. */
const RUN_BUDGET_MS = 300_000;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run bench -- [--only <substring>] [--quick] [--json <file>] [--list]');
  process.exit(0);
}

const chosen = select(entries, values.only);
if (values.list) {
  for (const e of chosen) {
    console.log(`${e.name}${e.baseline ? `  (vs ${e.baseline.entry})` : ''}\n    ${e.description}`);
  }
  process.exit(0);
}
if (chosen.length === 0) {
  console.error(`no benchmark entry matches --only ${JSON.stringify(values.only)}`);
  process.exit(2);
}

const limits = values.quick ? QUICK : FULL;
const log = (m: string): void => void process.stderr.write(`${m}\n`);

interface Row {
  name: string;
  measurement?: Measurement;
  baseline?: string;
  ratio?: Ratio;
  ratioText?: string;
  /** Ratios to the entry's further floors (`BenchEntry.also`), by the floor's entry name. */
  also?: Record<string, Ratio>;
  error?: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: exceeded ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function runEntry(e: BenchEntry): Promise<Measurement> {
  const procs = new ProcessHarness();
  try {
    return await withTimeout(
      e.run({ quick: values.quick, limits, procs, log }),
      e.timeoutMs ?? limits.maxSeconds * 1000 + (e.slackMs ?? ENTRY_SLACK_MS),
      e.name,
    );
  } finally {
    await procs.stopAll();
  }
}

const started = Date.now();
const results = new Map<string, Measurement>();
const rows: Row[] = [];
for (const e of chosen) {
  const row: Row = { name: e.name, baseline: e.baseline?.entry };
  rows.push(row);
  if (Date.now() - started > RUN_BUDGET_MS) {
    row.error = 'skipped: run budget spent';
    continue;
  }
  log(`… ${e.name}`);
  try {
    row.measurement = await runEntry(e);
    results.set(e.name, row.measurement);
  } catch (err) {
    row.error = err instanceof Error ? err.message.split('\n')[0] : String(err);
    log(err instanceof Error ? err.message : String(err));
    continue;
  }
  if (e.baseline) {
    const base = results.get(e.baseline.entry);
    if (!base) row.error = `baseline "${e.baseline.entry}" has no measurement in this run`;
    else {
      row.ratio = ratioTo(row.measurement, base);
      row.ratioText = formatRatio(row.ratio, e.baseline.label);
    }
  }
  for (const ref of e.also ?? []) {
    const base = results.get(ref.entry);
    if (!base) continue; // its own row says why it has no measurement
    const r = ratioTo(row.measurement, base);
    row.also = { ...row.also, [ref.entry]: r };
    row.measurement.notes = { [`vs ${ref.label}`]: formatRatio(r, '').trim(), ...row.measurement.notes };
  }
}

// ---- the table ---------------------------------------------------------------------------------

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const us = (n: number): string => (n >= 100 ? int(n) : n.toFixed(1));

function figure(m: Measurement): string {
  if (m.primary === 'rate' && m.rate) return `${int(m.rate.value)} ${m.rate.unit}`;
  const l = m.latency!;
  return `p50 ${us(l.p50)} µs, p99 ${us(l.p99)} µs`;
}

function notes(m: Measurement): string {
  const parts = Object.entries(m.notes ?? {}).map(
    ([k, v]) => `${k} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`,
  );
  parts.push(`${int(m.ops)} ops in ${m.seconds.toFixed(2)} s`);
  return parts.join(', ');
}

const table = rows.map((r) => [
  r.name,
  r.measurement ? figure(r.measurement) : 'FAILED',
  r.error ? r.error : r.ratioText ? `= ${r.ratioText}` : r.baseline ? '' : '(floor)',
  r.measurement ? notes(r.measurement) : '',
]);
const header = ['entry', 'figure', 'vs baseline (same run)', 'notes'];
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]): string =>
  cells
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
console.log(
  `\ntroupe bench — ${values.quick ? 'quick' : 'full'} run, node ${process.version}, ${os.cpus().length} CPUs, ` +
    `limits ${limits.maxOps.toLocaleString('en-US')} ops / ${limits.maxSeconds} s per entry, ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s total\n`,
);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const t of table) console.log(line(t));
console.log(
  '\nCompare ratios, not absolute numbers: both sides of a ratio ran on this machine, seconds apart.',
);

if (values.json) {
  const doc = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    quick: values.quick,
    limits,
    entries: rows.map((r) => ({
      name: r.name,
      baseline: r.baseline,
      ratio: r.ratio,
      also: r.also,
      measurement: r.measurement,
      error: r.error,
    })),
  };
  writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
  log(`wrote ${values.json}`);
}
process.exitCode = rows.some((r) => r.error) ? 1 : 0;
