// FINDINGS 257: a backlog of serial `audit` runs that drains after the run's 5 s drain is not a
// wedge. RPC seed 431100010 (`--clients 12 --lanes 6 --calls 30 --locks`, ciso and flushnap)
// ended with two audits still queued behind 210 ms runs, and an acquire() behind them: calls-end
// and locks-settle. The run now goes on while calls still end (rpc-world.ts `PROGRESS_MS`).
import { describe, expect, it } from 'vitest';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import { membersOf, parseFaults } from './run.js';

describe('a handler backlog that drains', () => {
  it('is waited for, past the drain, while calls still end', async () => {
    // 431100010 drains within 5 s since FINDINGS 258's extra Here moved the schedules; 431100050
    // has audits 5.4 s past the end, and locks-settle violations without the wait.
    const seed = 431100050;
    const faults = parseFaults('loss,dup,reorder,delay,crash,pause,partition,ciso,flushnap');
    const cfg = {
      ...rpcConfig(seed, membersOf('3..5', seed), faults),
      delivery: 'fanout' as const,
      rejoin: 'same' as const,
    };
    const r = await runRpcScenario(cfg, {
      callsPerLane: 30,
      lanes: 6,
      clients: 12,
      asyncShare: 0.25,
      replyShare: 0.3,
      autoReissue: 'mixed',
      lockMoves: true,
    });
    expect(r.violations).toEqual([]);
    // The backlog is real: audit runs went on more than 5 s past the end (endMs 20 s).
    const last = Math.max(...r.sim.handlerSpans.filter((s) => s.kind === 'run').map((s) => s.end));
    expect(last).toBeGreaterThan(cfg.endMs + 5_000);
  }, 60_000);
});
