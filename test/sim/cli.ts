import { parseArgs } from 'node:util';
import { parseSpec } from '../../runtime/stack/builder.js';
import { NAK_CHECKERS } from './checkers.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { rpcConfig, rpcStats, runRpcScenario } from './rpc-scenario.js';
import { defaultConfig, GMS_SIM_OPTIONS, GROUP_STACK, groupConfig, runScenario } from './scenario.js';
import { ALL_FAULTS, type Fault } from './world.js';

const HELP = `npm run sim -- [options]        deterministic simulator (test/sim)

  --seeds A..B       seeds to run (default 1..100); --seed N runs one
  --members A..B     members per scenario, a function of the seed (default 5)
  --faults LIST      of ${ALL_FAULTS.join(',')} (default loss,dup,reorder,delay)
  --messages N       casts per member (group and stream modes; default 40)
  --stack SPEC       layer stack (default the group stack; without gms: stream mode)
  --rpc              RPC mode: real Replicas of a register service on the group stack and
                     real TroupeClients (non-members) that fail over, ask outcome and reissue;
                     checks sequential-state, no-double-apply, calls-end, true-replies,
                     true-outcomes, replica-health and the group checkers
  --calls N          RPC mode: calls per client lane (default 12; 2 clients x 2 lanes)
  --timeout MS       RPC mode: per-call client deadline (default 1500)
  --trace            print every event (replay a failing seed with it)

Each mode ends with 'S scenarios, V violations' and prints a replay command per failing seed.`;

/**
 * `npm run sim -- --seeds 1..500 --members 5 --faults loss,dup,reorder,delay`
 * `npm run sim -- --seed 17 --members 5 --faults loss --trace`   (replay one seed)
 * `npm run sim -- --rpc --seeds 1..200 --members 3..5 --faults loss,dup,reorder,delay,crash,pause`
 */
function range(text: string): [number, number] {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`expected N or A..B, got '${text}'`);
  const a = Number(m[1]);
  return [a, m[2] === undefined ? a : Number(m[2])];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      members: { type: 'string', default: '5' },
      faults: { type: 'string', default: 'loss,dup,reorder,delay' },
      messages: { type: 'string', default: '40' },
      trace: { type: 'boolean', default: false },
      stack: { type: 'string', default: GROUP_STACK },
      rpc: { type: 'boolean', default: false },
      calls: { type: 'string', default: '12' },
      timeout: { type: 'string', default: '1500' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [lo, hi] = range(values.seed ?? values.seeds ?? '1..100');
  const [mLo, mHi] = range(values.members);
  const faults = values.faults
    .split(',')
    .filter((f) => f.length > 0)
    .map((f) => {
      if (!(ALL_FAULTS as readonly string[]).includes(f)) throw new Error(`unknown fault '${f}'`);
      return f as Fault;
    });
  let scenarios = 0;
  let violations = 0;
  if (values.rpc) {
    const totals: Record<string, number> = {};
    for (let seed = lo; seed <= hi; seed++) {
      const members = mLo + (seed % (mHi - mLo + 1));
      const cfg = { ...rpcConfig(seed, members, faults), trace: values.trace };
      const r = await runRpcScenario(cfg, {
        callsPerLane: Number(values.calls),
        callTimeoutMs: Number(values.timeout),
      });
      scenarios++;
      for (const [k, v] of Object.entries(rpcStats(r.sim))) totals[k] = (totals[k] ?? 0) + v;
      if (values.trace) for (const line of r.trace) process.stdout.write(`${line}\n`);
      if (r.violations.length > 0) {
        violations += r.violations.length;
        for (const v of r.violations.slice(0, 5)) process.stdout.write(`seed ${seed}: ${v}\n`);
        process.stdout.write(
          `  replay: npx tsx test/sim/cli.ts --rpc --seed ${seed} --members ${values.members} --faults ${faults.join(',')} --calls ${values.calls} --timeout ${values.timeout} --trace\n`,
        );
      }
    }
    process.stdout.write(
      `${Object.entries(totals)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}\n`,
    );
    process.stdout.write(`${scenarios} scenarios, ${violations} violations\n`);
    return violations > 0 ? 1 : 0;
  }
  for (let seed = lo; seed <= hi; seed++) {
    // The member count for a seed is a function of the seed alone, so one seed replays alone.
    const members = mLo + (seed % (mHi - mLo + 1));
    // A stack with membership is checked as a group; a bare stream stack by the stream checkers.
    const group = values.stack.split(':').includes('gms');
    const base = group ? groupConfig(seed, members, faults) : defaultConfig(seed, members, faults);
    const cfg = {
      ...base,
      ...(values.stack === GROUP_STACK
        ? {}
        : { stack: parseSpec(values.stack, group ? GMS_SIM_OPTIONS : {}) }),
      messages: Number(values.messages),
      trace: values.trace,
    };
    const r = runScenario(cfg, group ? GROUP_CHECKERS : NAK_CHECKERS);
    scenarios++;
    if (values.trace) for (const line of r.trace) process.stdout.write(`${line}\n`);
    if (r.violations.length > 0) {
      violations += r.violations.length;
      for (const v of r.violations.slice(0, 5)) process.stdout.write(`seed ${seed}: ${v}\n`);
      process.stdout.write(
        `  replay: npm run sim -- --seed ${seed} --members ${values.members} --faults ${faults.join(',')} --messages ${values.messages} --stack ${values.stack} --trace\n`,
      );
    }
  }
  process.stdout.write(`${scenarios} scenarios, ${violations} violations\n`);
  return violations > 0 ? 1 : 0;
}

process.exitCode = await main();
