// FINDINGS 64: a founding view is a whole proposal every member of which confirmed it, a Confirm
// counts only for the proposal it names, and a bound voter remembers its founder's latest
// proposal. Each schedule founded a second group beside the first before (58–60 violations on
// seed 1, no majority lost; test/sim/repro/founding-proposals.ts).
import { expect, it } from 'vitest';
import { foundingRun } from './repro/founding-proposals.js';

it.each(['wide', 'wide-crash', 'again'] as const)(
  '%s: the founding happens, the network splits as it does, and no second group is founded',
  async (name) => {
    const r = await foundingRun(name, 1);
    expect(r.split).toBe(true);
    expect(r.losses).toEqual([]);
    expect(r.violations).toEqual([]);
  },
  60_000,
);

it('twice: a dead incarnation late Confirm and its successor no longer seat one seed twice', async () => {
  // Before, F founded with both incarnations of V (three votes from two seeds) and the split
  // it arms let three seeds found beside it. Now F never founds with two of V's incarnations.
  const r = await foundingRun('twice', 1);
  expect(r.losses).toEqual([]);
  expect(r.violations).toEqual([]);
}, 60_000);
