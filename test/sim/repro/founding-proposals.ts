// FINDINGS 64, scripted (found by session 18's review helper, not by a random seed): three ways
// a voter's memory differed from the founding view it was counted in, each letting a second
// group be founded beside the first while its majority ran on. Every run keeps members' views
// on disk (`persist`). 45–60 true-replies violations each before the fix, no majority lost.
//
//   wide:    F proposes to 6 voters; two Confirms are lost; F installs the rest and the network
//            splits {F, A, B} | {V, X, Y, n6} as it does: V, which missed the Install, remembered
//            the wider proposal. (`wide-crash`: V also crashes and restarts with its file.)
//   again:   F's first proposal expires (X's Confirm held back); A comes up and F proposes again;
//            voters remembered the first proposal, and X's late Confirm counted for the second.
//   twice:   V's Confirms reach F 1.45 s late; V gives up and its next incarnation votes for F:
//            the dead incarnation's late Confirm and its successor's both counted.
//
// Prints the RPC checkers' verdict; 0 means closed.
//
//   npx tsx test/sim/repro/founding-proposals.ts wide|wide-crash|again|twice [seed]

import { pathToFileURL } from 'node:url';
import { type MajorityLoss, watchMajority } from '../majority.js';
import { RPC_CHECKERS } from '../rpc-checkers.js';
import { rpcConfig } from '../rpc-scenario.js';
import { DEFAULT_RPC_OPTIONS, RpcSim } from '../rpc-world.js';
import type { World } from '../world.js';
import { cutClients } from './client-cut.js';

export type Schedule = 'wide' | 'wide-crash' | 'again' | 'twice';

/** Calls `on` with each trace line, after it is logged. */
function onLog(w: World, on: (line: string) => void): void {
  const log = w.log.bind(w);
  w.log = (line: string) => {
    log(line);
    on(line);
  };
}

const PROPOSE = /^n(\d) gms: propose founding to (.*)$/;
const FOUND = /^n(\d) gms: found the group with/;

/**
 * Runs one schedule: the checkers' violations, the majority losses, and whether the founding
 * and the split it arms happened (else the schedule did not reach its case).
 */
export async function foundingRun(
  name: Schedule,
  seed = 1,
): Promise<{ violations: string[]; losses: MajorityLoss[]; split: boolean }> {
  const N = name === 'twice' ? 5 : 7;
  const sim = new RpcSim(
    {
      ...rpcConfig(seed, N, []),
      rejoin: 'same',
      delivery: 'multicast',
      trace: true,
      loadMs: 9000,
      persist: true,
    },
    { ...DEFAULT_RPC_OPTIONS, callsPerLane: 30 },
  );
  const w = sim.world;
  let F = -1;
  let primary: number[] = [];
  let splitAt = Number.POSITIVE_INFINITY;
  let healAt = Number.POSITIVE_INFINITY;
  /** At F's founding: the side that keeps the primary, and what else happens then. */
  const split = (keep: number[], heal: number, then: () => void) => {
    splitAt = w.now;
    healAt = w.now + heal;
    primary = keep;
    // Synchronous: the Install F sends after this trace line is blocked across the split.
    w.partition(Array.from({ length: N }, (_, i) => (keep.includes(i) ? 0 : 1)));
    then();
    w.at(healAt, () => w.heal());
  };
  if (name === 'wide' || name === 'wide-crash') {
    let roles: number[] = []; // V, A, B, X, Y
    w.at(1, () => w.crash(w.nodes[6]!));
    onLog(w, (line) => {
      const p = PROPOSE.exec(line);
      if (p && F < 0) {
        F = Number(p[1]);
        roles = [0, 1, 2, 3, 4, 5].filter((i) => i !== F);
        w.at(w.now + 0.1, () => {
          w.cutLink(roles[3]!, F);
          w.cutLink(roles[4]!, F);
        });
      } else if (FOUND.exec(line)?.[1] === String(F) && splitAt === Number.POSITIVE_INFINITY)
        split([F, roles[1]!, roles[2]!], 7000, () => {
          if (name === 'wide-crash') {
            w.at(w.now + 500, () => w.crash(w.nodes[roles[0]!]!));
            w.at(w.now + 600, () => w.restart(roles[0]!));
          }
          w.at(w.now + 2500, () => w.restart(6));
        });
    });
  } else if (name === 'again') {
    let roles: number[] = []; // V, X, Y
    w.at(1, () => {
      for (const i of [4, 5, 6]) w.crash(w.nodes[i]!);
    });
    onLog(w, (line) => {
      const p = PROPOSE.exec(line);
      if (p && F < 0) {
        F = Number(p[1]);
        roles = [0, 1, 2, 3].filter((i) => i !== F);
        w.at(w.now + 0.1, () => w.cutLink(roles[1]!, F));
        w.at(w.now + 50, () => w.restart(4));
      } else if (F >= 0 && line.startsWith(`n${F} gms: founding proposal expired`))
        w.cutLink(roles[1]!, F, false, true);
      else if (FOUND.exec(line)?.[1] === String(F) && splitAt === Number.POSITIVE_INFINITY)
        split([F, roles[1]!, 4], 7000, () =>
          w.at(w.now + 1500, () => {
            w.restart(5);
            w.restart(6);
          }),
        );
    });
  } else {
    let V = -1;
    let first = '';
    w.at(1, () => {
      for (const i of [3, 4]) w.crash(w.nodes[i]!);
    });
    // V's first incarnation's packets to F arrive 1.45 s late.
    type Wire = { transmit(src: { index: number }, to: string | null, bytes: Uint8Array): void };
    const wire = w as unknown as Wire;
    const transmit = wire.transmit.bind(w);
    wire.transmit = (src, to, bytes) => {
      if (F >= 0 && src.index === V && to === `n${F}` && w.nodes[V]!.core?.self === first)
        w.at(w.now + 1450, () => transmit(src, to, bytes));
      else transmit(src, to, bytes);
    };
    onLog(w, (line) => {
      const p = PROPOSE.exec(line);
      if (p && F < 0) {
        F = Number(p[1]);
        const [v, other] = [0, 1, 2].filter((i) => i !== F) as [number, number];
        V = v;
        first = w.nodes[V]!.core!.self;
        w.cutLink(F, other);
      } else if (FOUND.exec(line)?.[1] === String(F) && splitAt === Number.POSITIVE_INFINITY)
        split([F, V], 6000, () =>
          w.at(w.now + 100, () => {
            w.restart(3);
            w.restart(4);
          }),
        );
    });
  }
  // Client c1 talks only to the other side while the network is split.
  cutClients(
    w,
    (a, b) => w.now >= splitAt && w.now < healAt && a === 'c1' && primary.map((i) => `n${i}`).includes(b),
  );
  const losses = watchMajority(w, name === 'twice' ? 12_000 : 14_000);
  await sim.run();
  const violations = RPC_CHECKERS.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
  return { violations, losses, split: splitAt !== Number.POSITIVE_INFINITY };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = process.argv[2] as Schedule;
  const name: Schedule = ['wide', 'wide-crash', 'again', 'twice'].includes(arg) ? arg : 'wide';
  const { violations, losses, split } = await foundingRun(name, Number(process.argv[3] ?? 1));
  console.log(`${name}: split ${split}, majority losses ${losses.length}, violations ${violations.length}`);
  for (const v of violations.slice(0, 10)) console.log(v);
}
