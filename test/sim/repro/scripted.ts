/**
 * What the scripted RPC schedules share (two-primaries.ts, amnesia.ts, confirmed-voter.ts): a
 * five-replica RPC simulation with same-object rejoins over IP multicast, traced, and the
 * verdict line each prints (`violations 0` means the finding is closed).
 */
import { RPC_CHECKERS } from '../rpc-checkers.js';
import { rpcConfig } from '../rpc-scenario.js';
import { DEFAULT_RPC_OPTIONS, RpcSim } from '../rpc-world.js';
import type { ScenarioConfig, World } from '../world.js';
import { cutClients } from './client-cut.js';

/**
 * An RPC simulation of `seed` for a script to schedule faults on. The script starts
 * `watchMajority` after its schedule, as each did before this was shared (same-time events run
 * in the order they were scheduled).
 */
export function scriptedRpc(seed: number, more: Partial<ScenarioConfig> = {}): RpcSim {
  const cfg = {
    ...rpcConfig(seed, 5, []),
    rejoin: 'same' as const,
    delivery: 'multicast' as const,
    trace: true,
    loadMs: 6000,
    ...more,
  };
  return new RpcSim(cfg, { ...DEFAULT_RPC_OPTIONS, callsPerLane: 20 });
}

/** Runs `sim`, prints its trace (client packets left out) and the checkers' verdict. */
export async function printVerdict(sim: RpcSim, losses: readonly unknown[]): Promise<void> {
  await sim.run();
  for (const line of sim.world.trace) if (!/client packet/.test(line)) console.log(line);
  const violations = RPC_CHECKERS.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
  console.log('majority losses', losses.length, 'violations', violations.length);
  for (const v of violations.slice(0, 20)) console.log(v);
}

/** When two-primaries.ts's schedule strikes (ms of virtual time). */
export interface TwoPrimariesTimes {
  crash: number;
  split: number;
  restart: number;
  heal: number;
}

/**
 * FINDINGS 39's schedule: n3 and n4 crash (the view shrinks to 3 of the 5 seeds), the network
 * splits {n0, n1} | {n2, n3, n4}, n3 and n4 restart, the split heals; client c1 sits on the side
 * of n2..n4 meanwhile (the simulator's partitions cut members only).
 */
export function twoPrimariesSchedule(w: World, t: TwoPrimariesTimes): void {
  w.at(t.crash, () => {
    w.crash(w.nodes[3]!);
    w.crash(w.nodes[4]!);
  });
  w.at(t.split, () => w.partition([0, 0, 1, 1, 1]));
  w.at(t.restart, () => {
    w.restart(3);
    w.restart(4);
  });
  w.at(t.heal, () => w.heal());
  cutClients(w, (a, b) => w.now >= t.split && w.now < t.heal && a === 'c1' && (b === 'n0' || b === 'n1'));
}
