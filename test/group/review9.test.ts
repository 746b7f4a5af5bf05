// Review 9: the sequencer's removal rules (runtime/layers/seq.ts), scripted in the simulator.
import { describe, expect, it } from 'vitest';
import { historyOf, MemberCore } from '../../runtime/group/core.js';
import { GroupKind } from '../../runtime/group/state-transfer.js';
import type { StateProvider } from '../../runtime/group/types.js';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { DownEvent, Effect, UpEvent } from '../../runtime/stack/types.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

/** The library's default detection (heartbeatMs 100, suspectMs 1000): a pause under a second is
 * no failure. The seq layer's defaults (sequencerStallMs 500). */
const GMS = { heartbeatMs: 100, suspectMs: 1_000, partitionMs: 3_000, bootstrapMs: 300 };

function world(members: number): World {
  const w = new World({
    ...groupConfig(9, members, []),
    stack: parseSpec(GROUP_STACK, { gms: GMS }),
    qos: { order: 'total', resilience: 'majority' },
    endMs: 8_000,
    probeAtMs: 6_500,
  });
  planProbes(w);
  return w;
}

/** Rank `r` of the view node 0 is in, as a node index. */
function byRank(w: World, r: number): number {
  const v = w.nodes[0]!.rec.views.at(-1)!;
  return w.nodes.findIndex((n) => n.rec.member === v.members[r]);
}

/** Members that some view change left out, with the node they ran on. */
function removed(w: World): { member: string; node: number }[] {
  const out = new Map<string, number>();
  for (const i of w.incarnations)
    i.views.forEach((v, k) => {
      if (k === 0) return;
      for (const m of i.views[k - 1]!.members)
        if (!v.members.includes(m)) out.set(m, w.incarnations.find((x) => x.member === m)!.node);
    });
  return [...out].map(([member, node]) => ({ member, node }));
}

describe('review9: the stall rule blames the sequencer for a sender it never heard', () => {
  it('one lost packet and a 700 ms pause of a non-sequencer exclude the healthy sequencer', () => {
    const w = world(4);
    let seqNode = -1;
    let sender = -1;
    w.at(2_000, () => {
      seqNode = byRank(w, 0);
      sender = byRank(w, 1);
      // One datagram from the sender to the sequencer is lost (the others get it) ...
      w.cutLink(sender, seqNode);
      w.cast(w.nodes[sender]!);
    });
    w.at(2_000.1, () => {
      w.cutLink(sender, seqNode, false, true);
      // ... and the sender stops for 700 ms right after (a GC pause): under suspectMs, so it is
      // no failure; it is the one that will repair the sequencer when it runs again.
      w.pause(w.nodes[sender]!, 700);
    });
    w.run();
    const gone = removed(w);
    const seqStats = w.incarnations.map((i) => i.stats().seq ?? {});
    const removals = seqStats.reduce((a, s) => a + (s.sequencerRemovals ?? 0), 0);
    // Whoever is removed, it must not be the sequencer, which ran and stamped everything it got.
    expect({ removals, removedNodes: gone.map((g) => g.node), seqNode }).toEqual({
      removals: 0,
      removedNodes: [],
      seqNode,
    });
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  });
});

describe('review9: the stall rule after a sender crashed', () => {
  it('one lost packet and a crash of a non-sequencer: only the crashed one goes, nobody blames the sequencer', () => {
    const w = world(4);
    let seqNode = -1;
    let sender = -1;
    w.at(2_000, () => {
      seqNode = byRank(w, 0);
      sender = byRank(w, 1);
      // One datagram from the sender to the sequencer is lost (the others get it) ...
      w.cutLink(sender, seqNode);
      w.cast(w.nodes[sender]!);
    });
    w.at(2_000.1, () => {
      w.cutLink(sender, seqNode, false, true);
      // ... and the sender crashes right after: it alone should be removed.
      w.crash(w.nodes[sender]!);
    });
    w.run();
    const gone = removed(w);
    const seqStats = w.incarnations.map((i) => i.stats().seq ?? {});
    const removals = seqStats.reduce((a, s) => a + (s.sequencerRemovals ?? 0), 0);
    // Only the crashed member is removed. Before the fix the stall rule also asked for the
    // sequencer's removal (2 members at 761 ms); the flush waited for the crashed member until it
    // was suspected and the demand went with that view change.
    expect(removals).toBe(0);
    expect(gone.map((g) => g.node)).toEqual([sender]);
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  });
});

