// Rejoin damping must not hold up a re-founding (real-process chaos seed 202, `--amnesia
// --max-down 3`). A member excluded twice in a row waits out its damping before a running group
// admits it again; before the fix (`Group` started the new incarnation only when the wait was
// over) it did not even look for the group meanwhile, and when the group lost its majority in
// that time the survivors could not re-found without its vote: three of five replicas live and no
// group for 31 s. Now it starts at once, votes, and only its admission waits.
import { expect, it } from 'vitest';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

const DAMP_MS = 4_000;

it('a damped member votes in the re-founding its group needs, long before its wait is over', () => {
  const w = new World({
    ...groupConfig(7, 3, []),
    rejoin: 'same',
    rejoinDampMs: DAMP_MS,
    endMs: 14_000,
    trace: true,
  });
  planProbes(w);
  for (let t = 600; t < 12_000; t += 50) w.at(t, () => w.cast(w.nodes[(t / 50) % 3]!));
  const [a, b, x] = [w.nodes[0]!, w.nodes[1]!, w.nodes[2]!];
  // x is excluded twice: admitted again at once the first time, then damped (8 s from its rejoin).
  w.at(1_000, () => w.pause(x, 700));
  w.at(3_500, () => w.pause(x, 700));
  // While x waits, a crashes: b alone holds no majority of {a, b} and gives up, and only b and
  // x together (2 of the 3 seeds) can found the group again.
  let crashedAt = 0;
  w.at(4_600, () => {
    crashedAt = w.now;
    w.crash(a);
  });
  w.run();
  const damped = w.trace.filter((l) => l.includes(`${x.address} rejoin damped`));
  expect(damped.map((l) => l.replace(/^\S+ /, ''))).toEqual([
    `${x.address} rejoin damped: admitted after 0 ms`,
    expect.stringMatching(/admitted after [1-9]\d{3} ms$/),
  ]);
  const admitAfter = Number(/after (\d+) ms/.exec(damped[1]!)![1]) + Number(damped[1]!.split(' ')[0]);
  // b and x founded a group of two, before x's wait was over (the old behaviour: only after).
  const founded = x.rec.views.find((v) => v.members.length === 2 && v.members.includes(b.rec.member));
  expect(founded, w.trace.slice(-40).join('\n')).toBeDefined();
  expect(founded!.at).toBeGreaterThan(crashedAt);
  expect(founded!.at).toBeLessThan(admitAfter);
  expect(GROUP_CHECKERS.flatMap((c) => c.check(w).map((v) => `${c.name}: ${v}`))).toEqual([]);
});
