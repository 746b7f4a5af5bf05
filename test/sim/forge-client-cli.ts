import { parseArgs } from 'node:util';
import {
  CLIENT_FORGE_DEFAULTS,
  type ClientForgeOptions,
  describeClient,
  minimizeClient,
  runClientForge,
} from './forge-client.js';
import { parseFaults, range, summarize } from './run.js';
import { runCli, UsageError } from './usage.js';

const HELP = `npx tsx test/sim/forge-client-cli.ts [options]   forged client-packet fuzzer (test/sim/forge-client.ts)

  --seeds A..B     seeds to run; --seed N runs one and prints its forged datagrams, decoded
  --members A..B   members per scenario (default ${CLIENT_FORGE_DEFAULTS.members})
  --faults LIST    the network's faults (default ${CLIENT_FORGE_DEFAULTS.faults.join(',')})
  --events N       forgery events per run, each one packet sent 1..4 times (default ${CLIENT_FORGE_DEFAULTS.events})
  --keyed          replicas and clients sign client packets with a key the forger lacks
  --oracle         the forger reads every field (on the path): keyless runs must then fail
  --no-control     skip the control run without the forgery (the views check)
  --plant P        a planted weakness: ids (the forger knows the client ids), key (it holds the
                   key; with --keyed), cookies (replicas take any cookie as an address proof)
  --verbose        print every seed's forgeries, failing or not
  --minimize       for a failing seed, find the fewest of its datagrams that still fail it
  --trace          print the run's events (with --seed)

Ends with 'S scenarios, V violations'; a failing seed prints its replay command.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      members: { type: 'string', default: CLIENT_FORGE_DEFAULTS.members },
      faults: { type: 'string', default: CLIENT_FORGE_DEFAULTS.faults.join(',') },
      events: { type: 'string', default: String(CLIENT_FORGE_DEFAULTS.events) },
      keyed: { type: 'boolean', default: false },
      oracle: { type: 'boolean', default: false },
      'no-control': { type: 'boolean', default: false },
      plant: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      minimize: { type: 'boolean', default: false },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (!/^\d+$/.test(values.events))
    throw new UsageError(`--events: expected a number, got '${values.events}'`);
  range(values.members);
  if (values.plant !== undefined && !['ids', 'key', 'cookies'].includes(values.plant))
    throw new UsageError(`--plant: expected ids, key or cookies, got '${values.plant}'`);
  if (values.plant === 'key' && !values.keyed) throw new UsageError('--plant key needs --keyed');
  const o: ClientForgeOptions = {
    members: values.members,
    faults: parseFaults(values.faults),
    events: Number(values.events),
    keyed: values.keyed,
    oracle: values.oracle,
    control: !values['no-control'],
    ...(values.plant ? { plant: values.plant as 'ids' | 'key' | 'cookies' } : {}),
    trace: values.trace,
  };
  const one = values.seed !== undefined;
  const [lo, hi] = range(values.seed ?? values.seeds ?? '424000000..424000019');
  let scenarios = 0;
  let violations = 0;
  let notes = 0;
  let refused = 0;
  let forgedRuns = 0;
  let datagrams = 0;
  for (let seed = lo; seed <= hi; seed++) {
    const r = await runClientForge(o, seed);
    scenarios++;
    refused += r.figures.refused;
    forgedRuns += r.figures.forgedRuns;
    datagrams += r.events.reduce((n, e) => n + e.sent.length, 0);
    if (o.trace) for (const line of r.trace) process.stdout.write(`${line}\n`);
    const failed = r.violations.length > 0;
    for (const n of r.notes) process.stdout.write(`seed ${seed}: note: ${n}\n`);
    notes += r.notes.length;
    if (failed) {
      violations += r.violations.length;
      for (const v of summarize(r.violations)) process.stdout.write(`seed ${seed}: ${v}\n`);
    }
    if (failed || one || values.verbose)
      for (const e of r.events) {
        process.stdout.write(`  forged at ${e.at.toFixed(1)} ms: ${e.what}\n    ops: ${e.ops.join('; ')}\n`);
        const seen = new Set<string>();
        for (const s of e.sent) {
          const line = `    ${s.at.toFixed(1)} ms ${s.from} -> ${s.to}: ${describeClient(s.bytes)}`;
          if (!seen.has(line)) process.stdout.write(`${line.slice(0, 400)}\n`);
          seen.add(line);
        }
      }
    if (failed || one)
      process.stdout.write(
        `  figures: views ${r.figures.views}${r.control ? ` (control ${r.control.views})` : ''} reflected ${r.figures.reflected} refused ${r.figures.refused} ordered ${r.figures.ordered} forger's own ${r.figures.forgedRuns}\n`,
      );
    if (failed && values.minimize) {
      const m = await minimizeClient(o, seed, r);
      if (!m) process.stdout.write('  minimized: no subset of the datagrams fails alone\n');
      else {
        process.stdout.write(
          `  minimized to ${m.sent.length} datagram(s): ${m.result.violations.join(' | ').slice(0, 600)}\n`,
        );
        for (const d of m.sent)
          process.stdout.write(
            `    ${d.at.toFixed(1)} ms ${d.from} -> ${d.to}: ${describeClient(d.bytes).slice(0, 400)}\n`,
          );
      }
    }
    if (failed)
      process.stdout.write(
        `  replay: npx tsx test/sim/forge-client-cli.ts --seed ${seed} --members ${o.members} --faults ${o.faults.join(',')} --events ${o.events}${o.keyed ? ' --keyed' : ''}${o.oracle ? ' --oracle' : ''}${o.plant ? ` --plant ${o.plant}` : ''}\n`,
      );
  }
  process.stdout.write(
    `forged ${datagrams} datagrams; replicas refused ${refused} client packets; the forger's own calls ordered: ${forgedRuns}\n`,
  );
  process.stdout.write(`${scenarios} scenarios, ${violations} violations (${notes} notes)\n`);
  return violations > 0 ? 1 : 0;
}

await runCli('npx tsx test/sim/forge-client-cli.ts', main);
