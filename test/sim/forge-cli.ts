import { parseArgs } from 'node:util';
import { describe, FORGE_DEFAULTS, type ForgeOptions, minimize, runForge } from './forge.js';
import { parseFaults, range, summarize } from './run.js';
import { runCli, UsageError } from './usage.js';

const HELP = `npx tsx test/sim/forge-cli.ts [options]   forged-datagram fuzzer (test/sim/forge.ts)

  --seeds A..B     seeds to run; --seed N runs one and prints its forged datagrams, decoded
  --members A..B   members per scenario (default ${FORGE_DEFAULTS.members})
  --faults LIST    the network's faults (default ${FORGE_DEFAULTS.faults.join(',')})
  --messages N     group mode: casts per member (default ${FORGE_DEFAULTS.messages})
  --events N       forgery events per run, each one template sent 1..4 times (default 1)
  --rpc            RPC mode: replicas and clients (the RPC checkers)
  --oracle         the forger knows every field (on the path): such forgeries must succeed
  --no-control     skip the control run without the forgery (and the checks that compare)
  --latency MS     one-way latency of every packet
  --plant origins  a planted weakness: nak streams begin at 0 (no random origins), so small
                   position guesses land (the fuzzer must then fail)
  --verbose        print every seed's forgeries, failing or not
  --minimize       for a failing seed, find the fewest of its datagrams that still fail it
  --trace          print the run's events (with --seed)

Ends with 'S scenarios, V violations'; a failing seed prints its replay command.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      members: { type: 'string', default: FORGE_DEFAULTS.members },
      faults: { type: 'string', default: FORGE_DEFAULTS.faults.join(',') },
      messages: { type: 'string', default: String(FORGE_DEFAULTS.messages) },
      events: { type: 'string', default: '1' },
      rpc: { type: 'boolean', default: false },
      oracle: { type: 'boolean', default: false },
      'no-control': { type: 'boolean', default: false },
      latency: { type: 'string', default: '0' },
      verbose: { type: 'boolean', default: false },
      minimize: { type: 'boolean', default: false },
      plant: { type: 'string' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  for (const k of ['messages', 'events', 'latency'] as const)
    if (!/^\d+$/.test(values[k])) throw new UsageError(`--${k}: expected a number, got '${values[k]}'`);
  range(values.members);
  if (values.plant !== undefined && values.plant !== 'origins')
    throw new UsageError(`--plant: expected origins, got '${values.plant}'`);
  const o: ForgeOptions = {
    rpc: values.rpc,
    members: values.members,
    faults: parseFaults(values.faults),
    messages: Number(values.messages),
    events: Number(values.events),
    oracle: values.oracle,
    control: !values['no-control'],
    ...(Number(values.latency) > 0 ? { latency: Number(values.latency) } : {}),
    ...(values.plant === 'origins' ? { plant: 'origins' as const } : {}),
    trace: values.trace,
  };
  const one = values.seed !== undefined;
  const [lo, hi] = range(values.seed ?? values.seeds ?? '412000000..412000019');
  let scenarios = 0;
  let violations = 0;
  let notes = 0;
  for (let seed = lo; seed <= hi; seed++) {
    const r = await runForge(o, seed);
    scenarios++;
    if (o.trace) for (const line of r.trace) process.stdout.write(`${line}\n`);
    const failed = r.violations.length > 0;
    for (const n of r.notes) process.stdout.write(`seed ${seed}: note: ${n}\n`);
    notes += r.notes.length;
    if (failed) {
      violations += r.violations.length;
      for (const v of summarize(r.violations)) process.stdout.write(`seed ${seed}: ${v}\n`);
    }
    if (failed || one || values.verbose || r.notes.length > 0)
      for (const e of r.events) {
        process.stdout.write(
          `  forged at ${e.at.toFixed(1)} ms from ${e.template}\n    ops: ${e.ops.join('; ')}\n`,
        );
        const seen = new Set<string>();
        for (const s of e.sent) {
          const d = describe(s.bytes);
          const line = `    ${s.at.toFixed(1)} ms ${s.from} -> n${s.to}: ${d}`;
          if (!seen.has(line)) process.stdout.write(`${line}\n`);
          seen.add(line);
        }
      }
    if (failed || one) {
      const f = r.figures;
      const c = r.control;
      process.stdout.write(
        `  figures: stopped ${f.stopped} (before a view ${f.stoppedJoining}) views ${f.views} reflected ${f.reflected} retransmits ${f.retransmits} naks ${f.naks} pendingBytesMax ${f.pendingBytesMax} futureMax ${f.futureMax}` +
          (c
            ? ` | control: stopped ${c.stopped} views ${c.views} retransmits ${c.retransmits} naks ${c.naks} pendingBytesMax ${c.pendingBytesMax} futureMax ${c.futureMax}`
            : '') +
          '\n',
      );
    }
    if (failed && values.minimize) {
      const m = await minimize(o, seed, r);
      if (!m) process.stdout.write('  minimized: no subset of the datagrams fails alone\n');
      else {
        process.stdout.write(
          `  minimized to ${m.sent.length} datagram(s): ${m.result.violations.join(' | ')}\n`,
        );
        for (const d of m.sent)
          process.stdout.write(`    ${d.at.toFixed(1)} ms ${d.from} -> n${d.to}: ${describe(d.bytes)}\n`);
      }
    }
    if (failed)
      process.stdout.write(
        `  replay: npx tsx test/sim/forge-cli.ts --seed ${seed} --members ${o.members} --faults ${o.faults.join(',')}${o.rpc ? ' --rpc' : ` --messages ${o.messages}`}${o.events !== 1 ? ` --events ${o.events}` : ''}${o.oracle ? ' --oracle' : ''}${o.latency ? ` --latency ${o.latency}` : ''}${o.plant ? ` --plant ${o.plant}` : ''}\n`,
      );
  }
  process.stdout.write(`${scenarios} scenarios, ${violations} violations (${notes} notes)\n`);
  return violations > 0 ? 1 : 0;
}

await runCli('npx tsx test/sim/forge-cli.ts', main);
