// Variants of two-primaries.ts (FINDINGS 48, 49), from a review of the founding rule for members
// that remember their last view. NAME: dead5 (the view's other two members die for good: no
// re-founding, the documented cost), dead7 (the others found anyway: the survivor co-founds and
// its state is kept), joinP (a member of the remembered view heard Joining, then admitted to the
// primary: no second group), bounce. Prints the trace's landmarks and the RPC checkers' verdict.
//
//   npx tsx test/sim/repro/founding-variants.ts NAME [seed] [-v]

import { watchMajority } from '../majority.js';
import { RPC_CHECKERS } from '../rpc-checkers.js';
import { rpcConfig } from '../rpc-scenario.js';
import { DEFAULT_RPC_OPTIONS, RpcSim } from '../rpc-world.js';
import { cutClients } from './client-cut.js';

const name = process.argv[2] ?? 'dead5';
const seed = Number(process.argv[3] ?? 1);
const verbose = process.argv.includes('-v');
const sizes: Record<string, number> = { dead5: 5, dead7: 7, joinP: 7, bounce: 5 };
const N = sizes[name] ?? 5;
const cfg = {
  ...rpcConfig(seed, N, []),
  rejoin: 'same' as const,
  delivery: 'multicast' as const,
  trace: true,
  loadMs: 9000,
};
const sim = new RpcSim(cfg, { ...DEFAULT_RPC_OPTIONS, callsPerLane: 30 });
const w = sim.world;
const crash = (...is: number[]) => {
  for (const i of is) w.crash(w.nodes[i]!);
};
let healAt = 1e9;

if (name === 'dead5') {
  // 5 seeds; the view shrinks to {n0,n1,n2}; n0 and n1 die for good; n2 stops; n3, n4 come back.
  w.at(800, () => crash(4));
  w.at(1600, () => crash(3));
  w.at(3000, () => crash(0, 1));
  w.at(4500, () => {
    w.restart(3);
    w.restart(4);
  });
} else if (name === 'dead7') {
  // 7 seeds; the view shrinks to {n0,n1,n2}; n0, n1 die for good; n3..n6 come back (4 of 7 seeds).
  w.at(800, () => crash(6));
  w.at(1400, () => crash(5));
  w.at(2000, () => crash(4));
  w.at(2600, () => crash(3));
  w.at(4000, () => crash(0, 1));
  w.at(5500, () => {
    for (const i of [3, 4, 5, 6]) w.restart(i);
  });
} else if (name === 'joinP') {
  // 7 seeds. The view shrinks to {n0,n1,n2} (n3..n6 crash). Split {n0,n1,n5} | {n2,n3,n4,n6};
  // n3..n6 restart; n5 joins the primary {n0,n1}. Then n1 crashes and restarts: the primary
  // {n0,n5} admits it again and holds {n0,n1} of n2's last view, but n2 heard n1 Joining
  // (one-way link n1 -> n2 open).
  const tSplit = Number(process.env.T_SPLIT ?? 3400);
  w.at(800, () => crash(6));
  w.at(1400, () => crash(5));
  w.at(2000, () => crash(4));
  w.at(2600, () => crash(3));
  const sides = [0, 0, 1, 1, 1, 0, 1];
  w.at(tSplit, () => {
    for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) if (sides[a] !== sides[b]) w.cutLink(a, b);
  });
  w.at(tSplit + 200, () => {
    for (const i of [3, 4, 5, 6]) w.restart(i);
  });
  w.at(tSplit + 2500, () => crash(1));
  w.at(tSplit + 2700, () => {
    w.restart(1);
    w.cutLink(1, 2, false, true);
  });
  if (process.env.NOLINK) w.at(tSplit + 2701, () => w.cutLink(1, 2));
  healAt = tSplit + 6000;
  w.at(healAt, () => w.heal());
}
// Client c1 sits on n2's side while the split lasts (as in two-primaries.ts).
if (name === 'joinP') {
  const tSplit = Number(process.env.T_SPLIT ?? 3400);
  const cut = (a: string, b: string): boolean =>
    w.now >= tSplit && w.now < healAt && a === 'c1' && ['n0', 'n1', 'n5'].includes(b);
  cutClients(w, cut);
}
const losses = watchMajority(w, 12000);
await sim.run();
for (const line of w.trace)
  if (
    verbose
      ? !/client packet/.test(line)
      : / VIEW |PARTITIONED|CRASH|rejoin|HEAL|PARTITION|LINKS|MAJORITY|found|step aside/.test(line)
  )
    console.log(line);
const violations = RPC_CHECKERS.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
console.log(name, 'majority losses', losses.length, 'violations', violations.length);
for (const v of violations.filter((v) => !v.startsWith('true-replies')).slice(0, 12)) console.log(v);
for (const i of sim.incarnations)
  console.log(
    'register',
    i.rec.member,
    'views',
    i.rec.views.map((v) => v.id + '.' + v.epoch).join(' '),
    'value',
    i.register.value,
    'ops',
    i.register.ops,
  );
