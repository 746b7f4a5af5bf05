// The simulator's network model and opt-in fault plans (test/sim/network.ts, patterns.ts,
// majority.ts): what each does, and that the RPC checkers added with them can fail.
import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, SNAPSHOT_LIMITS } from '../../runtime/rpc/codec.js';
import { Replica, type ReplicaOptions } from '../../runtime/rpc/replica.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { offByOneAroundCut, skipsQueuedBacklog } from './mutant-replicas.js';
import { Links, multicastTargets } from './network.js';
import { splitSides } from './patterns.js';
import { backlogCase, queuedAtRefounding, WITH_CUTS } from './pinned.js';
import { model } from './rpc-checkers.js';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import type { Register } from './rpc-service.js';
import { groupConfig, runScenario } from './scenario.js';
import type { Fault } from './world.js';

const nodes = ['n0', 'n1', 'n2', 'n3'].map((address, index) => ({ index, address }));

describe('the simulated network', () => {
  it('multicast reaches every other node; fan-out only the last view’s peers', () => {
    expect(multicastTargets('multicast', nodes[0]!, nodes, ['n2']).map((n) => n.address)).toEqual([
      'n1',
      'n2',
      'n3',
    ]);
    expect(multicastTargets('fanout', nodes[0]!, nodes, ['n2']).map((n) => n.address)).toEqual(['n2']);
  });

  it('cuts links one way, and non-transitively; components need both ways', () => {
    const l = new Links(3);
    l.cut(0, 1);
    expect(l.blocks(0, 1)).toBe(true);
    expect(l.blocks(1, 0)).toBe(false);
    // 0 and 1 do not reach each other both ways, but both reach 2: one component through 2.
    expect(l.components([0, 1, 2])).toEqual([[0, 2, 1]]);
    l.cut(0, 2, true);
    expect(l.components([0, 1, 2])).toEqual([[0], [1, 2]]);
    l.heal();
    expect(l.blocks(0, 1) || l.blocks(0, 2)).toBe(false);
  });

  it('split patterns: halves, singles, and a minority that moves into the majority', () => {
    const r = () => 0.3;
    expect(splitSides('halves', 4, 0, r).filter((s) => s === 1)).toHaveLength(2);
    expect(new Set(splitSides('singles', 3, 0, r)).size).toBe(3);
    const a = splitSides('swap', 5, 0, r);
    const b = splitSides('swap', 5, 1, r);
    expect(a.filter((s) => s === 1)).toHaveLength(2);
    // Round 1's minority is on the majority side in round 2.
    for (let i = 0; i < 5; i++) if (a[i] === 1) expect(b[i]).toBe(0);
  });

  it('fan-out and the new faults keep the group invariants on a few seeds', () => {
    const faults: Fault[] = ['loss', 'dup', 'reorder', 'delay', 'crash', 'pause', 'splits', 'links'];
    const bad: string[] = [];
    for (let seed = 1; seed <= 6; seed++) {
      const cfg = { ...groupConfig(seed, 3 + (seed % 4), faults), delivery: 'fanout' as const };
      bad.push(...runScenario(cfg, GROUP_CHECKERS).violations.filter((v) => !v.startsWith('progress')));
    }
    // Only progress may fail here until issue 10 item 1 (the wedge) is fixed.
    expect(bad).toEqual([]);
  });
});

type Internals = {
  /** The replica's packets to its clients (`ClientLink`). */
  link: { send(to: string, p: { kind: string; member?: string; result?: unknown }): void };
  /** The replica's contact role (`Contact`): every client packet enters at its `onPacket`. */
  contact: { onPacket(bytes: Uint8Array, from: string): void };
};

/** A replica whose every reply carries a wrong value (all/majority entries are checked one by one). */
function lying(instance: Register, options: ReplicaOptions): Replica<Register> {
  const r = new Replica(instance, options);
  const inner = r as unknown as Internals;
  const send = inner.link.send.bind(inner.link);
  inner.link.send = (to, p) =>
    send(to, p.kind === 'reply' && p.result ? { ...p, result: { ok: true, value: encodeValue(-7) } } : p);
  return r;
}

/** A replica whose replies, once it was cut off and serves a re-founded group, are off by one. */
const lyingAfterRefounding = offByOneAroundCut('after');

/**
 * A replica whose state, once it was cut off, lands one off whenever it restores a snapshot
 * (a re-founding's transfer from the source): the founders that restored hold another state
 * than the source. A real split of the founders' start.
 */
