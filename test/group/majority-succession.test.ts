// The majority-succession checker on hand-made histories: every view a member passes to from
// view V keeps a strict majority of V and admits at most max(1, ⌊(stay − 1) / 2⌋) joiners
// (docs/protocol.md, "gms guarantees" and "Joining a running group"). No sweep has seen it fire
// on the product; a gms whose coordinator flushes without a majority is caught (FINDINGS 137).
import { describe, expect, it } from 'vitest';
import { majoritySuccession } from '../sim/group-checkers.js';
import type { Incarnation, World } from '../sim/world.js';

const V1 = { id: 1, epoch: 1, members: ['a', 'b', 'c', 'd', 'e'], at: 0 };
const V2 = (members: string[]) => ({ id: 2, epoch: 4096, members, at: 10 });

function inc(member: string, views: Incarnation['views']): Incarnation {
  return {
    node: 0,
    member,
    startedAt: 0,
    crashedAt: null,
    casts: [],
    delivered: [],
    views,
    partitionedAt: null,
    state: { chain: 0, others: 0, count: 0 },
    restoredAt: null,
    errors: [],
    stats: () => ({}),
  };
}

const world = (...incs: Incarnation[]) => ({ incarnations: incs }) as unknown as World;

describe('the majority-succession checker', () => {
  it('passes a view that keeps three of five and admits one joiner', () => {
    const v2 = V2(['a', 'b', 'c', 'x']);
    expect(majoritySuccession.check(world(inc('a', [V1, v2]), inc('x', [v2])))).toEqual([]);
  });

  it('reports a view that keeps two of five, once however many members passed to it', () => {
    const v2 = V2(['a', 'b']);
    const out = majoritySuccession.check(world(inc('a', [V1, v2]), inc('b', [V1, v2])));
    expect(out).toEqual(['a: view 2.4096[a,b] keeps 2 of the 5 of 1.1[a,b,c,d,e]']);
  });

  it('reports half of an even view: two of four is no majority', () => {
    const v1 = { ...V1, members: ['a', 'b', 'c', 'd'] };
    expect(majoritySuccession.check(world(inc('a', [v1, V2(['a', 'b'])])))).toHaveLength(1);
  });

  it('reports a view that admits more joiners than max(1, ⌊(stay − 1) / 2⌋)', () => {
    // Five stay: two joiners at most (five of seven); three stay: one (three of four).
    const seven = { ...V1, members: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
    expect(
      majoritySuccession.check(world(inc('a', [seven, V2(['a', 'b', 'c', 'd', 'e', 'x', 'y'])]))),
    ).toEqual([]);
    expect(
      majoritySuccession.check(world(inc('a', [seven, V2(['a', 'b', 'c', 'd', 'e', 'x', 'y', 'z'])]))),
    ).toEqual([
      'a: view 2.4096[a,b,c,d,e,x,y,z] admits 3 joiners, keeps 5 of 1.1[a,b,c,d,e,f,g] (at most 2)',
    ]);
    expect(majoritySuccession.check(world(inc('a', [V1, V2(['a', 'b', 'c', 'x', 'y'])])))).toEqual([
      'a: view 2.4096[a,b,c,x,y] admits 2 joiners, keeps 3 of 1.1[a,b,c,d,e] (at most 1)',
    ]);
  });

  it('lets a view of one admit one joiner: max(1, …), or a group of one never grows', () => {
    const one = { ...V1, members: ['a'] };
    expect(majoritySuccession.check(world(inc('a', [one, V2(['a', 'x'])])))).toEqual([]);
    expect(majoritySuccession.check(world(inc('a', [one, V2(['a', 'x', 'y'])])))).toHaveLength(1);
  });

  it('leaves a founding view alone: a member first in it has no view before', () => {
    expect(majoritySuccession.check(world(inc('a', [{ ...V1, members: ['a'] }])))).toEqual([]);
  });
});
