// The finder for the seed-pinned re-founding tests: when a protocol change shifts the simulated
// schedules and a pinned seed no longer reaches its test's case, this sweeps seeds with the
// test's own scenario (test/sim/pinned.ts) and its mutant replicas, and prints the seeds on which
// every check of the test would hold.
//
//   nice -n 10 npx tsx test/sim/repin.ts backlog --seeds 340000..341200
//   nice -n 10 npx tsx test/sim/repin.ts lossy --seeds 99970000..99970600
//
// `backlog`: faults.test.ts, "re-founded while an async request still ran and others waited":
// the run re-founds with 2 or more messages in the founder's backlog and no violation; the
// `skipsQueuedBacklog` mutant re-founds too, does not split the survivors, and is caught by the
// state check or an INTERRUPTED reply; `lyingAfterRefounding` is caught by true-replies.
// `lossy`: refound-lossy.test.ts: the run loses its majority, re-founds a view 1 with nothing
// excused and no violation; `lyingBeforeCut` is caught on a reply the client settled before the
// re-founding (the test names one such request and its value; the earliest settled are listed). The shape the test asserts
// (views 1 and 2, then the re-founded view 1) is printed as `chain`.
// Every reached seed is printed with what it shows; `fits` marks the ones the test can pin.
// Mutants run only on reached seeds with no violation. One line per candidate, then a summary.
import { parseArgs } from 'node:util';
import { offByOneAroundCut, skipsQueuedBacklog } from './mutant-replicas.js';
import { backlogCase, lossyCase, queuedAtRefounding } from './pinned.js';
import { model } from './rpc-checkers.js';
import { runRpcScenario } from './rpc-scenario.js';
import { range } from './run.js';
import { viewKey } from './world.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seeds: { type: 'string' } },
});
const which = positionals[0];
if ((which !== 'backlog' && which !== 'lossy') || values.seeds === undefined) {
  console.error('usage: npx tsx test/sim/repin.ts backlog|lossy --seeds A..B');
  process.exit(2);
}
const [from, to] = range(values.seeds);

/** The mutants of the two tests: replies one off after (faults.test) or before (refound-lossy) the cut. */
const lyingAfter = offByOneAroundCut('after');
const lyingBefore = offByOneAroundCut('before');

type Result = Awaited<ReturnType<typeof runRpcScenario>>;

/** When the re-founded root view was first installed. */
function refoundedAt(r: Result, key: string): number {
  let at = Number.POSITIVE_INFINITY;
  for (const inc of r.sim.world.incarnations)
    for (const v of inc.views) if (viewKey(v) === key) at = Math.min(at, v.at);
  return at;
}

/** Returns a line for a seed that reaches the case (with `fits` when every check holds), or undefined. */
async function backlog(seed: number): Promise<{ line: string; fits: boolean } | 'refounded' | undefined> {
  const { cfg, opts } = backlogCase(seed);
  const r = await runRpcScenario(cfg, opts);
  const m = model(r.sim);
  if (m.refounded === undefined) return undefined;
  const queued = queuedAtRefounding(r, m.refounded);
  if (queued < 2) return 'refounded';
  const head = `${seed}: re-founded ${m.refounded} at ${refoundedAt(r, m.refounded).toFixed(0)} ms, ${queued} in the founder's backlog, ${r.violations.length} violations`;
  if (r.violations.length > 0) return { line: `${head}: ${r.violations[0]}`, fits: false };
  const lost = await runRpcScenario(cfg, { ...opts, makeReplica: skipsQueuedBacklog });
  const lostRefounded = model(lost.sim).refounded !== undefined;
  const split = lost.violations.some((v) => v.includes('survivors hold'));
  const skipCaught = lost.violations.filter(
    (v) =>
      /^sequential-state: .* the re-founded order gives/.test(v) ||
      /^true-replies: .* got INTERRUPTED, agreed: value/.test(v),
  );
  const lying = await runRpcScenario(cfg, { ...opts, makeReplica: lyingAfter });
  const lyingCaught = lying.violations.filter((v) => v.startsWith('true-replies:')).length;
  const fits = lostRefounded && !split && skipCaught.length > 0 && lyingCaught > 0;
  const skipWhat = !lostRefounded
    ? 'does not re-found'
    : split
      ? 'splits the survivors'
      : skipCaught.length > 0
        ? `caught (${skipCaught.length}: ${skipCaught[0]})`
        : 'not caught';
  return {
    line: `${head}; skipsQueuedBacklog ${skipWhat}; lyingAfterRefounding caught ${lyingCaught}`,
    fits,
  };
}
async function lossy(seed: number): Promise<{ line: string; fits: boolean } | 'refounded' | undefined> {
  const { cfg, opts } = lossyCase(seed);
  const r = await runRpcScenario(cfg, opts);
  if (r.losses.length === 0) return undefined;
  const m = model(r.sim);
  if (m.refounded === undefined || !/^1\./.test(m.refounded)) return undefined;
  const began = refoundedAt(r, m.refounded);
  const chain = m.chain.map((k) => Number(k.split('.')[0]));
  const loss = r.losses[0]!;
  const head = `${seed}: lost its majority at ${loss.at.toFixed(0)} ms (view ${loss.view.split('.')[0]}, ${loss.largest} of ${loss.of}), re-founded ${m.refounded} at ${began.toFixed(0)} ms, chain [${chain.join(', ')}], ${r.expected.length} excused, ${r.violations.length} violations`;
  if (r.expected.length > 0 || r.violations.length > 0) return 'refounded';
  const bad = await runRpcScenario(cfg, { ...opts, makeReplica: lyingBefore });
  // The mutant's off-by-one replies the client settled (by that reply) before the re-founding.
  const caught: { at: number; text: string }[] = [];
  for (const v of bad.violations) {
    const x = /^true-replies: (\S+) got value (-?\d+) \(reply\), agreed: value (-?\d+)$/.exec(v);
    if (!x) continue;
    const call = bad.sim.calls.find((c) => c.id === x[1]);
    if (call?.final?.via !== 'reply' || call.final.at >= began) continue;
    // The plain run must agree the same value for it (the test asserts it there).
    const agreed = m.outcomes.get(x[1]!);
    if (agreed?.status !== 'committed' || !agreed.ok || agreed.value !== Number(x[3])) continue;
    caught.push({ at: call.final.at, text: `${x[1]}=${x[3]} (settled ${call.final.at.toFixed(0)} ms)` });
  }
  const shape = chain.join(',') === '1,2,1';
  return {
    line: `${head}; lyingBeforeCut caught on ${
      caught.length
        ? `${caught.length} settled before the re-founding: ${caught
            .sort((a, b) => a.at - b.at)
            .slice(0, 4)
            .map((c) => c.text)
            .join(' ')}${caught.length > 4 ? ' …' : ''}`
        : 'nothing settled before the re-founding'
    }`,
    fits: shape && caught.length > 0,
  };
}

const started = Date.now();
let refoundings = 0;
const reached: number[] = [];
const fitting: number[] = [];
for (let seed = from; seed <= to; seed++) {
  const out = which === 'backlog' ? await backlog(seed) : await lossy(seed);
  if (out === undefined) continue;
  refoundings++;
  if (out === 'refounded') continue;
  reached.push(seed);
  if (out.fits) fitting.push(seed);
  console.log(`${out.fits ? 'fits ' : '     '} ${out.line}`);
}
const what = which === 'backlog' ? 're-foundings' : 're-foundings of a view 1 after a lost majority';
console.log(
  `${which} ${from}..${to}: ${refoundings} ${what}, ${reached.length} reached the case, fits: ${fitting.join(' ') || 'none'} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
);
