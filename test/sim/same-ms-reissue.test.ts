// Sweep finding (test/sim/FINDINGS.md item 165, a checker bug): true-outcomes took a reissue cast
// in the same millisecond as the settled not-found it followed for a copy cast before that answer.
// The model knew the copy only from a restored history, so it had the request's own stamp (its
// contact's clock floored to the ms: 861) and not the simulator's cast time, and 861 < 861.5 (the
// answer). A floored stamp is now before the answer only if its whole millisecond is.
import { describe, expect, it } from 'vitest';
import { parseFaults, runSeed } from './run.js';

describe('true-outcomes and a reissue in the answer’s own millisecond', () => {
  it('does not take the reissue for a copy cast before the settled not-found (RPC seed 105600093)', async () => {
    const r = await runSeed(
      {
        rpc: true,
        members: '3..5',
        faults: parseFaults('loss,dup,reorder,delay,crash,pause,partition,churn,zombie'),
        messages: 40,
        stack: 'fc:seq:gms:frag:stable:nak:pack:com',
        calls: 8,
        lanes: 16,
        timeout: 250,
        delivery: 'multicast',
        rejoin: 'damped',
        async: true,
        replies: true,
        autoReissue: false,
        locks: true,
        timings: 'sim',
        persist: true,
        trace: false,
      },
      105600093,
    );
    expect(r.violations).toEqual([]);
  }, 60_000);
});
