// The limitation the membership file closes (docs/protocol.md, "Membership memory"): the
// two-primaries schedule of two-primaries.ts, except that n2, cut off alone, crashes and
// restarts instead of rejoining in its process. Without memory the restarted n2 remembers
// nothing and founds a second group with the restarted n3 and n4 beside the primary {n0, n1};
// with `persist` (each process reads the view its predecessor saved) it does not.
//
//   npx tsx test/sim/repro/amnesia.ts [persist|amnesia] [seed]

import { watchMajority } from '../majority.js';
import { RPC_CHECKERS } from '../rpc-checkers.js';
import { rpcConfig } from '../rpc-scenario.js';
import { DEFAULT_RPC_OPTIONS, RpcSim } from '../rpc-world.js';
import { cutClients } from './client-cut.js';

export function amnesiaRun(persist: boolean, seed = 1) {
  const [tCrash, tSplit, tAmnesia, tRestart, tHeal] = [1200, 1700, 2000, 2800, 5500];
  const cfg = {
    ...rpcConfig(seed, 5, []),
    rejoin: 'same' as const,
    delivery: 'multicast' as const,
    trace: true,
    loadMs: 6000,
    persist,
  };
  const sim = new RpcSim(cfg, { ...DEFAULT_RPC_OPTIONS, callsPerLane: 20 });
  const w = sim.world;
  w.at(tCrash, () => {
    w.crash(w.nodes[3]!);
    w.crash(w.nodes[4]!);
  });
  w.at(tSplit, () => w.partition([0, 0, 1, 1, 1]));
  w.at(tAmnesia, () => w.crash(w.nodes[2]!));
  w.at(tAmnesia + 100, () => w.restart(2));
  w.at(tRestart, () => {
    w.restart(3);
    w.restart(4);
  });
  w.at(tHeal, () => w.heal());
  const cut = (a: string, b: string): boolean =>
    w.now >= tSplit && w.now < tHeal && a === 'c1' && (b === 'n0' || b === 'n1');
  cutClients(w, cut);
  const losses = watchMajority(w, 8000);
  return { sim, losses };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const persist = process.argv[2] !== 'amnesia';
  const { sim, losses } = amnesiaRun(persist, Number(process.argv[3] ?? 1));
  await sim.run();
  for (const line of sim.world.trace) if (!/client packet/.test(line)) console.log(line);
  const violations = RPC_CHECKERS.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
  console.log('majority losses', losses.length, 'violations', violations.length);
  for (const v of violations.slice(0, 20)) console.log(v);
}
