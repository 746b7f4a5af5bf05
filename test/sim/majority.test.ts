// The majority rule watched from outside (test/sim/majority.ts) and what it excuses: a run that
// lost its majority may lose claims about requests (or handler completions) in no agreed log,
// nothing else.
import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { LockTable } from '../../runtime/rpc/locks.js';
import { encodeGroupMsg } from '../../runtime/rpc/messages.js';
import { OutcomeTable } from '../../runtime/rpc/outcomes.js';
import { encodeSnapshot } from '../../runtime/rpc/snapshot.js';
import { majorityLoss } from './majority.js';
import { Links } from './network.js';
import { model, trueOutcomes } from './rpc-checkers.js';
import { expectedUnderLoss, rpcConfig, runRpcScenario } from './rpc-scenario.js';
import { Register } from './rpc-service.js';
import type { RpcSim } from './rpc-world.js';
import { parseFaults, runSeed, SIM_DEFAULTS } from './run.js';
import { ALL_FAULTS, type World } from './world.js';

/** Three nodes that installed view 1 of members a, b, c (or `members`); `links` decides who reaches whom. */
function world(links: Links, paused: number[] = [], members = ['a', 'b', 'c']): World {
  const view = { id: 1, epoch: 1, members, at: 5 };
  return {
    now: 100,
    links,
    nodes: ['a', 'b', 'c'].map((member, index) => ({
      index,
      alive: true,
      pausedUntil: paused.includes(index) ? 200 : 0,
      rec: { member, views: [view], partitionedAt: null },
    })),
  } as unknown as World;
}

