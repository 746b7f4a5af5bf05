import { parseArgs } from 'node:util';
import { parseSpec } from '../../runtime/stack/builder.js';
import { NAK_CHECKERS } from './checkers.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { defaultConfig, GMS_SIM_OPTIONS, GROUP_STACK, groupConfig, runScenario } from './scenario.js';
import { ALL_FAULTS, type Fault } from './world.js';

/**
 * `npm run sim -- --seeds 1..500 --members 5 --faults loss,dup,reorder,delay`
 * `npm run sim -- --seed 17 --members 5 --faults loss --trace`   (replay one seed)
 */
function range(text: string): [number, number] {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`expected N or A..B, got '${text}'`);
  const a = Number(m[1]);
  return [a, m[2] === undefined ? a : Number(m[2])];
}

function main(): number {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      members: { type: 'string', default: '5' },
      faults: { type: 'string', default: 'loss,dup,reorder,delay' },
      messages: { type: 'string', default: '40' },
      trace: { type: 'boolean', default: false },
      stack: { type: 'string', default: GROUP_STACK },
    },
  });
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

process.exitCode = main();
