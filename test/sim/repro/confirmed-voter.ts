// FINDINGS 59, scripted (found by review, not by a random seed): a voter that confirmed a
// founder is counted in the founding view, but the Install never reaches it and it is cut off.
// The others go on as the primary of that view; the voter gives up on the founding (or crashes
// and restarts) and, remembering nothing of a view it never installed, founds a second group
// with two restarted seeds. Prints the RPC checkers' verdict; 0 means closed.
//
//   npx tsx test/sim/repro/confirmed-voter.ts [same|crash] [seed]

import { watchMajority } from '../majority.js';
import { cutClients } from './client-cut.js';
import { printVerdict, scriptedRpc } from './scripted.js';

export function confirmedVoterRun(mode: 'same' | 'crash', seed = 1) {
  const sim = scriptedRpc(seed, { persist: true });
  const w = sim.world;
  // n3 and n4 are down from the start: the founding needs all of n0, n1, n2.
  w.at(1, () => {
    w.crash(w.nodes[3]!);
    w.crash(w.nodes[4]!);
  });
  // The first founding: its voter with the highest index is cut off from the other two (one
  // way, towards it) as the founder installs, so it confirmed but hears no Install. (Cut on the
  // founder's install, not a fixed time after its Found: a voter answers a Found only after
  // learning where the founder's stream to it begins, one round trip later than before.)
  let struck = false;
  let voters: number[] | undefined;
  const log = w.log.bind(w);
  w.log = (line: string) => {
    log(line);
    const proposed = /^n(\d) gms: propose founding to /.exec(line);
    if (proposed && !voters) voters = [Number(proposed[1])];
    const m = /^n(\d) gms: found the group with /.exec(line);
    if (!m || struck || !voters || Number(m[1]) !== voters[0]) return;
    struck = true;
    const founder = Number(m[1]);
    const others = [0, 1, 2].filter((i) => i !== founder);
    const cut = Math.max(...others);
    const other = others.find((i) => i !== cut)!;
    w.cutLink(founder, cut);
    w.cutLink(other, cut);
    w.log(`CONFIRMED-VOTER cut n${founder}->n${cut} and n${other}->n${cut}`);
    if (mode === 'crash') {
      w.at(w.now + 400, () => w.crash(w.nodes[cut]!));
      w.at(w.now + 500, () => w.restart(cut));
    }
    w.at(w.now + 1500, () => {
      w.restart(3);
      w.restart(4);
    });
    // Cut off from the primary until late: the restarted n3, n4 reach only it.
    w.at(w.now + 1500, () => w.partition([0, 0, 0, 1, 1].map((s, i) => (i === cut ? 1 : s))));
    const [from, to] = [w.now + 1500, w.now + 5000];
    w.at(to, () => w.heal());
    // Client c1 sits on the voter's side meanwhile, so the second group, if any, answers it.
    cutClients(
      w,
      (a, b) => w.now >= from && w.now < to && a === 'c1' && (b === `n${founder}` || b === `n${other}`),
    );
  };
  const losses = watchMajority(w, 8000);
  return { sim, losses, struck: () => struck };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode = process.argv[2] === 'crash' ? 'crash' : 'same';
  const { sim, losses } = confirmedVoterRun(mode, Number(process.argv[3] ?? 1));
  await printVerdict(sim, losses);
}