function offByOneRestore(instance: Register, options: ReplicaOptions): Replica<Register> {
  const r = new Replica(instance, options);
  const inner = r as unknown as { onPartitioned(): void };
  const cut = inner.onPartitioned.bind(r);
  const restore = r.restore.bind(r);
  let after = false;
  inner.onPartitioned = () => {
    after = true;
    cut();
  };
  r.restore = (state) => {
    restore(state);
    if (after) instance.value += 1;
  };
  return r;
}

/** A replica that stops answering clients 12 s into the run (after the faults are over). */
function deafLate(clock: () => number) {
  return (instance: Register, options: ReplicaOptions): Replica<Register> => {
    const r = new Replica(instance, options);
    const inner = r as unknown as Internals;
    const on = inner.contact.onPacket.bind(inner.contact);
    inner.contact.onPacket = (bytes, from) => {
      if (clock() < 12_000) on(bytes, from);
    };
    return r;
  };
}

describe('the RPC checkers added with the new load', () => {
  const FAULTS: Fault[] = ['loss', 'delay'];

  it('progress: probe calls after the faults must be answered', async () => {
    const cfg = rpcConfig(3, 3, FAULTS);
    expect((await runRpcScenario(cfg)).violations).toEqual([]);
    const r = await runRpcScenario(cfg, { makeReplica: (i, o) => deafLate(o.clock!)(i, o) });
    expect(r.violations.some((v) => v.startsWith('progress: probe call'))).toBe(true);
  });

  it('all/majority replies: every member’s answer must be the agreed one', async () => {
    const cfg = rpcConfig(4, 3, FAULTS);
    const r = await runRpcScenario(cfg, { replyShare: 0.5, makeReplica: lying });
    expect(r.violations.some((v) => /true-replies: .* replied -7, agreed: value/.test(v))).toBe(true);
    expect((await runRpcScenario(cfg, { replyShare: 0.5 })).violations).toEqual([]);
  });

  it("re-founded by replicas that served before: replies are judged from the founders' start state", async () => {
    // Before the fix the model ran the re-founded log from a fresh register (value 1), not from
    // the winning founder's state (value 102 at 60027): e.g. c1:3 mul(3) got 1020 = 3 * (102 +
    // 80 + 47 + 111), judged against 717 = 3 * (1 + 80 + 47 + 111): 43 and 35 false violations.
    // Since lineages speak only from a live view (FINDINGS 36) no replica of 60027's re-founded
    // group answered after its own `partitioned`, so the mutant below had nothing to change there;
    // 60028 re-founds with one that does. Re-chosen in session 32: since the joiner's challenge
    // echo (67e07a3) 60027 re-founds no more; a sweep of 60000..60105 finds re-foundings from a
    // founder that had served (its start state past the fresh register) on 60024, 60028, 60033,
    // 60041, 60045, 60052, 60057, 60097 and 60105 (60006, 60086 and 60092 re-found from a fresh
    // register): 60024 (the founders start at value 281 after 5 operations) takes 60027's place,
    // and the mutant below is caught on it too. Re-pinned in session 38: since nak's random
    // stream origins (642ac74) 60028 re-founds no more; a sweep of 60000..60150 finds
    // re-foundings from a founder that had served on 60024, 60041, 60045, 60052, 60077, 60126,
    // 60127, 60140 and 60150 (60057, 60086, 60097, 60119, 60120 and 60147 re-found from a fresh
    // register), and the mutant below is caught on each of them. 60041 (the founders start at
    // value 149906 after 27 operations) takes 60028's place; 60024 now starts at 11909 after 12
    // operations, 60045 at 97 after 5. Checked again in session 38 after e4aacc8 (nak's origins
    // are a keyed hash under a secret drawn from the injected source): a sweep of 60000..60150
    // finds 16 re-foundings, 14 from a founder that had served (60099 and 60119 from a fresh
    // register), the mutant below caught on each; the three seeds keep their case (60024 starts
    // at 3140 after 14 operations, 60041 at 785895 after 29, 60045 at 97 after 4).
    const faults = WITH_CUTS;
    const opts = { callsPerLane: 12, callTimeoutMs: 1500 };
    for (const seed of [60024, 60041, 60045]) {
      const cfg = { ...rpcConfig(seed, 3, faults), delivery: 'fanout' as const, rejoin: 'same' as const };
      const r = await runRpcScenario(cfg, opts);
      const m = model(r.sim);
      expect(m.refounded).toBeDefined();
      // The case is reached: the founders start past the fresh register (a founder had served).
      const root = r.sim.incarnations
        .map((i) => i.log.find((l) => l.t === 'view'))
        .find((v) => v?.t === 'view' && v.key === m.refounded && v.start);
      if (root?.t !== 'view' || !root.start) throw new Error('no founder recorded its start');
      const app = (decodeValue(root.start, SNAPSHOT_LIMITS) as unknown[])[1] as { ops: number };
      expect(app.ops).toBeGreaterThan(0);
      expect(r.violations).toEqual([]);
      // A reply off by one after the re-founding is still caught.
      const bad = await runRpcScenario(cfg, { ...opts, makeReplica: lyingAfterRefounding });
      expect(bad.violations.some((v) => v.startsWith('true-replies:'))).toBe(true);
    }
  });

  it("re-founded while an async request still ran and others waited: the model starts with the founder's backlog (RPC seed 340888)", async () => {
    // Found on seed 340134 (FINDINGS 32): the founder's history was cut while its `append` c0:24
    // ran and mul c0:17 was queued; the re-founded group starts from its snapshot: the register
    // at c0:24's pre-image, both requests at the head of its backlog, applied before the first
    // view's casts. The model took the register alone and missed both: 2 ops off, 346 false
    // violations (sequential-state and every later reply). It now starts from the whole snapshot
    // (tables and backlog). Since the bootstrap vote changed (FINDINGS 34) 340134 founds at
    // another moment, with no backlog; 340257 had three requests in it (a sweep of
    // 340000..340400 for founders with a backlog: 340020, 340257, and 340133). Since founding
    // proposals expire after suspectMs (FINDINGS 37) a sweep of 340000..341200 finds 340020,
    // 340378, 340573, 340595 and 340888: 340888 is pinned (on 340020 and 340595 the mutant below
    // splits the survivors; on 340378 its run does not re-found). Re-pinned in session 38 after
    // e4aacc8 (nak's origins are a keyed hash under a secret drawn from the injected source): on
    // 340888 the founder's backlog still holds 6, but the mutant below no longer changes the
    // replies (it is caught only as founders starting from 2 states). A sweep of 340000..341200
    // finds 123 re-foundings, 4 with 2 or more in the founder's backlog: 340011 (9), 340595 (3),
    // 340842 (2) and 340888 (6); only on 340011 is the mutant below caught as this test needs (on
    // 340595 it splits the survivors, on 340842 and 340888 neither check below catches it).
    // 340011 is pinned: the founders' history (view 1 of af9a4bd7.1 and bcdb5b8b.1, which lost
    // its majority at 1,460 ms) was cut while its `append` c0:14 ran and mul c0:15 and six more
    // requests were queued; the re-founded view 1 (4,587 ms) starts from that snapshot at all
    // three founders: {"value":870303,"ops":20}, 9 messages in the backlog, c0:14 at its head.
    // Re-pinned in session 39 after FINDINGS 215's fix (stream origins from join points and
    // proven addresses only): 340011 re-founds with nothing in the backlog. A sweep of
    // 340000..340150 finds 22 re-foundings, one with 2 or more in the founder's backlog, 340020
    // (4), on which every check below holds: 340020 is pinned (re-founded view 1.2006 of three).
    // Re-pinned again in session 39 after the merges of the revert of nak/com/gms's address pins
    // (577822e), the client's rule for outcomes after a lost history (17506ce) and the per-host
    // bound of the outcome sessions (90fa622): 340020 re-founds no more. A sweep of
    // 340000..341200 finds 125 re-foundings, 2 with 2 or more in the founder's backlog: 340681
    // (3) and 340888 (6), and every check below holds on both. 340681 is pinned: the founders'
    // history (view 1 of three, which lost its majority at 1,520 ms) was cut while its `append`
    // c1:30 ran and add c1:23 and mul c0:33 were queued; the re-founded view 1 (4,409 ms) starts
    // from that snapshot at all three founders: {"value":88890,"ops":49}, 3 messages and a view
    // in the backlog, c1:30 at its head.
    // Re-pinned in session 41 after FINDINGS 215's joiner side (pins before a view): 340681
    // re-founds with nothing in the backlog. A sweep of 340000..341200 (`npx tsx
    // test/sim/repin.ts backlog --seeds 340000..341200`) finds 126 re-foundings, 4 with 2 or more
    // in the founder's backlog: 340133 (5), 340261 (13), 340486 (11) and 340888 (6); every check
    // below holds on 340133 and 340888 (on 340261 and 340486 the mutant below is not caught).
    // 340133 is pinned: the founders' history (view 2 of three, which lost its majority at
    // 1,940 ms) was cut with requests still to apply; the re-founded view 1 (3,662 ms) starts from
    // it at all three founders, 44e73897.2 at {"value":614262,"ops":33} with 5 messages and a view
    // in the backlog, the two others at {"value":659174,"ops":32} with 6. Re-pinned again in
    // session 41 after the client's outcome query waits grew with the round trip (FINDINGS 228):
    // 340133 no longer has a backlog at its re-founding; `repin.ts backlog --seeds 340888..340888`
    // says it fits: re-founded view 1.3126 at 3,438 ms, 6 in the founder's backlog,
    // skipsQueuedBacklog caught by the state check (the founders hold {"value":880544,"ops":199},
    // the re-founded order gives {"value":195784,"ops":203}), lyingAfterRefounding caught 190 times.
    const { cfg, opts } = backlogCase(340888);
    const r = await runRpcScenario(cfg, opts);
    const m = model(r.sim);
    expect(m.refounded).toBeDefined();
    // The case is reached: a founder's start state still had requests to apply.
    expect(queuedAtRefounding(r, m.refounded)).toBeGreaterThanOrEqual(2);
    expect(r.violations).toEqual([]);
    // Replicas that all skip c0:17 (queued behind the running c0:24) agree with each other, but
    // not with the model: it runs the founder's backlog, so it still sees a request lost.
    const lost = await runRpcScenario(cfg, { ...opts, makeReplica: skipsQueuedBacklog });
    expect(model(lost.sim).refounded).toBeDefined();
    expect(lost.violations.some((v) => v.includes('survivors hold'))).toBe(false);
    // On 340134 the model's state check caught it; on 340257 and 340888 the replies did (the skipped
    // requests' callers got INTERRUPTED where the model, running the backlog, agreed a value); on
    // 340011 the state check does (the founders hold 907129 after 270 operations, the re-founded
    // order gives 463208 after 272); on 340681 too (700946 after 237 operations, 459684 after 239),
    // and on 340133 (79369 after 220 operations, 800145 after 224).
    expect(
      lost.violations.some(
        (v) =>
          /^sequential-state: .* the re-founded order gives/.test(v) ||
          /^true-replies: .* got INTERRUPTED, agreed: value/.test(v),
      ),
    ).toBe(true);
    // A reply off by one after the re-founding is still caught.
    const lying = await runRpcScenario(cfg, { ...opts, makeReplica: lyingAfterRefounding });
    expect(lying.violations.some((v) => v.startsWith('true-replies:'))).toBe(true);
    // The same class (on 340020, 3 operations off: 363 false violations before). Since founding
    // installs only whole proposals (FINDINGS 64) 340020 re-founds no more; 340595 did, with 9
    // requests in the founder's backlog (a sweep of 340000..341200 found 340378, 340595, 340888).
    // Re-chosen in session 28: since the sequencer's Order leaves in its own cast's packet
    // (2ffda18) 340595 re-founds no more; a sweep of 340000..341200 finds founders with 2 or more
    // requests in their backlog on 340374 (2), 340791 (4) and 340888 (6): 340374 is taken.
    // Re-chosen in session 32: since the joiner's challenge echo (67e07a3) 340374 re-founds no
    // more (340888 still does, with 10 requests in the founder's backlog); a sweep of
    // 340000..342128 finds founders with 2 or more requests in their backlog on 340178 (5),
    // 340888 (10), 341245 (3) and 341672 (11): 340178 is taken. Re-chosen again (session 32):
    // since the joiner's trusted challenges (06498ce) and replicas' speaking gate (c759cae)
    // 340178 re-founds no more (340888 still does, with 10 requests in the founder's backlog); a
    // sweep of 340000..340228 finds 28 re-foundings, 2 with 2 or more requests in the founder's
    // backlog: 340020 (3) and 340134 (2). 340020, this class's first seed, is taken. Re-chosen in
    // session 38 after e4aacc8: 340020 re-founds no more; of the sweep above (340011, 340595,
    // 340842, 340888) 340888, this test's seed until then, is taken: 6 in the founder's backlog.
    // The run now also checks that backlog, the shape this comment claims. Checked in session 39
    // (the sweep above): 340888 still re-founds with 6 in the founder's backlog. Checked in
    // session 41 (the sweep above): it still does, and every check of the seed above holds on it.
    const other = await runRpcScenario(backlogCase(340888).cfg, opts);
    const otherModel = model(other.sim);
    expect(otherModel.refounded).toBeDefined();
    expect(queuedAtRefounding(other, otherModel.refounded)).toBeGreaterThanOrEqual(2);
    expect(other.violations).toEqual([]);
  }, 180_000);

  it('re-founded: founders whose snapshots differ only in how much of the common backlog they applied agree (RPC seed 340020)', async () => {
    // FINDINGS 35: the source 35912b0a.2 and 44e73897.2 took the root view in with the register
    // at an async append's pre-image and 3 casts of the backlog still to apply; 9be89c30.2 had
    // run that same append on that same state while cut off (its run settled), took it as the
    // new history's (Replica.takeBack) and applied the other two at once: {"value":556657,
    // "ops":38}, nothing queued. Both are the same point of the history; the checker compared
    // the snapshots' bytes and reported "founders start from 2 states". It now compares them
    // after running each backlog through the model. Since founding proposals expire (FINDINGS
    // 37) 340133 records one start; 340879 (a sweep of 340000..341200) recorded two. Re-chosen in
    // session 28: since the sequencer's Order leaves in its own cast's packet (2ffda18) 340879
    // records one; a sweep of 340000..341200 finds two starts on 340573, 340791, 340888 and
    // 340986, and only on 340791 does the mutant below split the founders into 3 states.
    // Re-chosen in session 32: since the joiner's challenge echo (67e07a3) 340791 records one
    // start; a sweep of 340000..342128 finds two starts on 340462, 340888, 341245, 341510 and
    // 341672 (on 340462, 341510 and 341672 of two founders), and on none does the mutant below
    // split the founders into 3 states. 341245 is taken: 42285037.2 (the source) and
    // 005326e1.1 took the root view in at {"value":387822,"ops":24} with 3 casts of the backlog
    // to apply, d0be8c74.2 at {"value":714736,"ops":27} with none, the same point of the
    // history; the mutant splits them into 2 states. Re-chosen again (session 32): since the
    // joiner's trusted challenges (06498ce) and replicas' speaking gate (c759cae) 341245 records
    // one start. 340888 (the seed of the test above) records two: 5846c7d3.2 (the source) and
    // 127f7d79.1 took the root view in at {"value":830511,"ops":13} with 10 casts of the backlog
    // to apply, e9b03aaa.2 at {"value":441294,"ops":18} with 5, and the checker finds them the
    // same point of the history; the mutant splits them into 2 states. (A sweep of
    // 340000..340228 finds 28 re-foundings, none with two starts.) Re-chosen in session 42:
    // since a later incarnation lifts its process's word of a group (FINDINGS 229) 340888
    // records one start; of 340000..340020 (backlogCase) 340020 is the first that records two
    // with no violation and whose founders the mutant splits into 2 states.
    // The scenario of the backlog test above, on another seed.
    const { cfg, opts } = backlogCase(340020);
    const r = await runRpcScenario(cfg, opts);
    const m = model(r.sim);
    expect(m.refounded).toBeDefined();
    // The case is reached: the founders recorded two different snapshots at the root view.
    const starts = new Set<string>();
    for (const inc of r.sim.incarnations) {
      const v = inc.log.find((l) => l.t === 'view');
      if (v?.t === 'view' && v.key === m.refounded && v.start)
        starts.add(Buffer.from(v.start).toString('base64'));
    }
    expect(starts.size).toBe(2);
    expect(r.violations).toEqual([]);
    // A real split is still caught: founders that restore the source's state one off start
    // from another state than the source (on 340791 each its own: 3 states; on 341245 only
    // d0be8c74.2 restored after a cut: 2 states; on 340888 2 states as well).
    const bad = await runRpcScenario(cfg, { ...opts, makeReplica: offByOneRestore });
    expect(model(bad.sim).refounded).toBeDefined();
    expect(
      bad.violations.some((v) => /^sequential-state: re-founded at .*: founders start from 2 states/.test(v)),
    ).toBe(true);
  }, 180_000);

  it('same-core rejoin keeps one Replica across the incarnations of a node', async () => {
    const faults: Fault[] = ['loss', 'delay', 'splits'];
    for (let seed = 1; seed <= 8; seed++) {
      const r = await runRpcScenario({ ...rpcConfig(seed, 3, faults), rejoin: 'same' });
      const byNode = new Map<number, Set<unknown>>();
      for (const i of r.sim.incarnations) {
        const s = byNode.get(i.rec.node) ?? new Set();
        s.add(i.replica);
        byNode.set(i.rec.node, s);
      }
      if (r.sim.incarnations.length > 3) {
        // A node rejoined: its incarnations share the replica (no crash in this fault set).
        for (const s of byNode.values()) expect(s.size).toBe(1);
        return;
      }
    }
    throw new Error('no seed of 1..8 made a member rejoin');
  });
});
