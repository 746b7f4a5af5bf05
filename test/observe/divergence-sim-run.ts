/**
 * One run of the divergence scenario in the deterministic RPC simulator, shared by
 * `divergence-sim.test.ts` (pinned seeds) and `divergence-sweep.ts` (a sweep over many):
 * real replicas and clients over the group stack, 3 replicas, loss, duplication, reordering and
 * delay (no crash unless asked: the buggy replica must live to be caught). One replica's `add`
 * is nondeterministic (from its 6th run on it adds one more than the others); every replica has
 * an observer that checks every {@link CHECK_EVERY} requests.
 */
import type { StateSource } from '../../runtime/group/types.js';
import type { ObserveSink } from '../../runtime/observe/events.js';
import { Observer } from '../../runtime/observe/observer.js';
import { currentCall } from '../../runtime/rpc/context.js';
import { Replica, type ReplicaOptions } from '../../runtime/rpc/replica.js';
import { rpcConfig, runRpcScenario } from '../sim/rpc-scenario.js';
import type { Register } from '../sim/rpc-service.js';
import { DEFAULT_RPC_OPTIONS } from '../sim/rpc-world.js';
import type { Fault } from '../sim/world.js';

export const CHECK_EVERY = 10;
/** The calls the sim's clients keep in flight, which the coordinator may apply between deciding
 * to check and its checkpoint reaching the order. */
export const IN_FLIGHT = DEFAULT_RPC_OPTIONS.clients * DEFAULT_RPC_OPTIONS.lanes;

export interface Made {
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
  /**
   * This replica's state holds a divergent `add`: its own (the buggy one, once it ran one), or
   * its provider's when it restored a snapshot taken after the provider ran one.
   */
  tainted: boolean;
  /** Where this replica's state came from, if it was restored from a member's snapshot. */
  source?: StateSource;
}

export const memberOf = (m: Made): string => m.observer.status().member!;

export async function runDivergence(seed: number, faults: Fault[] = ['loss', 'dup', 'reorder', 'delay']) {
  const made: Made[] = [];
  let firstBad: string | undefined;
  /** Member id → whether the state of its last snapshot was tainted. */
  const snapshotTaint = new Map<string, boolean>();
  const makeReplica = (instance: Register, options: ReplicaOptions): Replica<Register> => {
    const m: Made = {
      // Simulated time: checks spaced by the host's digest time would depend on the host.
      observer: new Observer({ divergence: { checkEvery: CHECK_EVERY, digestShare: false } }),
      order: [],
      delivered: [],
      checkpoints: new Map(),
      buggy: made.length === 1,
      tainted: false,
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
          m.tainted = true;
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
    const replica = new Replica(instance, { ...options, observe });
    const snapshot = replica.snapshot.bind(replica);
    replica.snapshot = () => {
      const member = m.observer.status().member;
      if (member !== undefined) snapshotTaint.set(member, m.tainted);
      return snapshot();
    };
    const restore = replica.restore.bind(replica);
    replica.restore = (state, source) => {
      m.source = source;
      m.tainted = source !== undefined && snapshotTaint.get(source.provider) === true;
      restore(state, source);
    };
    return replica;
  };
  const r = await runRpcScenario(rpcConfig(seed, 3, faults), { makeReplica }, []);
  for (const m of made) m.observer.close();
  return { made, firstBad, sim: r.sim };
}
