// Sweep finding (see the commit message): a group that dissolved and re-founded itself with every
// member running and no link cut (its coordinator's link lossy both ways, 65 %), so the majority
// oracle (test/sim/majority.ts) counted no loss, and every reply of the first lineage whose
// outcome the client had settled (dropped from the founders' outcome table) was reported as a
// true-replies / true-outcomes violation, "agreed: nothing". The survivors' state is the model's
// (sequential-state passes): nothing the clients were told was lost.
import { describe, expect, it } from 'vitest';
import { parseFaults, runSeed, SIM_DEFAULTS } from './run.js';

describe('a re-founding after a lossy coordinator, no link cut', () => {
  it('reports no claim of the first lineage as a violation (RPC seed 99950091)', async () => {
    const opts = {
      ...SIM_DEFAULTS,
      rpc: true,
      members: '3..5',
      faults: parseFaults('loss,dup,reorder,delay,crash,pause,partition,replay,lossy,straggle'),
      calls: 12,
      lanes: 4,
      timeout: 120,
      delivery: 'multicast' as const,
      rejoin: 'same' as const,
      async: true,
      autoReissue: true,
      latency: 5,
    };
    const r = await runSeed(opts, 99950091);
    expect(r.violations).toEqual([]);
  }, 60_000);
});
