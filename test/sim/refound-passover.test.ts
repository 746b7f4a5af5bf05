// Sweep findings (test/sim/FINDINGS.md item 163): session 30's defence against a forged founding
// candidate (a joiner passed over a candidate it had backed for `bootstrapMs + 5 × suspectMs`
// with no proposal, and kept every candidate passed over aside for a stand-aside period) also
// passed over real candidates that could not propose yet, after a lost majority with the
// library's timings: members that remembered the last view then backed others, the real
// candidate's proposals to its remaining backers expired one after another, and the group
// re-founded late (RPC seed 105100310: 15.5 s without a view, a probe call timed out) or never
// (group seed 106700363: all five survivors in no view, a wedge). Both pass on session 29's
// joiner and fail with either of session 30's two pass-over commits; the pass-over is gone.
import { describe, expect, it } from 'vitest';
import { parseFaults, runSeed, type SimOptions } from './run.js';

const base: Omit<SimOptions, 'rpc' | 'members' | 'faults'> = {
  messages: 40,
  stack: 'fc:seq:gms:frag:stable:nak:pack:com',
  calls: 12,
  lanes: 2,
  timeout: 100,
  delivery: 'fanout',
  rejoin: 'same',
  async: false,
  replies: false,
  autoReissue: false,
  timings: 'library',
  trace: false,
};

describe('re-founding after a lost majority with the library timings', () => {
  it('is not wedged by voters passing over a candidate that cannot propose yet (group seed 106700363)', async () => {
    const r = await runSeed(
      {
        ...base,
        rpc: false,
        members: '2..9',
        faults: parseFaults(
          'loss,dup,reorder,delay,crash,pause,partition,splits,links,skew,slow,zombie,churn,flushcut,straggle,lossy,replay,flap,mtu',
        ),
        qos: 'none',
        persist: true,
        latency: 2,
      },
      106700363,
    );
    expect(r.violations).toEqual([]);
  }, 60_000);

  it('re-founds in time for the probe calls (RPC seed 105100310)', async () => {
    const r = await runSeed(
      {
        ...base,
        rpc: true,
        members: '3..5',
        faults: parseFaults('loss,dup,reorder,delay,crash,pause,churn,zombie,replay,lossy,mtu'),
        async: true,
        locks: true,
        latency: 12,
      },
      105100310,
    );
    expect(r.violations).toEqual([]);
  }, 60_000);
});
