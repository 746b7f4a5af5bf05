// A call context's random(): the same sequence at every replica (seeded by the request id),
// drawn from one generator per call whether it is called as a method, taken out of the
// context first (`const { random } = currentCall()`) or called on a spread copy of it.
import { describe, expect, it } from 'vitest';
import { ReplicaCallContext, randomFor } from '../../runtime/rpc/context.js';

const view = Object.freeze({ id: 1, members: Object.freeze(['a', 'b']) });
const context = (id: string) => new ReplicaCallContext(id, 'svc', 'm', 'ordered', view, 'a', 0);

describe('ReplicaCallContext.random', () => {
  it('draws the request id’s sequence, taken out of the context or not', () => {
    const reference = randomFor('c:7');
    const want = [reference(), reference(), reference(), reference()];
    const asMethod = context('c:7');
    expect([asMethod.random(), asMethod.random(), asMethod.random(), asMethod.random()]).toEqual(want);
    const { random } = context('c:7');
    expect([random(), random(), random(), random()]).toEqual(want);
    // Mixed: one generator per call, however it is reached.
    const mixed = context('c:7');
    const taken = mixed.random;
    expect([taken(), mixed.random(), taken(), mixed.random()]).toEqual(want);
    expect(mixed.random).toBe(taken);
    const copy = { ...context('c:7') };
    expect([copy.random(), copy.random()]).toEqual(want.slice(0, 2));
  });

  it('gives another request another sequence', () => {
    expect(context('c:8').random()).not.toBe(context('c:7').random());
  });
});
