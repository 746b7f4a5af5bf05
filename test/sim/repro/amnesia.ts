// The limitation the membership file closes (docs/protocol.md, "Membership memory"): the
// two-primaries schedule of two-primaries.ts, except that n2, cut off alone, crashes and
// restarts instead of rejoining in its process. Without memory the restarted n2 remembers
// nothing and founds a second group with the restarted n3 and n4 beside the primary {n0, n1};
// with `persist` (each process reads the view its predecessor saved) it does not.
//
//   npx tsx test/sim/repro/amnesia.ts [persist|amnesia] [seed]

import { watchMajority } from '../majority.js';
import { printVerdict, scriptedRpc, twoPrimariesSchedule } from './scripted.js';

export function amnesiaRun(persist: boolean, seed = 1) {
  const [tCrash, tSplit, tAmnesia, tRestart, tHeal] = [1200, 1700, 2000, 2800, 5500];
  const sim = scriptedRpc(seed, { persist });
  const w = sim.world;
  twoPrimariesSchedule(w, { crash: tCrash, split: tSplit, restart: tRestart, heal: tHeal });
  w.at(tAmnesia, () => w.crash(w.nodes[2]!));
  w.at(tAmnesia + 100, () => w.restart(2));
  const losses = watchMajority(w, 8000);
  return { sim, losses };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const persist = process.argv[2] !== 'amnesia';
  const { sim, losses } = amnesiaRun(persist, Number(process.argv[3] ?? 1));
  await printVerdict(sim, losses);
}