describe('the majority rule', () => {
  it('holds while two of three reach each other both ways', () => {
    const l = new Links(3);
    l.partition([0, 0, 1]);
    expect(majorityLoss(world(l))).toBeUndefined();
  });

  it('is lost when every member is alone (1|1|1), or one of two is paused, or a cut is one-way', () => {
    const singles = new Links(3);
    singles.partition([0, 1, 2]);
    expect(majorityLoss(world(singles))).toMatchObject({ largest: 1, of: 3 });
    const halves = new Links(3);
    halves.partition([0, 0, 1]);
    expect(majorityLoss(world(halves, [1]))).toMatchObject({ largest: 1, of: 3 });
    const oneWay = new Links(3);
    oneWay.cut(0, 1);
    oneWay.cut(0, 2);
    oneWay.cut(1, 2);
    expect(majorityLoss(world(oneWay))).toMatchObject({ largest: 1 });
  });

  it('is lost when the two members of a view are cut apart, though both reach a joiner', () => {
    // RPC seed 5004312: view [a, b], c still joining; a↮b, both reach c. c relays nothing.
    const l = new Links(3);
    l.cut(0, 1, true);
    expect(majorityLoss(world(l, [], ['a', 'b']))).toMatchObject({ largest: 1, of: 2 });
    // Through a member it is connected (a third member vouches; nak repairs from any holder).
    expect(majorityLoss(world(l))).toBeUndefined();
  });

  it('counts only members that reach each other directly: a pair cut apart cannot share a view', () => {
    // RPC seed 5003599 (FINDINGS 30): view [a, b, c, d], d dead, a↮b, both reach c. Through c
    // all three are connected, but a and b suspect each other: at most 2 of 4 stay together.
    const l = new Links(4);
    l.cut(0, 1, true);
    const members = ['a', 'b', 'c', 'd'];
    const view = { id: 2, epoch: 1, members, at: 5 };
    const w = {
      now: 100,
      links: l,
      nodes: members.map((member, index) => ({
        index,
        alive: index !== 3,
        pausedUntil: 0,
        rec: { member, views: [view], partitionedAt: null },
      })),
    } as unknown as World;
    expect(majorityLoss(w)).toMatchObject({ largest: 2, of: 4 });
    expect(l.largestClique([0, 1, 2])).toHaveLength(2);
    l.restore(0, 1, true);
    expect(majorityLoss(w)).toBeUndefined();
  });

  it('is lost when every member of the newest view is down, none running holding a view', () => {
    // A group of one whose member crashed (RPC seed 98010078): no running member holds a view,
    // so the rule had nothing to judge and the group's end went unrecorded (FINDINGS 147).
    const l = new Links(3);
    const dead = world(l, [], ['a']);
    dead.nodes[0]!.alive = false;
    // b and c still join (no view yet): they are no members of a.
    for (const n of dead.nodes.slice(1)) (n.rec as { views: unknown[] }).views = [];
    expect(majorityLoss(dead)).toMatchObject({ largest: 0, of: 1 });
    // Before any view, nothing is lost, whoever is down.
    for (const n of dead.nodes) (n.rec as { views: unknown[] }).views = [];
    expect(majorityLoss(dead)).toBeUndefined();
    // A running member's view is judged as before, a dead member's older view aside.
    const live = world(l);
    live.nodes[0]!.alive = false;
    expect(majorityLoss(live)).toBeUndefined();
  });

  it('judges a view that only a member cut off from the rest installed by the views the rest hold', () => {
    // RPC seed 99551020 (FINDINGS 153): view 1 [a, b]; a, its coordinator, installed view 2
    // [a, b, c] (c joining, in no view) as it was cut off both ways. b and c reach each other, 2
    // of view 2's 3, but neither had its Install and the one member that has it cannot send it:
    // b is alone of view 1, and the group is lost.
    const l = new Links(3);
    l.cut(0, 1, true);
    l.cut(0, 2, true);
    const w = world(l, [], ['a', 'b']);
    const v2 = { id: 2, epoch: 1, members: ['a', 'b', 'c'], at: 50 };
    (w.nodes[0]!.rec as { views: unknown[] }).views.push(v2);
    (w.nodes[2]!.rec as { views: unknown[] }).views = [];
    expect(majorityLoss(w)).toMatchObject({ largest: 1, of: 2 });
    // Had b installed view 2 too, b and c go on in it: held.
    (w.nodes[1]!.rec as { views: unknown[] }).views.push(v2);
    expect(majorityLoss(w)).toBeUndefined();
    // With view 1 [a, b, c] at all three and view 2 only at a, b and c go on from view 1: held.
    const three = world(l);
    (three.nodes[0]!.rec as { views: unknown[] }).views.push(v2);
    expect(majorityLoss(three)).toBeUndefined();
    // And a view its installer holds with a majority around it is held as before.
    const healed = world(new Links(3), [], ['a', 'b']);
    (healed.nodes[0]!.rec as { views: unknown[] }).views.push(v2);
    (healed.nodes[2]!.rec as { views: unknown[] }).views = [];
    expect(majorityLoss(healed)).toBeUndefined();
  });

  // Found on 5003599 (FINDINGS 30); since founding proposals expire (FINDINGS 37) that seed's
  // run excuses nothing, and 5003595 (`--seeds 5003590..5003700`: 13 such runs) is the case.
  it('RPC seed 5003595: the group dissolved without a clique majority, so its lost replies are excused', async () => {
    const cfg = {
      ...rpcConfig(5003595, 4, [...ALL_FAULTS, 'splits', 'links']),
      delivery: 'multicast' as const,
    };
    const r = await runRpcScenario(cfg, { callsPerLane: 12, lanes: 2, callTimeoutMs: 1500 });
    expect(r.violations).toEqual([]);
    expect(r.losses.length).toBeGreaterThan(0);
    expect(r.expected.length).toBeGreaterThan(0);
  }, 60_000);

  it('excuses only claims about requests in no agreed log', () => {
    expect(expectedUnderLoss('true-replies: c0:3 got value 7 (reply), agreed: nothing')).toBe(true);
    expect(expectedUnderLoss('true-replies: c0:3 got value 7 (reply), agreed: value 8')).toBe(false);
    expect(expectedUnderLoss('sequential-state: x holds {}, the agreed order gives {}')).toBe(false);
    expect(expectedUnderLoss('no-double-apply: x ran c0:3 2 times')).toBe(false);
    expect(expectedUnderLoss('true-replies: c0:3 got value 7 (reply), agreed: interrupted')).toBe(false);
  });

  it('excuses a handler reply the re-founded group calls interrupted only when its done was ordered somewhere', () => {
    // RPC seed 900665 reached this until bac981a changed its bootstrap history (FINDINGS 55): the
    // holder of c0:1 ran it, cast its `done` and answered; the two members that delivered the
    // done then died or were cut off, and a member paused before the done re-founded the group:
    // it knows the request, not its end, and records it interrupted. What only non-founders held
    // is lost (docs/protocol.md). The rule is checked here on such a run's record.
    const done = encodeGroupMsg({
      kind: 'done',
      id: 'c0:1',
      runner: 'a.1',
      result: { ok: true, value: new Uint8Array([7]) },
    });
    const sim = {
      incarnations: [{ log: [{ t: 'msg', viewId: 3, gseq: 9, sender: 'a.1', payload: done, at: 1_200 }] }],
    } as unknown as RpcSim;
    const claim = 'true-replies: c0:1 got value 7 (reply), agreed: interrupted';
    expect(expectedUnderLoss(claim, sim)).toBe(true);
    // Without the run, or for a request whose done no member delivered, it still counts.
    expect(expectedUnderLoss(claim)).toBe(false);
    expect(expectedUnderLoss(claim.replace('c0:1', 'c0:99'), sim)).toBe(false);
    // A claim about a request in no agreed log is excused; one about two states never is.
    expect(expectedUnderLoss('true-replies: c0:2 got value 1 (reply), agreed: nothing')).toBe(true);
    expect(expectedUnderLoss('sequential-state: replicas hold 2 states')).toBe(false);
  });

  it('a run whose members are all split apart (1|1|1) is seen to lose its majority', async () => {
    const r = await runRpcScenario(rpcConfig(2, 3, ['loss', 'delay', 'splits']));
    expect(r.losses.length).toBeGreaterThan(0);
    expect(r.losses[0]).toMatchObject({ largest: 1, of: 3 });
  });

  it('a reply from the history that lost its majority, for a request the re-founded group ran again (RPC seed 501190)', async () => {
    // View {n1, n2} ordered and answered c1:7; n1 crashed (the majority of that view lost) and
    // restarted with its membership file but no state, and n2 was paused. n0 and the restarted n1
    // founded anew, from nothing, and ran c1:7 again when the client reissued it; n2 woke and
    // answered the reissue from its table, the old history's value.
    const opts = {
      ...SIM_DEFAULTS,
      rpc: true,
      members: '3..7',
      faults: parseFaults(
        'loss,dup,reorder,delay,crash,pause,partition,splits,links,skew,slow,zombie,churn,flushcut,clients,straggle,lossy,replay',
      ),
      calls: 12,
      lanes: 6,
      timeout: 600,
      delivery: 'multicast' as const,
      rejoin: 'same' as const,
      async: true,
      replies: true,
      autoReissue: true,
      persist: true,
    };
    // Since founding installs only whole proposals (FINDINGS 64) this seed founds differently and
    // no longer reaches the case; a search of seeds 500000..503499 found no other. It stays a
    // regression run; the rule is kept for when a schedule reaches the case again.
    const r = await runSeed(opts, 501190);
    expect(r.violations).toEqual([]);
    // The rule needs the run: without it the claim counts.
    expect(expectedUnderLoss('true-replies: c1:7 got value 37505 (reply), agreed: value 35925')).toBe(false);
  }, 60_000);

  it('a member that wakes in a lineage that stopped no longer answers from it (RPC seed 99583176, FINDINGS 167)', async () => {
    // View {n2, n1} (n0 crashed at 397 ms, before it was founded, and again at 2,688) ordered
    // c1:7 (`mul(3)`, 462303) and lost its majority at 760 ms; n2 crashed at 1,630 ms. n2 and n0
    // restarted without state, founded anew at 4,157 ms and ran the client's reissue of c1:7
    // again (433399). n1, of the stopped lineage, answered c1 with its view's value (462303), and
    // c1 took it;
    // at 5,254 ms n1 left its lineage, rejoined and was given the new group's state (view 2 at
    // 5,261 ms), so at the end no replica's table holds that value: only the view its reply
    // named tells it came from the lineage that stopped (FINDINGS 135). Replaces 91006065,
    // which keeps its majority since the sequencer's Order leaves in its own cast's packet
    // (FINDINGS 148), and 99580693 (claims on c0:34 and c0:22), which still loses it but makes
    // neither claim since the joiner's challenge echo (67e07a3, session 32): a sweep of 99580000..99580199 with these
    // options finds one run that lost its majority with such a claim, 99580192.
    // Re-pinned in session 32: since the joiner's trusted challenges (06498ce) and replicas'
    // speaking gate (c759cae) 99580192 keeps its majority. A sweep of 99580000..99584400 with
    // these options finds two runs that lost it with a claim of another value: 99582719 (c0:1,
    // a value a replica's table still holds) and 99583176, pinned. View {n1, n2} (812 ms) ordered
    // c0:14 (`append`, 779444) and c0:15 (779527); churn crashed n1 at 1,768.7 ms (majority lost
    // at 1,780) and n2 was paused at 2,038.8 ms for 1,407 ms. n1 and n0 restarted without state,
    // founded anew at 3,375 ms and ran the client's reissues again (13166, 646327). n2 woke at
    // 3,445.9 ms and answered c0 with its view's values, 0.4 ms later: its speaking gate did not
    // hold them back, because gms told the core the stall bound only on a change, and a member
    // that had always spoken never told it (FINDINGS 167's second half). Since gms reports at
    // its first view, n2 answers nothing from the stopped lineage: the claims below are gone.
    // This seed no longer shows the checker's rule for a reply that names a stopped lineage's
    // view (the string-level tests above cover the rule's parts; no run in the sweep did).
    const opts = {
      ...SIM_DEFAULTS,
      rpc: true,
      members: '3..3',
      faults: parseFaults('loss,delay,crash,zombie,churn'),
      calls: 8,
      lanes: 8,
      timeout: 300,
      delivery: 'multicast' as const,
      rejoin: 'same' as const,
      async: true,
      locks: true,
    };
    const r = await runSeed(opts, 99583176);
    expect(r.lostMajority).toBe(true);
    expect(r.violations).toEqual([]);
    const claims = [
      'true-replies: c0:14 got value 779444 (reply), agreed: value 13166',
      'true-replies: c0:15 got value 779527 (reply), agreed: value 646327',
    ];
    for (const claim of claims) {
      expect(r.expected.some((v) => v.endsWith(claim))).toBe(false);
      // Had it been made, only the run could excuse it.
      expect(expectedUnderLoss(claim)).toBe(false);
    }
  }, 60_000);

  it("a run that lost its majority ends every call with no violation (RPC seed 133000003; FINDINGS 73's case is no longer reached)", async () => {
    // The majority was lost at 1,120 ms and the group re-founded only at 11.4 s (FINDINGS 73);
    // its lanes' calls then ran to the end, and c0:140, an `append` started 105 ms before it with
    // four requests ordered behind, was still running at every replica: calls-end, true-replies
    // and sequential-state counted 11 violations though nothing was wrong. That seed had no call
    // in flight at the end already before session 32 (on 0630cb8 it lost its majority at 1,120
    // ms and every call ended by 15 s), and since the joiner's challenge echo (67e07a3) it keeps
    // its majority. Sweeps of 133000000..133000805 and 133002000..133003099 with these options
    // find no run that lost its majority with a call in flight at the end (the case is not
    // reached; RpcSim.run keeps its rule), so the test stays a regression run of a lost
    // majority whose calls all end: 133000001 (lost at 1,540 ms), and since nak's keyed origins
    // (session 38), which keep 133000001's majority, 133000003 (a sweep of 133000001..030: 12 runs
    // lost it, all with every call ended and no violation).
    const opts = {
      ...SIM_DEFAULTS,
      rpc: true,
      members: '3..5',
      faults: parseFaults('loss,crash,skew,slow,flushcut,straggle'),
      calls: 24,
      lanes: 6,
      timeout: 1500,
      delivery: 'multicast' as const,
      rejoin: 'same' as const,
      async: true,
      timings: 'library' as const,
    };
    const r = await runSeed(opts, 133000003);
    expect(r.lostMajority).toBe(true);
    expect(r.violations).toEqual([]);
    expect(r.stats.replies! + r.stats.errors!).toBe(r.stats.calls);
  }, 60_000);

  it('a group of one whose member the sequencer churn crashed lost its group (RPC seed 98010078)', async () => {
    // One member, its only incarnation with a view crashed by `churn` at 2,809 ms (churn asks
    // no safeToStop); it restarted as a new incarnation with nothing and founded view 1 again,
    // so c0:1's reply of the first lineage (94) is in no agreed log. The oracle looked only at
    // running members' views, none held one, and the run was not counted as a loss: 1 violation
    // (FINDINGS 147).
    const opts = {
      ...SIM_DEFAULTS,
      rpc: true,
      members: '1..2',
      faults: parseFaults(
        'loss,dup,reorder,delay,crash,pause,partition,splits,links,skew,slow,zombie,churn,flushcut,straggle,lossy,replay,flap,mtu,clients',
      ),
      delivery: 'multicast' as const,
      rejoin: 'damped' as const,
      async: true,
      replies: true,
      autoReissue: true,
      locks: true,
      persist: true,
    };
    const r = await runSeed(opts, 98010078);
    expect(r.lostMajority).toBe(true);
    expect(r.violations).toEqual([]);
    expect(r.expected.some((v) => v.includes('c0:1 got value 94 (reply), agreed: nothing'))).toBe(true);
  }, 60_000);

  const twoSeeds = {
    ...SIM_DEFAULTS,
    rpc: true,
    members: '3..3',
    faults: parseFaults('loss,delay,zombie,churn'),
    calls: 12,
    lanes: 2,
    timeout: 300,
    delivery: 'multicast' as const,
    rejoin: 'same' as const,
    async: true,
    locks: true,
  };

  it('a view only its cut-off coordinator installed does not hide the loss of the view the rest hold (RPC seed 99552408)', async () => {
    // View 1 [n2, n0] ordered c1:1 (33001) and c1:2 (33); n2, its coordinator, installed view 2
    // [n2, n0, n1] 0.6 ms after churn cut it off; n0 never had the Install (n1, waking from a
    // zombie stop, was joining). n0, alone of view 1, and n2 stopped themselves; the three
    // re-founded from n2's state, whose table had dropped the replies c1 had settled: "agreed:
    // nothing". The oracle judged view 2 (n0 and n1 reach each other, 2 of 3) and counted no
    // loss: 2 violations (FINDINGS 153). Since FINDINGS 151 the model continues n2's history, so
    // those claims (c1:1 got 33001) are judged against it and hold: none is left to excuse.
    // Re-pinned in session 32: since the joiner's trusted challenges (06498ce) and replicas'
    // speaking gate (c759cae) 99551020 keeps its majority. A sweep of 99550000..99553600 with
    // these options, the oracle instrumented to tell which losses the rule before FINDINGS 153
    // would count, finds about 2,000 runs that lost their majority, and two whose loss only this
    // rule counts: 99550254 and 99552408, neither re-founded (the cut healed and the coordinator
    // resent its Install). 99552408 is pinned: view 1 [n2, n0]; churn cut n2, its coordinator,
    // off at 1,654.8 ms and n2 installed view 2 [n2, n0, n1] 1.3 ms later (n1 was joining). n0
    // and n1 reach each other, 2 of view 2's 3, but neither had its Install: view 1's loss is
    // counted at 1,660 ms (before FINDINGS 153 the run counts none). n2 resent the Install once
    // the cut healed (n1 installed view 2 at 2,246 ms, n0 at 2,254), so the group went on and no
    // claim is at stake; the re-founding and the continued history of 99551020 are not reached.
    const r = await runSeed(twoSeeds, 99552408);
    expect(r.lostMajority).toBe(true);
    expect(r.violations).toEqual([]);
    expect(r.expected).toEqual([]);
  }, 60_000);

  /**
   * FINDINGS 152 (RPC seed 99550457 with `twoSeeds`' options, at 4a5de3b): n1, a zombie
   * holding c1:3's issue 985, woke after n2 had answered c1 a settled not-found (its fence covered
   * 985) and the reissue had run; the group lost its majority and n0 and n1 re-founded from n0's
   * state (c1's floor 5 past c1:3, its outcome and fence dropped). n1 recast issue 985 there:
   * ordered, answered expired, never run. The model took that copy as the one c1:3 ran from: a
   * true-outcomes violation. No seed reaches the case now: the model's `expired` list is empty on
   * each of the 5,001 runs of 99550000..99551700, 99553601..99554900 and 99555001..99557000 with
   * these options (session 39), so the seed test that pinned it (99550457, then 99550458) is gone
   * and the case is built here.
   *
   * FINDINGS 152's shape, by hand: n0 (a.2) and n1 (b.2) re-found view 1 from a.2's state, whose
   * table has c1's floor at `floor` and no outcome or fence of c1:3 (the client settled it: a
   * member answered a settled not-found at 1,401.3, after issue 985 was sent at 900); b.2, a
   * zombie's next incarnation, casts its held copy of c1:3's issue 985 there.
   */
  function refounded(floor: number): RpcSim {
    const [a, b] = ['0000000a.2', '0000000b.2'];
    const outcomes = new OutcomeTable();
    outcomes.request(`c1:${floor + 1}`, floor);
    const start = encodeSnapshot({
      app: new Register().snapshot(),
      outcomes,
      locks: new LockTable(),
      pending: new Map(),
      lastNow: 0,
      applied: { id: 3, members: [a, b] },
      backlog: [],
    });
    const copy = encodeGroupMsg({
      kind: 'request',
      id: 'c1:3',
      service: 'register',
      method: 'add',
      args: encodeValue([5]),
      mode: 'majority',
      client: 'c1',
      contact: b,
      ts: 1_908,
      settled: undefined,
      issue: 985,
    });
    const log = [
      { t: 'view', key: '1.3681', id: 1, members: [a, b], at: 3_681, start },
      { t: 'msg', viewId: 1, gseq: 0, sender: b, payload: copy, at: 3_683.4 },
    ];
    const rec = (member: string, startedAt: number, crashedAt: number | null = null) => ({
      member,
      startedAt,
      crashedAt,
      partitionedAt: null,
    });
    const [ra, rb] = [{}, {}];
    return {
      incarnations: [
        // Their earlier incarnations: the replicas served before (a re-founding), with no log
        // here, so the model takes a.2's start state alone.
        { rec: rec('0000000a.1', 0, 2_681), replica: ra, log: [] },
        { rec: rec('0000000b.1', 0, 1_908), replica: rb, log: [] },
        { rec: rec(a, 2_700), replica: ra, log },
        { rec: rec(b, 2_000), replica: rb, log },
      ],
      castAt: new Map(),
      calls: [
        {
          id: 'c1:3',
          outcomes: [{ at: 1_401.3, status: 'not-found', settled: true, member: '0000000c.1' }],
        },
      ],
      issuesSent: new Map([['c1:3', [{ issue: 985, at: 900 }]]]),
    } as unknown as RpcSim;
  }

  it('a copy answered expired in a re-founded group is not the copy its request ran from (FINDINGS 152, by hand)', () => {
    const sim = refounded(5);
    const m = model(sim);
    expect(m.problems).toEqual([]);
    expect(m.refounded).toBe('1.3681');
    // The copy is at c1's floor with no outcome: answered `expired`, never run (before the fix,
    // the model took it for the copy c1:3 ran from and true-outcomes flagged the answer).
    expect(trueOutcomes.check(sim)).toEqual([]);
    expect(m.expired).toEqual([expect.objectContaining({ id: 'c1:3', issue: 985, contact: '0000000b.2' })]);
    expect(m.first.has('c1:3')).toBe(false);
    expect(m.outcomes.has('c1:3')).toBe(false);
    // Counter-case: a start whose floor is below c1:3 runs the copy, and the settled not-found
    // answered before it was sent is false.
    const ran = refounded(2);
    expect(model(ran).expired).toEqual([]);
    expect(model(ran).first.get('c1:3')).toMatchObject({ issue: 985 });
    expect(trueOutcomes.check(ran)).toEqual([
      'c1:3 outcome from 0000000c.1 at 1401.3: settled not-found, but a copy of issue 985 (issue 985 sent before the answer) cast by 0000000b.2 at 1908 is in the agreed order (delivered at 3683.4)',
    ]);
    // Nor would the majority rule excuse the claim the seed made before the fix.
    const claim =
      'true-outcomes: c1:3 outcome from 18d68c24.1 at 1401.3: settled not-found, but a copy of issue 985 (issue 985 sent before the answer) cast by 7f16a6c4.1 at 1908.15 is in the agreed order (delivered at 3683.4)';
    expect(expectedUnderLoss(claim)).toBe(false);
  });
});
