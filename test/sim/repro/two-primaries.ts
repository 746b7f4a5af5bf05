// FINDINGS item 39, scripted (no random seed has reached it): a group shrunk to 3 of its 5 seeds
// splits 2 | 1; the 2 go on as a legitimate primary while the 1 and two restarted seeds found a
// second group; at the heal the later view id wins and the calls the other group answered are
// gone. Prints the trace and the RPC checkers' verdict; `violations 0` would mean it is closed.
//
//   npx tsx test/sim/repro/two-primaries.ts [seed] [crashMs] [splitMs] [restartMs] [healMs]

import { watchMajority } from '../majority.js';
import { RPC_CHECKERS } from '../rpc-checkers.js';
import { rpcConfig } from '../rpc-scenario.js';
import { DEFAULT_RPC_OPTIONS, RpcSim } from '../rpc-world.js';
import { cutClients } from './client-cut.js';

const [seed = 1, tCrash = 1200, tSplit = 1700, tRestart = 2800, tHeal = 5500] = process.argv
  .slice(2)
  .map(Number);
const cfg = {
  ...rpcConfig(seed, 5, []),
  rejoin: 'same' as const,
  delivery: 'multicast' as const,
  trace: true,
  loadMs: 6000,
};
const sim = new RpcSim(cfg, { ...DEFAULT_RPC_OPTIONS, callsPerLane: 20 });
const w = sim.world;
w.at(tCrash, () => {
  w.crash(w.nodes[3]!);
  w.crash(w.nodes[4]!);
});
w.at(tSplit, () => w.partition([0, 0, 1, 1, 1]));
w.at(tRestart, () => {
  w.restart(3);
  w.restart(4);
});
w.at(tHeal, () => w.heal());

// Client c1 sits on the side of n2..n4 while the split lasts (the simulator's partitions cut
// members only; clients are in the network too).
const cut = (a: string, b: string): boolean =>
  w.now >= tSplit && w.now < tHeal && a === 'c1' && (b === 'n0' || b === 'n1');
cutClients(w, cut);

const losses = watchMajority(w, 8000);
await sim.run();
for (const line of w.trace) if (!/client packet/.test(line)) console.log(line);
const violations = RPC_CHECKERS.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
console.log('majority losses', losses.length, 'violations', violations.length);
for (const v of violations.slice(0, 20)) console.log(v);
