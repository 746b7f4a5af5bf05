// Review 9 scan (not a test): group scenarios with the library's default detection timings
// (suspectMs 1000 > sequencerStallMs 500), counting violations and sequencer removals whose
// sequencer was not itself stopped (paused, crashed, slow) in the 1.5 s before.
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { groupConfig, runScenario } from './scenario.js';

const [from, to] = (process.argv[2] ?? '1..20').split('..').map(Number) as [number, number];
const faults = (process.argv[3] ?? 'loss,dup,reorder,delay,crash,pause').split(',');
const GMS = { heartbeatMs: 100, suspectMs: 1_000, partitionMs: 3_000, bootstrapMs: 300 };
let violations = 0;
let suspicious = 0;
let removals = 0;
let excused = 0;
for (let seed = from; seed <= to; seed++) {
  const members = 3 + (seed % 5);
  const cfg = {
    ...groupConfig(seed, members, faults as never),
    stack: parseSpec(GROUP_STACK, { gms: GMS }),
    trace: true,
  };
  const r = runScenario(cfg, GROUP_CHECKERS);
  if (r.violations.length > 0) {
    violations++;
    console.log(`seed ${seed} (${members}): ${r.violations.length} violations: ${r.violations[0]}`);
  }
  const stops: { at: number; node: string }[] = [];
  for (const line of r.trace) {
    const m = /^(\d+\.\d+) (n\d+) (PAUSE|CRASH|SLOW)/.exec(line);
    if (m) stops.push({ at: Number(m[1]), node: m[2]! });
  }
  // Which node is the sequencer at each removal: the first member of the view before.
  const w = r.world;
  for (const i of w.incarnations) {
    const st = i.stats().seq ?? {};
    removals += st.sequencerRemovals ?? 0;
    excused += st.stallsExcused ?? 0;
  }
  for (const inc of w.incarnations)
    inc.views.forEach((v, k) => {
      if (k === 0) return;
      const prev = inc.views[k - 1]!;
      const seqMember = prev.members[0]!;
      if (v.members.includes(seqMember)) return;
      const seqInc = w.incarnations.find((i) => i.member === seqMember);
      if (!seqInc || seqInc.crashedAt !== null) return;
      const node = `n${seqInc.node}`;
      const stopped = stops.some((s) => s.node === node && s.at <= v.at && s.at >= v.at - 1_500);
      if (
        !stopped &&
        inc === w.incarnations.find((i) => i.views.some((x) => x.id === v.id && x.epoch === v.epoch))
      ) {
        suspicious++;
        console.log(
          `seed ${seed} (${members}): sequencer ${seqMember} (${node}) left view ${prev.id} at ${v.at.toFixed(0)} ms without a stop`,
        );
      }
    });
}
console.log(
  `${to - from + 1} seeds, ${violations} with violations, ${suspicious} sequencer exits without a stop, ${removals} sequencerRemovals, ${excused} stall checks excused`,
);