/** A stack whose deliveries the test injects, and which records what the core sends down. */
function fakeStack(): Stack & { inject: UpEvent[]; sent: DownEvent[] } {
  const inject: UpEvent[] = [];
  const sent: DownEvent[] = [];
  const up = (): Effect[] => inject.splice(0).map((event) => ({ kind: 'up', event }));
  return {
    inject,
    sent,
    down(ev: DownEvent) {
      if (ev.type !== 'join') sent.push(ev);
      return up();
    },
    receive: () => up(),
    advance: () => up(),
    nextDeadline: () => undefined,
    stats: () => ({}),
  } as unknown as Stack & { inject: UpEvent[]; sent: DownEvent[] };
}

describe('review9: a joiner admitted while the co-founders still settle their state', () => {
  it("is sent the agreed state, not rank 0's stale one (pins behaviour that holds)", () => {
    // Rank 0 of the founding view is behind; g.1 is the most advanced founder (the source).
    let state: Uint8Array = new Uint8Array([1]); // rank 0's own, stale state
    const provider: StateProvider = {
      snapshot: () => state,
      restore: (s) => {
        state = s;
      },
    };
    let stack!: ReturnType<typeof fakeStack>;
    const core = new MemberCore({
      groupName: 'g',
      node: 1,
      makeStack: () => {
        stack = fakeStack();
        return stack;
      },
      state: provider,
    });
    const feed = (ev: UpEvent, now = 1) => {
      stack.inject.push(ev);
      return core.receive(new Uint8Array(0), 'x:1', now);
    };
    const deliver = (
      from: string,
      header: unknown[],
      cast: boolean,
      gseq?: number,
      payload = new Uint8Array(0),
    ) =>
      feed({
        type: 'deliver',
        msg: { headers: [header], payload },
        from,
        cast,
        meta: { viewId: 1, ...(gseq !== undefined ? { gseq, qos: { order: 'total' as const } } : {}) },
      });
    // A history: view 2 of an earlier group, one ordered delivery, then cut off.
    core.start(0);
    let self = core.self;
    feed({
      type: 'view',
      view: { id: 2, members: [self], addresses: ['a:1'], epoch: 5 },
      delta: { previousId: undefined, joined: [self], left: [], failed: [] },
    });
    deliver(self, [GroupKind.App], true, 0);
    core.start(2);
    self = core.self;
    // The group is re-founded: {self (rank 0), g.1}; g.1's offer is ahead (view 3).
    feed({
      type: 'view',
      view: { id: 1, members: [self, 'g.1'], addresses: ['a:1', 'b:2'], epoch: 9 },
      delta: { previousId: undefined, joined: [self, 'g.1'], left: [], failed: [] },
    });
    // Both in the lineage the first incarnation founded alone.
    const lineage = historyOf(provider, 2).lineage;
    deliver(self, [GroupKind.StateOffer, 1, 2, 5, 1, lineage, 0], true, 0);
    deliver('g.1', [GroupKind.StateOffer, 1, 3, 0, 4, lineage, 0], true, 1);
    // Decided: g.1 is the source; its chunks are on their way. A joiner is admitted meanwhile.
    const effects = feed(
      {
        type: 'view',
        view: { id: 2, members: [self, 'g.1', 'j.1'], addresses: ['a:1', 'b:2', 'c:3'], epoch: 9 },
        delta: { previousId: 1, joined: ['j.1'], left: [], failed: [] },
      },
      2,
    );
    const take = (effects: ReturnType<typeof feed>) => {
      for (const e of effects) if (e.kind === 'app' && e.event.type === 'snapshot') e.event.take(3);
    };
    take(effects); // the driver takes any snapshot it is handed
    // Then the source's state arrives here.
    take(deliver('g.1', [GroupKind.StateChunk, 1, 0, 1, 2, 77], false, undefined, new Uint8Array([42])));
    expect(state).toStrictEqual(new Uint8Array([42]));
    const toJoiner = stack.sent.filter(
      (e): e is Extract<DownEvent, { type: 'send' }> => e.type === 'send' && e.to === 'j.1',
    );
    // The joiner starts from the group's state (42), never from rank 0's stale one (1): the
    // snapshot event is held with the founding view's other events until the state is in.
    expect(toJoiner.map((s) => [...s.msg.payload])).toStrictEqual([[42]]);
  });
});
