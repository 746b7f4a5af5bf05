// Sweep finding (test/sim/FINDINGS.md item 151): a group that dissolved and re-founded itself with
// every member running and no link cut (its coordinator's link lossy both ways, 65 %), so the
// majority oracle (test/sim/majority.ts) rightly counted no loss, and every reply of the first
// lineage whose outcome the client had settled (dropped from the founders' outcome table) was
// reported as a true-replies / true-outcomes violation, "agreed: nothing". The re-founding took n0's
// state: it continues n0's history, so the model's agreed history now includes that history
// (rpc-checkers.ts `model`, `continued`), and those claims are judged against its results.
import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { Replica, type ReplicaOptions } from '../../runtime/rpc/replica.js';
import { model } from './rpc-checkers.js';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import type { Register } from './rpc-service.js';
import { membersOf, parseFaults } from './run.js';

const SEED = 99950091;
const cfg = {
  ...rpcConfig(
    SEED,
    membersOf('3..5', SEED),
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

/** A replica whose numeric replies are one off until it is first cut off (the first lineage's). */
function lyingBeforeCut(instance: Register, options: ReplicaOptions): Replica<Register> {
  const r = new Replica(instance, options);
  type Packet = { kind: string; result?: { ok: boolean; value?: Uint8Array } };
  const inner = r as unknown as { link: { send(to: string, p: Packet): void }; onPartitioned(): void };
  const send = inner.link.send.bind(inner.link);
  const cut = inner.onPartitioned.bind(r);
  let after = false;
  inner.onPartitioned = () => {
    after = true;
    cut();
  };
  inner.link.send = (to, p) => {
    const v =
      !after && p.kind === 'reply' && p.result?.ok && p.result.value
        ? decodeValue(p.result.value)
        : undefined;
    send(to, typeof v === 'number' ? { ...p, result: { ok: true, value: encodeValue(v + 1) } } : p);
  };
  return r;
}

describe('a re-founding after a lossy coordinator, no link cut', () => {
  it('judges the first lineage’s claims by the history the re-founding continued (RPC seed 99950091)', async () => {
    const r = await runRpcScenario(cfg, opts);
    expect(r.losses).toEqual([]);
    expect(r.violations).toEqual([]);
    const m = model(r.sim);
    // Re-founded at a view 1, continuing the first lineage's views 1, 2 and 3 (n0's history).
    expect(m.refounded).toMatch(/^1\./);
    expect(m.chain.map((k) => Number(k.split('.')[0]))).toEqual([1, 2, 3, 1]);
    // c0:1 was settled (below c0's floor 9 at the re-founding): the founders' table dropped it.
    expect(m.outcomes.get('c0:1')).toEqual({ status: 'committed', ok: true, value: 420 });
  }, 60_000);

  it('still catches a first-lineage reply that the continued history contradicts', async () => {
    const r = await runRpcScenario(cfg, { ...opts, makeReplica: lyingBeforeCut });
    // Judged against the value the history gave, not "nothing".
    // (Before the fix: "agreed: nothing", the founders' table had dropped c0:1.)
    expect(r.violations).toContain('true-replies: c0:1 got value 421 (reply), agreed: value 420');
  }, 60_000);
});
