/**
 * The scenarios of the seed-pinned re-founding tests, shared by the tests and by the finder
 * (test/sim/repin.ts) that sweeps seeds for a new pin when a protocol change shifts the
 * simulated schedules: both run exactly these configs.
 */
import { decodeValue, SNAPSHOT_LIMITS } from '../../runtime/rpc/codec.js';
import { rpcConfig, type runRpcScenario } from './rpc-scenario.js';
import { membersOf, parseFaults } from './run.js';
import { ALL_FAULTS, type Fault } from './world.js';

/** Every base fault plus partitions that split the group and one-way link cuts. */
export const WITH_CUTS: Fault[] = [...ALL_FAULTS, 'splits', 'links'];

/**
 * faults.test.ts, "re-founded while an async request still ran and others waited": three
 * members, every fault with cuts, async calls and replies in 10 lanes.
 */
export function backlogCase(seed: number) {
  const cfg = {
    ...rpcConfig(seed, 3, WITH_CUTS),
    delivery: 'multicast' as const,
    rejoin: 'same' as const,
  };
  const opts = {
    callsPerLane: 16,
    lanes: 10,
    callTimeoutMs: 1500,
    asyncShare: 0.25,
    replyShare: 0.3,
    autoReissue: 'mixed' as const,
  };
  return { cfg, opts };
}

/** refound-lossy.test.ts: 3..5 members, a lossy coordinator link, 5 ms latency. */
export function lossyCase(seed: number) {
  const cfg = {
    ...rpcConfig(
      seed,
      membersOf('3..5', seed),
      parseFaults('loss,dup,reorder,delay,crash,pause,partition,replay,lossy,straggle'),
    ),
    delivery: 'multicast' as const,
    rejoin: 'same' as const,
    latencyMs: 5,
  };
  const opts = {
    callsPerLane: 12,
    lanes: 4,
    callTimeoutMs: 120,
    asyncShare: 0.25,
    autoReissue: 'mixed' as const,
  };
  return { cfg, opts };
}

/** How many delivered messages the start state of the re-founded root view still had to apply. */
export function queuedAtRefounding(
  r: Awaited<ReturnType<typeof runRpcScenario>>,
  key: string | undefined,
): number {
  const root = r.sim.incarnations
    .map((i) => i.log.find((l) => l.t === 'view'))
    .find((v) => v?.t === 'view' && v.key === key && v.start);
  if (root?.t !== 'view' || !root.start) throw new Error('no founder recorded its start');
  const backlog = (decodeValue(root.start, SNAPSHOT_LIMITS) as unknown[][])[8]!;
  return backlog.filter((b) => (b as unknown[])[0] === 'm').length;
}
