// The resilience checker on hand-made histories: the simulator's random faults rarely hit the
// narrow window where it matters (the deliverer, holding a message nobody else has, fails at
// once), so its logic is pinned down here, case by case.
import { describe, expect, it } from 'vitest';
import { resilience } from '../sim/group-checkers.js';
import type { Incarnation, SimDelivery, World } from '../sim/world.js';

const V1 = { id: 1, epoch: 1, members: ['a', 'b', 'c', 'd', 'e'], at: 0 };
const V2 = (members: string[]) => ({ id: 2, epoch: 9, members, at: 10 });

function inc(member: string, views: Incarnation['views'], delivered: SimDelivery[]): Incarnation {
  return {
    node: 0,
    member,
    startedAt: 0,
    crashedAt: null,
    casts: [],
    delivered,
    views,
    partitionedAt: null,
    state: { chain: 0, others: 0, count: 0 },
    restoredAt: null,
    errors: [],
    stats: () => ({}),
  };
}

/** `a` delivered m in V1 and failed; `survivors` moved on to V2 without it. */
function history(qos: Pick<SimDelivery, 'resilience' | 'k'>, survivors: string[]): World {
  const m: SimDelivery = { from: 'a', payload: 'a#0', viewId: 1, gseq: 0, order: 'total', ...qos };
  return {
    incarnations: [
      { ...inc('a', [V1], [m]), crashedAt: 5 },
      ...survivors.map((s) => inc(s, [V1, V2(survivors)], [])),
    ],
  } as unknown as World;
}

describe('the resilience checker', () => {
  it('safe: a survivor that moved on without the message is a violation', () => {
    expect(resilience.check(history({ resilience: 'safe' }, ['b', 'c', 'd', 'e']))).toHaveLength(4);
  });

  it('majority: a violation when the next view holds a majority of the old one, not otherwise', () => {
    expect(resilience.check(history({ resilience: 'majority' }, ['b', 'c', 'd']))).toHaveLength(3);
    expect(resilience.check(history({ resilience: 'majority' }, ['b', 'c']))).toEqual([]);
  });

  it('k: a violation while at most k members were lost, not beyond', () => {
    expect(resilience.check(history({ resilience: 'k', k: 1 }, ['b', 'c', 'd', 'e']))).toHaveLength(4);
    expect(resilience.check(history({ resilience: 'k', k: 1 }, ['b', 'c', 'd']))).toEqual([]);
    expect(resilience.check(history({ resilience: 'k', k: 2 }, ['b', 'c', 'd']))).toHaveLength(3);
  });

  it('none promises nothing once its deliverer fails', () => {
    expect(resilience.check(history({ resilience: 'none' }, ['b', 'c', 'd', 'e']))).toEqual([]);
  });

  it('no violation when the survivors delivered it in the same view', () => {
    const w = history({ resilience: 'safe' }, ['b', 'c']);
    for (const i of w.incarnations.slice(1))
      i.delivered.push({ from: 'a', payload: 'a#0', viewId: 1, gseq: 0, order: 'total', resilience: 'safe' });
    expect(resilience.check(w)).toEqual([]);
  });
});
