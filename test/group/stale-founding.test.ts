// A founder that stops right after proposing a group, for longer than its voters wait for the
// install (2 × suspectMs), must not found the group with their confirmations when it runs on
// (RPC seed 900035, FINDINGS 37). The voters gave up meanwhile, came back as new incarnations
// and founded a group of their own. Installed late, the stale founding view named incarnations
// that were gone, counted them as just heard (so its view looked live at once), and its
// lineage beacon made the live group yield to it whenever its founding epoch was the higher.
import { expect, it } from 'vitest';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

const PAUSE_MS = 2_500;

function run(seed: number) {
  const w = new World({
    ...groupConfig(seed, 3, []),
    rejoin: 'same',
    trace: true,
    endMs: 12_000,
    probeAtMs: 9_000,
  });
  planProbes(w);
  for (let t = 1_000; t < 8_000; t += 40) w.at(t, () => w.cast(w.nodes[(t / 40) % 3]!));
  // Stop the first founder the moment it proposes: its voters' confirmations wait for it.
  let founder = -1;
  let wokeAt = 0;
  for (let t = 0; t < 1_000; t += 0.5)
    w.at(t, () => {
      if (founder >= 0) return;
      const line = w.trace.find((l) => l.includes('gms: propose founding'));
      if (!line) return;
      founder = Number(/ n(\d+) gms:/.exec(line)![1]);
      wokeAt = w.now + PAUSE_MS;
      w.pause(w.nodes[founder]!, PAUSE_MS);
    });
  w.run();
  return { w, founder, wokeAt };
}

it.each([1, 2, 3, 4, 5, 6])(
  'a founder stopped past its voters’ patience founds nothing stale (seed %i)',
  (seed) => {
    const { w, founder, wokeAt } = run(seed);
    expect(founder).toBeGreaterThanOrEqual(0);
    const ended = (m: string, at: number) =>
      w.incarnations.some((i) => i.member === m && i.partitionedAt !== null && i.partitionedAt <= at);
    // No group founded after the stop names an incarnation that had ended before it.
    const stale = w.trace.filter((l) => {
      const m = /^(\S+) n\d+ gms: found the group with (\S+)/.exec(l);
      return m !== null && Number(m[1]) >= wokeAt && m[2]!.split(',').some((id) => ended(id, Number(m[1])));
    });
    expect(stale).toEqual([]);
    // No live member yields to another lineage after the founder runs on (the founder may: its
    // own lineage, if any, is the stale one).
    const yielded = w.trace.filter(
      (l) => l.includes('another lineage of the group wins') && !l.includes(` n${founder} `),
    );
    expect(yielded).toEqual([]);
    const last = w.nodes.map((n) => n.rec.views.at(-1)?.members.length);
    expect(last).toEqual([3, 3, 3]);
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w).map((v) => `${c.name}: ${v}`))).toEqual([]);
  },
);
