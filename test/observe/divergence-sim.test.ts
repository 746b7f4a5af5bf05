/**
 * Divergence detection in the deterministic RPC simulator (test/sim/rpc-*.ts): real replicas and
 * clients over the group stack, with loss, duplication, reordering and delay. One replica's `add`
 * is nondeterministic (from its 6th run on it adds one more than the others); every replica has an
 * observer that checks every CHECK_EVERY requests. Stated bound: the divergence is reported at
 * every replica by a checkpoint at most CHECK_EVERY + IN_FLIGHT requests after the first
 * divergent one (IN_FLIGHT: the calls the sim's clients keep in flight, which the coordinator may
 * apply between deciding to check and its checkpoint reaching the order).
 */
import { describe, expect, it } from 'vitest';
import type { ObserveSink } from '../../runtime/observe/events.js';
import { Observer } from '../../runtime/observe/observer.js';
import { currentCall } from '../../runtime/rpc/context.js';
import { Replica, type ReplicaOptions } from '../../runtime/rpc/replica.js';
import { rpcConfig, runRpcScenario } from '../sim/rpc-scenario.js';
import type { Register } from '../sim/rpc-service.js';
import { DEFAULT_RPC_OPTIONS } from '../sim/rpc-world.js';

const CHECK_EVERY = 10;
const IN_FLIGHT = DEFAULT_RPC_OPTIONS.clients * DEFAULT_RPC_OPTIONS.lanes;

interface Made {
  observer: Observer;
  /** Ordered requests this replica ran a method of (add, mul, take), in its apply order. */
  order: string[];
  /**
   * Every client request delivered here in the total order (its first copy), in that order:
   * `audit` handler calls too, which run at the lock holder only but have their place in the
   * order, and which a checkpoint's `lastRequests` may name (seed 3 since 06498ce).
   */
  delivered: string[];
  /** Checkpoint id → how many client requests of `delivered` came before it here. */
  checkpoints: Map<string, number>;
  buggy: boolean;
}

async function run(seed: number) {
  const made: Made[] = [];
  let firstBad: string | undefined;
  const makeReplica = (instance: Register, options: ReplicaOptions): Replica<Register> => {
    const m: Made = {
      // Simulated time: checks spaced by the host's digest time would depend on the host.
      observer: new Observer({ divergence: { checkEvery: CHECK_EVERY, digestShare: false } }),
      order: [],
      delivered: [],
      checkpoints: new Map(),
      buggy: made.length === 1,
    };
    made.push(m);
    const self = instance as unknown as Record<string, (x: number) => number>;
    for (const name of ['add', 'mul', 'take']) {
      const original = self[name]!.bind(instance);
      self[name] = (x: number) => {
        const id = currentCall().requestId;
        m.order.push(id);
        if (m.buggy && name === 'add' && m.order.length > 5) {
          firstBad ??= id;
          return original(x + 1);
        }
        return original(x);
      };
    }
    // The observer, and the place in the order of every request and checkpoint delivered here.
    const observe: ObserveSink = {
      event(e) {
        if (e.type === 'request' && e.step === 'ordered') {
          if (e.id.startsWith('chk-')) m.checkpoints.set(e.id, m.delivered.length);
          else if (!e.id.startsWith('rpt-') && !m.delivered.includes(e.id)) m.delivered.push(e.id);
        }
        m.observer.event(e);
      },
      answer: (method, args) => m.observer.answer(method, args),
    };
    return new Replica(instance, { ...options, observe });
  };
  // No crashes: the buggy replica must live to be caught (a crash would replace it by a joiner
  // with the majority's state).
  const r = await runRpcScenario(
    rpcConfig(seed, 3, ['loss', 'dup', 'reorder', 'delay']),
    { makeReplica },
    [],
  );
  for (const m of made) m.observer.close();
  return { made, firstBad, sim: r.sim };
}

describe('divergence detection in the RPC simulator', () => {
  // Seeds 1, 3, 4: each replica is in the group from the first checkpoint on. Seed 2 was here
  // until session 39; since FINDINGS 215's join change its third replica joins late and takes
  // its state from the buggy one, and the verdict then names the healthy replica as the
  // minority (FINDINGS 216, open).
  for (const seed of [1, 3, 4]) {
    it(`seed ${seed}: a nondeterministic add is reported at every replica within ${CHECK_EVERY} + ${IN_FLIGHT} requests`, async () => {
      const { made, firstBad } = await run(seed);
      expect(firstBad).toBeDefined();
      const healthy = made.find((m) => !m.buggy && m.order.length > 0)!;
      const buggy = made.find((m) => m.buggy)!;
      for (const m of made) {
        expect(m.observer.divergences.length).toBeGreaterThanOrEqual(1);
        const first = m.observer.divergences[0]!;
        expect(Object.keys(first.digests)).toHaveLength(2);
        expect(first.minority).toHaveLength(1);
      }
      const first = healthy.observer.divergences[0]!;
      // The minority is the buggy replica, and every replica agrees on the first verdict.
      expect(new Set(made.map((m) => m.observer.divergences[0]!.checkpoint)).size).toBe(1);
      expect(first.minority).toEqual([buggy.observer.status().member]);
      // How many requests after the first divergent one the checkpoint came, in the healthy
      // order: of every client request delivered, handler calls too (`order` has only the runs
      // of add, mul and take, and the last request before a checkpoint may be an `audit`).
      const at = healthy.checkpoints.get(first.checkpoint);
      expect(at).toBeDefined();
      const bad = healthy.delivered.indexOf(firstBad!);
      expect(bad).toBeGreaterThanOrEqual(0);
      // The checkpoint's last request, as every replica reported it, came before it here.
      for (const last of Object.values(first.lastRequests)) {
        expect(last).toBeDefined();
        expect(healthy.delivered.indexOf(last!)).toBeGreaterThanOrEqual(0);
        expect(healthy.delivered.indexOf(last!)).toBeLessThan(at!);
      }
      // The index of the last request before the checkpoint, less the first divergent one's.
      const distance = at! - 1 - bad;
      expect(distance).toBeGreaterThanOrEqual(0);
      expect(distance).toBeLessThanOrEqual(CHECK_EVERY + IN_FLIGHT);
      console.log(`seed ${seed}: divergence reported ${distance} requests after the first divergent one`);
    }, 120_000);
  }
});
