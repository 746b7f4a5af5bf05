// FINDINGS 229: after a blackout that spared one member, with the library's timings and 60 ms
// one way, the restarted members ignored the spared member's next incarnation's founding
// proposals for 3 × suspectMs after its predecessor's last Here; it stepped aside after three,
// and the group re-formed later than `blackout-reform` allows (gms joiner, `Joiner.deaf`; the
// sans-IO case is test/stack/gms-spared-reform.test.ts).
import { describe, expect, it } from 'vitest';
import { parseFaults, runSeed, SIM_DEFAULTS } from './run.js';

const LIBRARY = { ...SIM_DEFAULTS, rejoin: 'damped' as const, timings: 'library' as const, latency: 60 };

describe('re-forming after a blackout that spared one member (FINDINGS 229)', () => {
  it('group seed 410480102: whole in time (14.4 s, 8.8 s after the last restart, before)', async () => {
    const r = await runSeed(
      {
        ...LIBRARY,
        members: '3..7',
        faults: parseFaults('loss,dup,reorder,delay,crash,pause,partition,blackout,zombie'),
        delivery: 'fanout',
      },
      410480102,
    );
    expect(r.violations).toEqual([]);
  }, 60_000);

  it('RPC seed 423380276: whole in time (13.2 s, 9.8 s after the last restart, before)', async () => {
    const r = await runSeed(
      {
        ...LIBRARY,
        rpc: true,
        members: '3..5',
        faults: parseFaults('loss,dup,reorder,delay,crash,pause,partition,blackout,churn,flap,cnap'),
        delivery: 'fanout',
        replies: true,
        autoReissue: true,
      },
      423380276,
    );
    expect(r.violations).toEqual([]);
  }, 60_000);

  // FINDINGS 245: two members survived a lost majority, the coordinator and another whose Heres
  // named it; the other's word was never lifted, and the window's end was taken at a join tick.
  it('RPC seed 425000012: re-founded in time for the probe call (at 14.3 s, after it, before)', async () => {
    const r = await runSeed(
      {
        ...SIM_DEFAULTS,
        rpc: true,
        members: '3..5',
        faults: parseFaults('loss,reorder,delay,pause,partition,splits,links,slow,churn'),
        calls: 12,
        lanes: 6,
        timeout: 1500,
        delivery: 'fanout',
        rejoin: 'same',
        timings: 'library',
      },
      425000012,
    );
    expect(r.violations).toEqual([]);
  }, 60_000);
});
