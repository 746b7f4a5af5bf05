/**
 * The command line both forged-packet fuzzers run (test/sim/forge-cli.ts for the members'
 * packets, test/sim/forge-client-cli.ts for the client protocol's): the options every fuzzer
 * takes, and the loop over seeds that runs one, prints what a failing (or asked-for) seed forged,
 * its figures, a minimized set of its datagrams and its replay command, and ends with the totals.
 * A fuzzer gives only what differs: its own options, how it runs and prints a seed.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parseFaults, range, summarize } from './run.js';
import { runCli, UsageError } from './usage.js';
import type { Fault } from './world.js';

/** One forged datagram as a fuzzer records it. */
interface Sent {
  at: number;
  from: string;
  bytes: Uint8Array;
}

/** What a run of one seed gives the loop. */
interface Run<D extends Sent> {
  violations: string[];
  notes: string[];
  trace: string[];
  events: { at: number; ops: string[]; sent: D[] }[];
}

/** The options every fuzzer takes, parsed. */
export interface CommonForgeOptions {
  members: string;
  faults: Fault[];
  events: number;
  oracle: boolean;
  control: boolean;
  trace: boolean;
}

type Values = Record<string, string | boolean | undefined>;

export interface ForgeCli<O, D extends Sent, R extends Run<D>> {
  /** How the fuzzer is run (`npx tsx test/sim/forge-cli.ts`): its errors and replays say it. */
  command: string;
  help: string;
  defaults: { members: string; faults: readonly Fault[]; events: number; seeds: string };
  /** The fuzzer's own options, as `parseArgs` takes them. */
  options: NonNullable<ParseArgsConfig['options']>;
  /** Its number-valued options (`events` among them), checked in this order. */
  numbers: readonly string[];
  /** The run's options from the parsed values (the common ones given); a bad one throws. */
  build(values: Values, common: () => CommonForgeOptions): O;
  run(o: O, seed: number): Promise<R>;
  minimize(o: O, seed: number, r: R): Promise<{ sent: D[]; result: R } | undefined>;
  /** What an event forged from, after `forged at T ms`. */
  event(e: R['events'][number]): string;
  /** Where a datagram went, as the fuzzer names a destination. */
  to(d: D): string;
  describe(bytes: Uint8Array): string;
  /** Characters at most of a line showing a datagram, and of a minimized run's violations. */
  width?: { datagram: number; violations: number };
  /** Whether a seed with notes and no violation prints its forgeries too. */
  eventsOnNotes: boolean;
  /** A failing (or single) seed's figures, after `figures: `. */
  figures(r: R): string;
  /** The replay command's options after `--seed N`. */
  replay(o: O): string;
  /** Sums over the seeds, printed before the last line (none without it, or when the line is empty). */
  totals?: { add(r: R): void; line(): string };
}

const COMMON: NonNullable<ParseArgsConfig['options']> = {
  seeds: { type: 'string' },
  seed: { type: 'string' },
  oracle: { type: 'boolean', default: false },
  'no-control': { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  minimize: { type: 'boolean', default: false },
  plant: { type: 'string' },
  trace: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};

async function main<O, D extends Sent, R extends Run<D>>(cli: ForgeCli<O, D, R>): Promise<number> {
  const { values } = parseArgs({
    options: {
      ...COMMON,
      members: { type: 'string', default: cli.defaults.members },
      faults: { type: 'string', default: cli.defaults.faults.join(',') },
      events: { type: 'string', default: String(cli.defaults.events) },
      ...cli.options,
    },
  });
  const v = values as Values;
  if (v.help) {
    process.stdout.write(`${cli.help}\n`);
    return 0;
  }
  for (const k of cli.numbers) {
    const n = v[k] as string;
    if (!/^\d+$/.test(n)) throw new UsageError(`--${k}: expected a number, got '${n}'`);
  }
  range(v.members as string);
  const o = cli.build(v, () => ({
    members: v.members as string,
    faults: parseFaults(v.faults as string),
    events: Number(v.events),
    oracle: v.oracle as boolean,
    control: !v['no-control'],
    trace: v.trace as boolean,
  }));
  const trace = v.trace as boolean;
  const one = v.seed !== undefined;
  const [lo, hi] = range((v.seed ?? v.seeds ?? cli.defaults.seeds) as string);
  const width = cli.width;
  let scenarios = 0;
  let violations = 0;
  let notes = 0;
  for (let seed = lo; seed <= hi; seed++) {
    const r = await cli.run(o, seed);
    scenarios++;
    cli.totals?.add(r);
    if (trace) for (const line of r.trace) process.stdout.write(`${line}\n`);
    const failed = r.violations.length > 0;
    for (const n of r.notes) process.stdout.write(`seed ${seed}: note: ${n}\n`);
    notes += r.notes.length;
    if (failed) {
      violations += r.violations.length;
      for (const x of summarize(r.violations)) process.stdout.write(`seed ${seed}: ${x}\n`);
    }
    if (failed || one || v.verbose || (cli.eventsOnNotes && r.notes.length > 0))
      for (const e of r.events) {
        process.stdout.write(
          `  forged at ${e.at.toFixed(1)} ms${cli.event(e)}\n    ops: ${e.ops.join('; ')}\n`,
        );
        const seen = new Set<string>();
        for (const s of e.sent) {
          const line = `    ${s.at.toFixed(1)} ms ${s.from} -> ${cli.to(s)}: ${cli.describe(s.bytes)}`;
          if (!seen.has(line)) process.stdout.write(`${line.slice(0, width?.datagram)}\n`);
          seen.add(line);
        }
      }
    if (failed || one) process.stdout.write(`  figures: ${cli.figures(r)}\n`);
    if (failed && v.minimize) {
      const m = await cli.minimize(o, seed, r);
      if (!m) process.stdout.write('  minimized: no subset of the datagrams fails alone\n');
      else {
        process.stdout.write(
          `  minimized to ${m.sent.length} datagram(s): ${m.result.violations.join(' | ').slice(0, width?.violations)}\n`,
        );
        for (const d of m.sent)
          process.stdout.write(
            `    ${d.at.toFixed(1)} ms ${d.from} -> ${cli.to(d)}: ${cli.describe(d.bytes).slice(0, width?.datagram)}\n`,
          );
      }
    }
    if (failed) process.stdout.write(`  replay: ${cli.command} --seed ${seed} ${cli.replay(o)}\n`);
  }
  const totals = cli.totals?.line();
  if (totals) process.stdout.write(`${totals}\n`);
  process.stdout.write(`${scenarios} scenarios, ${violations} violations (${notes} notes)\n`);
  return violations > 0 ? 1 : 0;
}

/** Runs a fuzzer's command line (exit 0, 1 when a seed failed, 2 on a bad option). */
export async function forgeCli<O, D extends Sent, R extends Run<D>>(cli: ForgeCli<O, D, R>): Promise<void> {
  await runCli(cli.command, () => main(cli));
}
