// The `history-tag` rule (test/sim/rpc-scenario.ts historyTags) and the `cnap` fault
// (test/sim/rpc-scenario.ts planNaps): the rule holds on the real replicas and fails where a
// contact orders a copy its client first sent into another history; a napping client sleeps
// through a blackout's re-founding and nothing breaks.
import { describe, expect, it } from 'vitest';
import { ignoresCallHistory } from './mutant-replicas.js';
import { historyTags, rpcConfig, runRpcScenario } from './rpc-scenario.js';
import { parseFaults, runSeed, SIM_DAMP_MS, SIM_DEFAULTS } from './run.js';

const FAULTS = parseFaults('loss,dup,reorder,delay,crash,pause,partition,straggle,replay,blackout');
const OPTS = { asyncShare: 0.25, replyShare: 0.3, autoReissue: 'mixed' as const, lockMoves: true };
/** `--members 3..5` of the RPC runs: the member count the CLI gives `seed`. */
const rpcMembers = (seed: number) => 3 + (seed % 3);

describe('history-tag', () => {
  it('a copy first sent into a lost history is not ordered in the group that replaced it', async () => {
    // RPC seed 402000019 (the mix of FINDINGS 224's seed 402000095): c0's copies named the
    // blackout's lost history; a contact that reads no call's history orders them in the new one.
    const seed = 402000019;
    const cfg = {
      ...rpcConfig(seed, rpcMembers(seed), FAULTS),
      rejoin: 'same' as const,
      persist: true,
      rejoinDampMs: SIM_DAMP_MS,
    };
    const r = await runRpcScenario(cfg, OPTS);
    expect(r.violations).toEqual([]);
    expect(historyTags(r.sim)).toEqual([]);
    const m = await runRpcScenario(cfg, { ...OPTS, makeReplica: ignoresCallHistory() });
    const tags = historyTags(m.sim);
    expect(tags).toContainEqual(expect.stringMatching(/^history-tag: c0:3 first ordered in the agreed log/));
    expect(m.violations).toEqual(expect.arrayContaining(tags));
  });
});

describe('a lost history over a wide-area network (FINDINGS 228)', () => {
  it('every call ends: outcome() takes answers slower than four ticks', async () => {
    // `--latency 100`: a round trip of 200 ms against the 80 ms a query waited. c0:1 and c0:2 were
    // sent before the blackout; the new group's not-found to every query came after its query was
    // given up, so recoverLost's outcome() timed out, and so did every reissue: calls-end.
    const r = await runSeed(
      {
        ...SIM_DEFAULTS,
        rpc: true,
        members: '3..5',
        faults: parseFaults('loss,dup,reorder,delay,crash,pause,partition,blackout,skew'),
        async: true,
        autoReissue: true,
        persist: true,
        rejoin: 'damped',
        latency: 100,
      },
      410360000,
    );
    expect(r.violations).toEqual([]);
    expect(r.stats.unknown).toBeGreaterThan(0);
  });
});
