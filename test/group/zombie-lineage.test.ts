// A coordinator that runs on after a stop past the failure detector's whole patience (a
// "zombie") must not make a live group yield to its dead lineage (RPC seed 500145, FINDINGS 36).
// Its view's other member left meanwhile and founded a new group with a third; the zombie's view
// has the higher id, so by the lineage compare (later view wins) the new group would yield, as it
// did before the fix: its members stopped, the group lost its majority, and the zombie answered
// from a dead view.
import { expect, it } from 'vitest';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

it('a zombie coordinator does not make the group founded without it yield', () => {
  const w = new World({ ...groupConfig(21, 3, []), rejoin: 'same', endMs: 12_000, probeAtMs: 9_000 });
  planProbes(w);
  for (let t = 600; t < 8_000; t += 40) w.at(t, () => w.cast(w.nodes[(t / 40) % 3]!));
  const nodeOf = (member: string) => w.incarnations.find((i) => i.member === member)!.node;
  let zombie = -1;
  let crashed = -1;
  // The founded group of three loses one member (crashed, back later as a fresh process): the
  // view of the other two holds the higher view id.
  w.at(1_000, () => {
    const v = w.nodes[0]!.rec.views.at(-1)!;
    crashed = nodeOf(v.members[2]!);
    w.crash(w.nodes[crashed]!);
  });
  // Its coordinator stops 3 s: the other one, alone, partitions after partitionMs (900) and
  // founds again with the restarted third.
  w.at(2_000, () => {
    const live = w.nodes.find((n) => n.alive)!;
    zombie = nodeOf(live.rec.views.at(-1)!.members[0]!);
    w.pause(w.nodes[zombie]!, 3_000);
  });
  w.at(2_300, () => w.restart(crashed));
  w.run();
  expect(zombie).toBeGreaterThanOrEqual(0);
  const yielded = w.incarnations.filter(
    (i) => i.node !== zombie && i.partitionedAt !== null && i.partitionedAt > 5_000,
  );
  // Before the fix: both members of the new group stopped at 5,000 ms ("another lineage of the
  // group wins"), and the group was founded a third time.
  expect(yielded.map((i) => `${i.member} at ${i.partitionedAt}`)).toEqual([]);
  // The zombie rejoins the live group: at the end all three share one view.
  const last = w.nodes.map((n) => n.rec.views.at(-1)?.members.length);
  expect(last).toEqual([3, 3, 3]);
  expect(GROUP_CHECKERS.flatMap((c) => c.check(w).map((v) => `${c.name}: ${v}`))).toEqual([]);
});
