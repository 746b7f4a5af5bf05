// FINDINGS item 39, scripted (no random seed has reached it): a group shrunk to 3 of its 5 seeds
// splits 2 | 1; the 2 go on as a legitimate primary while the 1 and two restarted seeds found a
// second group; at the heal the later view id wins and the calls the other group answered are
// gone. Prints the trace and the RPC checkers' verdict; `violations 0` would mean it is closed.
//
//   npx tsx test/sim/repro/two-primaries.ts [seed] [crashMs] [splitMs] [restartMs] [healMs]

import { watchMajority } from '../majority.js';
import { printVerdict, scriptedRpc, twoPrimariesSchedule } from './scripted.js';

const [seed = 1, tCrash = 1200, tSplit = 1700, tRestart = 2800, tHeal = 5500] = process.argv
  .slice(2)
  .map(Number);
const sim = scriptedRpc(seed);
const w = sim.world;
twoPrimariesSchedule(w, { crash: tCrash, split: tSplit, restart: tRestart, heal: tHeal });

const losses = watchMajority(w, 8000);
await printVerdict(sim, losses);
