/**
 * The divergence scenario of `divergence-sim.test.ts` over many seeds (FINDINGS 216):
 *
 *   npx tsx test/observe/divergence-sweep.ts --seeds 1..200 [--faults loss,dup,reorder,delay[,crash,...]]
 *
 * Per seed: whether the buggy replica ran a divergent add, which replicas hold a copy of its
 * state (restored from a snapshot it took after its bug), and the verdicts. Violations (exit 1):
 * a verdict naming a replica that holds the healthy state (`named-healthy`), two replicas
 * reaching different verdicts at one check (`disagree`), a run whose bug no replica reported
 * (`unreported`; not counted when, with crash, the buggy replica stopped before a checkpoint
 * after its bug), or a first report more than CHECK_EVERY + IN_FLIGHT requests after the bug at
 * a replica that was in the group all along (`late`). Counted apart: seeds whose verdicts name
 * the buggy replica, and seeds where none names anyone (a tie of lineages: with a copy of the
 * buggy state, one healthy lineage against one).
 */
import { parseArgs } from 'node:util';
import type { Fault } from '../sim/world.js';
import { CHECK_EVERY, IN_FLIGHT, memberOf, runDivergence } from './divergence-sim-run.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1..100' },
    faults: { type: 'string', default: 'loss,dup,reorder,delay' },
  },
});
const range = /^(\d+)\.\.(\d+)$/.exec(values.seeds!);
if (!range) throw new Error('--seeds A..B');
const [lo, hi] = [Number(range[1]), Number(range[2])];
if (!(hi >= lo && hi - lo < 100_000)) throw new Error('--seeds: at most 100,000 seeds, A <= B');
const faults = values.faults!.split(',') as Fault[];

const counts = {
  seeds: 0,
  noBug: 0,
  withCopies: 0,
  namedBuggy: 0,
  namedNone: 0,
  copiesNamed: 0,
  /** Of `namedNone`: a copy of the buggy state; else an unconfirmed copy of a healthy state or of
   * the buggy one's state before its bug (a copy that joined between the last unanimous check and
   * the first divergent one cannot tell which side went wrong before it, so it merges); else none. */
  noneCopyOfBuggy: 0,
  noneUnconfirmedCopy: 0,
  noneOther: 0,
  /** The buggy replica stopped (crash) before a checkpoint after its bug: nothing to report. */
  bugGone: 0,
};
const violations: string[] = [];
let maxDistance = -1;
const t0 = performance.now();
for (let seed = lo; seed <= hi; seed++) {
  counts.seeds++;
  const { made, firstBad } = await runDivergence(seed, faults);
  if (firstBad === undefined) {
    counts.noBug++;
    continue;
  }
  const buggy = made.find((m) => m.buggy)!;
  const copies = made.filter((m) => !m.buggy && m.source !== undefined && m.tainted);
  if (copies.length > 0) counts.withCopies++;
  const healthy = new Set(made.filter((m) => !m.tainted).map(memberOf));
  const verdicts = new Map<string, string>();
  let named = false;
  for (const m of made)
    for (const d of m.observer.divergences) {
      for (const x of d.minority) {
        named = true;
        if (healthy.has(x))
          violations.push(`seed ${seed}: named-healthy ${x} at ${d.checkpoint} (seen by ${memberOf(m)})`);
        if (copies.some((c) => memberOf(c) === x)) counts.copiesNamed++;
      }
      const v = JSON.stringify([d.digests, d.minority, d.origins ?? {}]);
      if ((verdicts.get(d.checkpoint) ?? v) !== v)
        violations.push(`seed ${seed}: disagree at ${d.checkpoint}`);
      verdicts.set(d.checkpoint, v);
    }
  if (verdicts.size === 0) {
    // With crash: the buggy replica may stop before it reaches a checkpoint after its bug, and
    // its state with it (a restart is a healthy joiner): nothing left to report.
    const bad = buggy.delivered.indexOf(firstBad);
    if (![...buggy.checkpoints.values()].some((n) => n > bad)) counts.bugGone++;
    else violations.push(`seed ${seed}: unreported (bug at ${firstBad})`);
    continue;
  }
  if (named) {
    if (made.some((m) => m.observer.divergences.some((d) => d.minority.includes(memberOf(buggy)))))
      counts.namedBuggy++;
  } else {
    counts.namedNone++;
    const origins = made.flatMap((m) => m.observer.divergences.flatMap((d) => Object.keys(d.origins ?? {})));
    if (copies.length > 0) counts.noneCopyOfBuggy++;
    else if (origins.length > 0) counts.noneUnconfirmedCopy++;
    else counts.noneOther++;
  }
  // The detection bound, at a healthy replica in the group all along that saw a verdict.
  const founder = made.find((m) => !m.tainted && m.source === undefined && m.observer.divergences.length > 0);
  const first = founder?.observer.divergences[0];
  const at = first && founder!.checkpoints.get(first.checkpoint);
  const bad = founder?.delivered.indexOf(firstBad);
  if (at !== undefined && bad !== undefined && bad >= 0) {
    const distance = at - 1 - bad;
    maxDistance = Math.max(maxDistance, distance);
    if (distance > CHECK_EVERY + IN_FLIGHT) violations.push(`seed ${seed}: late (${distance} requests)`);
  }
}
const s = ((performance.now() - t0) / 1000).toFixed(0);
console.log(
  `seeds ${lo}..${hi} (${counts.seeds}), faults ${faults.join(',')}, ${s} s: ${counts.noBug} without a divergent add, ` +
    `${counts.bugGone} whose buggy replica stopped before a checkpoint after its bug; ` +
    `${counts.namedBuggy} named the buggy replica, ${counts.namedNone} named no one ` +
    `(${counts.noneCopyOfBuggy} with a copy of the buggy state, ${counts.noneUnconfirmedCopy} with another unconfirmed copy, ${counts.noneOther} with none); ` +
    `${counts.withCopies} with a copy of the buggy state (named ${counts.copiesNamed} times); ` +
    `largest first-report distance ${maxDistance} (bound ${CHECK_EVERY + IN_FLIGHT}); ${violations.length} violations`,
);
for (const v of violations.slice(0, 50)) console.log(`  ${v}`);
process.exitCode = violations.length > 0 ? 1 : 0;
