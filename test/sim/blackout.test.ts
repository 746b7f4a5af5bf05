// The `blackout` fault (test/sim/patterns.ts planBlackout) and what must still hold after it
// (test/sim/blackout.ts): the fault does what it says, the invariants hold on a few seeds, and
// each blackout rule fails where it must.
import { describe, expect, it, vi } from 'vitest';
import { ClientMembership } from '../../runtime/rpc/client-membership.js';
import { blackoutReform } from './blackout.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { inventsOutcomes } from './mutant-replicas.js';
import { blackoutOutcomes, model, trueOutcomes } from './rpc-checkers.js';
import {
  blackoutExcuses,
  blackoutReruns,
  expectedUnderLoss,
  rpcConfig,
  runRpcScenario,
  unknownWithoutLoss,
} from './rpc-scenario.js';
import { parseFaults } from './run.js';
import { groupConfig, planFaults, runScenario } from './scenario.js';
import { World } from './world.js';

const FAULTS = parseFaults('loss,dup,reorder,delay,partition,blackout');
/** `--members 3..5` of the RPC runs: the member count the CLI gives `seed`. */
const rpcMembers = (seed: number) => 3 + (seed % 3);

describe('blackout', () => {
  it('crashes every member, or all but one, within 4 ms once founded; each back 0.2-3 s later', () => {
    let spared = 0;
    for (let seed = 392000000; seed < 392000006; seed++) {
      const members = 3 + (seed % 5);
      const r = runScenario({ ...groupConfig(seed, members, FAULTS), trace: true }, GROUP_CHECKERS);
      const w = r.world;
      expect(w.blackouts).toHaveLength(1);
      const b = w.blackouts[0]!;
      if (b.spared !== undefined) spared++;
      expect(b.crashed).toHaveLength(b.spared === undefined ? members : members - 1);
      // Founded first: a member held a view when it struck.
      expect(w.incarnations.some((i) => i.views.some((v) => v.at <= b.at))).toBe(true);
      const crashes = r.trace.filter((l) => / CRASH$/.test(l)).map((l) => Number(l.split(' ')[0]));
      expect(crashes).toHaveLength(b.crashed.length);
      expect(Math.max(...crashes) - b.at).toBeLessThan(4);
      for (const { node, at } of b.restarts) {
        expect(at - b.at).toBeGreaterThanOrEqual(200);
        expect(at - b.at).toBeLessThan(3_000);
        expect(w.incarnations.some((i) => i.node === node && i.startedAt === at)).toBe(true);
      }
      expect(r.violations).toEqual([]);
    }
    expect(spared).toBeGreaterThan(0);
    expect(spared).toBeLessThan(6);
  });

  it('blackout-reform: fails when the crashed members never come back', () => {
    const seed = 392000001;
    const run = (restart: boolean) => {
      const w = new World(groupConfig(seed, 4, FAULTS));
      planFaults(w);
      if (!restart) w.restart = () => {};
      w.run();
      return blackoutReform.check(w);
    };
    expect(run(true)).toEqual([]);
    expect(run(false)).toEqual([expect.stringMatching(/no view of every node was ever installed/)]);
  });

  it('blackout-reform: a member stopped after the blackout counts as back when it wakes', () => {
    // RPC seeds 410370251 and 410370273 (`--latency 100`, zombie): the spared member, or a
    // restarted one, stopped until 0.3 s and 2.2 s after the last restart; the group held every
    // node 2.7 and 1.5 s after it woke, and the rule, timed from the last restart, called that
    // late. Pinned on RPC seed 410370213 until the spared member's next incarnation was no longer
    // kept waiting (FINDINGS 229): the group then re-formed in time even from the last restart,
    // and no seed of 410370000..410370599 needed the waking. So the stop is forced here: group
    // seed 392000007 (5 members, all but one crashed), the spared member stopped from 50 ms
    // after the strike until 2.5 s after the last restart.
    const seed = 392000007;
    const first = new World(groupConfig(seed, 5, FAULTS));
    planFaults(first);
    first.run();
    const b = first.blackouts[0]!;
    expect(b.spared).toBeDefined();
    const lastRestart = Math.max(...b.restarts.map((x) => x.at));
    const w = new World(groupConfig(seed, 5, FAULTS));
    planFaults(w);
    const stop = b.at + 50;
    w.at(stop, () => w.pause(w.nodes[b.spared!]!, lastRestart + 2_500 - stop));
    w.run();
    expect(w.blackouts[0]!.at).toBe(b.at);
    expect(blackoutReform.check(w)).toEqual([]);
    w.pauses.length = 0;
    expect(blackoutReform.check(w)).toEqual([
      expect.stringMatching(/no view of every node until \d+ ms, 3000 ms allowed from 3298 ms$/),
    ]);
  });

  it("the new group's answers are not excused by the lost majority (a replica inventing outcomes)", async () => {
    const seed = 392000004;
    const cfg = rpcConfig(seed, rpcMembers(seed), FAULTS);
    const opts = { asyncShare: 0.25, replyShare: 0.3, autoReissue: 'mixed' as const };
    expect((await runRpcScenario(cfg, opts)).violations).toEqual([]);
    const r = await runRpcScenario(cfg, { ...opts, makeReplica: inventsOutcomes() });
    const made = r.violations.filter((v) => /777.*agreed: nothing$/.test(v));
    expect(made.length).toBeGreaterThan(0);
    // The generic rule (a lost majority) would excuse each of them; after a blackout, only the
    // lost history's answers are.
    for (const v of made) {
      expect(expectedUnderLoss(v, r.sim)).toBe(true);
      expect(blackoutExcuses(v, r.sim)).toBe(false);
    }
  });

  it('blackout-outcomes: a settled not-found from the re-founded group for what its start held', async () => {
    // The spared member rejoined with its replica, and the group re-founded from its state.
    const seed = 392000107;
    const cfg = { ...rpcConfig(seed, rpcMembers(seed), FAULTS), rejoin: 'same' as const, persist: true };
    const r = await runRpcScenario(cfg, { asyncShare: 0.25 });
    expect(r.violations).toEqual([]);
    const m = model(r.sim);
    expect(m.refounded).toBeDefined();
    const id = [...m.started].find((x) => m.outcomes.get(x)?.status === 'committed')!;
    const call = r.sim.calls.find((c) => c.id === id)!;
    const member = r.sim.world.nodes.find((n) => n.alive)!.rec.member;
    // An answer the real replicas never gave: `not-found` for it, from a member of the agreed log.
    call.outcomes.push({ at: r.sim.cfg.endMs, status: 'not-found', settled: true, member });
    const flagged = [expect.stringContaining(`${id} outcome from ${member}`)];
    expect(blackoutOutcomes.check(r.sim)).toEqual(flagged);
    // Here the model traced the start back to the spared member's history (FINDINGS 151's
    // `continued`), so `true-outcomes` sees the copy too; where it cannot (no earlier history
    // reaches the start state), `true-outcomes` has no copy to judge by and only this rule is left.
    expect(trueOutcomes.check(r.sim).filter((v) => v.startsWith(`${id} `))).toHaveLength(1);
    m.first.delete(id);
    expect(trueOutcomes.check(r.sim).filter((v) => v.startsWith(`${id} `))).toEqual([]);
    expect(blackoutOutcomes.check(r.sim)).toEqual(flagged);
  });

  it('blackout-rerun: a call the lost history ran must not run again, unless the client chose to', async () => {
    // c0:1 ran before the blackout; a client blind to the lost history (as before FINDINGS 222's
    // fix: it never sees the group's history change, and its calls say none) was told not-found
    // and ran it again. (c1:1 until FINDINGS 234's joiner change moved the founding's schedule.)
    const seed = 392000387;
    const cfg = { ...rpcConfig(seed, rpcMembers(seed), FAULTS), rejoin: 'same' as const, persist: true };
    const opts = { asyncShare: 0.25, replyShare: 0.3, autoReissue: 'mixed' as const };
    const r = await runRpcScenario(cfg, opts);
    expect(r.violations).toEqual([]);
    expect(blackoutReruns(r.sim)).toEqual([]);
    // Blind: it counts no change, and its calls carry no history for a member to refuse.
    const blind = vi.spyOn(ClientMembership.prototype, 'history', 'get').mockReturnValue(0);
    const unnumbered = vi.spyOn(ClientMembership.prototype, 'historyId', 'get').mockReturnValue(undefined);
    let m: Awaited<ReturnType<typeof runRpcScenario>>;
    try {
      m = await runRpcScenario(cfg, opts);
    } finally {
      blind.mockRestore();
      unnumbered.mockRestore();
    }
    const reruns = blackoutReruns(m.sim);
    expect(reruns.map((x) => x.id)).toContain('c0:1');
    expect(m.violations).toEqual(expect.arrayContaining(reruns.map((x) => x.line)));
    // Chosen by the client (`reissue(id, { rerun: true })` before that run): not a violation.
    const call = m.sim.calls.find((c) => c.id === 'c0:1')!;
    call.reruns.push(0);
    expect(blackoutReruns(m.sim).find((x) => x.id === 'c0:1')?.chosen).toBe(true);
  });

  it('unknown-after-loss: an unknown answer in a run that lost no majority is false', async () => {
    const seed = 392000387;
    const r = await runRpcScenario(rpcConfig(seed, rpcMembers(seed), FAULTS), { asyncShare: 0.25 });
    // The blackout makes real ones (calls sent before it end in OUTCOME_UNKNOWN): claimed in a
    // run said to have lost no majority, each is flagged, and one more answer added is too.
    const real = unknownWithoutLoss(r.sim, false);
    expect(real.length).toBeGreaterThan(0);
    const call = r.sim.calls[0]!;
    call.outcomes.push({ at: 1, status: 'unknown', settled: true, member: 'x' });
    const all = unknownWithoutLoss(r.sim, false);
    expect(all).toHaveLength(real.length + 1);
    expect(all).toContainEqual(expect.stringContaining(`${call.id} outcome from x at 1.0: unknown`));
    expect(unknownWithoutLoss(r.sim, true)).toEqual([]);
  });
});
