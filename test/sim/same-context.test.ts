// The `same-context` checker (test/sim/rpc-checkers.ts): a request's call context (`now`, the
// first `random()`) is the same at every replica whose history the survivors hold, and `now`
// never goes backwards along one history (docs/rpc.md "Call context").
import { describe, expect, it } from 'vitest';
import { sameContext } from './rpc-checkers.js';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import type { RpcIncarnation, RpcSim } from './rpc-world.js';

type Ctx = RpcIncarnation['contexts'];

function sim(
  ...incs: { member: string; contexts: Ctx; backwards?: RpcIncarnation['backwards']; crashed?: boolean }[]
): RpcSim {
  return {
    incarnations: incs.map((i) => ({
      rec: { member: i.member, crashedAt: i.crashed ? 10 : null, partitionedAt: null },
      contexts: i.contexts,
      backwards: i.backwards ?? [],
    })),
  } as unknown as RpcSim;
}

describe('same-context', () => {
  it('passes when survivors ran a request with the same now and random', () => {
    const c = () => new Map([['c0:1', { now: 100, random: 0.25 }]]);
    expect(sameContext.check(sim({ member: 'a', contexts: c() }, { member: 'b', contexts: c() }))).toEqual(
      [],
    );
  });

  it('reports two survivors that ran a request at another now, or with another random', () => {
    const a: Ctx = new Map([
      ['c0:1', { now: 100, random: 0.25 }],
      ['c0:2', { now: 120, random: 0.5 }],
    ]);
    const b: Ctx = new Map([
      ['c0:1', { now: 101, random: 0.25 }],
      ['c0:2', { now: 120, random: 0.75 }],
    ]);
    const out = sameContext.check(sim({ member: 'a', contexts: a }, { member: 'b', contexts: b }));
    expect(out).toHaveLength(2);
    expect(out[0]).toContain('c0:1: a ran it at now 100');
  });

  it('leaves out a replica that did not survive (its history may be a lineage that stopped)', () => {
    const a: Ctx = new Map([['c0:1', { now: 100, random: 0.25 }]]);
    const b: Ctx = new Map([['c0:1', { now: 7, random: 0.9 }]]);
    expect(
      sameContext.check(sim({ member: 'a', contexts: a }, { member: 'b', contexts: b, crashed: true })),
    ).toEqual([]);
  });

  it('reports a run whose now went backwards, at any replica', () => {
    const out = sameContext.check(
      sim({
        member: 'a',
        contexts: new Map(),
        backwards: [{ id: 'c1:3', now: 90, after: 100 }],
        crashed: true,
      }),
    );
    expect(out).toEqual(['a ran c1:3 at now 90, after a run at now 100']);
  });

  it('compares real runs under skewed clocks: many requests ran at two survivors, all alike', async () => {
    const r = await runRpcScenario(rpcConfig(3, 3, ['loss', 'delay', 'crash', 'skew']), {
      callsPerLane: 12,
      lanes: 2,
    });
    expect(sameContext.check(r.sim)).toEqual([]);
    const live = r.sim.incarnations.filter((i) => i.rec.crashedAt === null && i.rec.partitionedAt === null);
    const shared = [...(live[0]?.contexts.keys() ?? [])].filter((id) =>
      live.slice(1).some((i) => i.contexts.has(id)),
    );
    // Not vacuous: the check saw the same requests at several survivors.
    expect(shared.length).toBeGreaterThan(20);
  }, 60_000);
});
