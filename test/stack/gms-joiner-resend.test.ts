import { describe, expect, it } from 'vitest';
import { coordinatorFirst, FAST, foundGroup, GmsKind, type GmsNode } from './gms-net.js';

/**
 * FINDINGS 258: a keyless joiner takes a running group's Install only from a sender whose Here
 * proved its address (FINDINGS 215). When only the coordinator's Here had, and the coordinator
 * was cut off right after the Install (lost to the joiner), the other members resent the
 * Install at each of its Joins and it refused every copy; they were 2 of 4 and stopped, though
 * the joiner ran and reached them (RPC seed 431150135, `xfer`). Now a member answers a Join from
 * a member of its view with a Here echoing its challenge too, so its resend is taken.
 */
describe('a joiner whose coordinator is cut off right after its Install', () => {
  it('installs the view the other members resend, and the group goes on', () => {
    const net = foundGroup(3, FAST);
    const [coord, ...others] = coordinatorFirst(net);
    const joiner = net.add(['n0', 'n1', 'n2']);
    let cut = false;
    // Until the cut, only the coordinator's Heres reach the joiner (the others' Joins crossed
    // their founding, as in the seed), and its Install to the joiner is lost.
    net.drop = (src, dst, h) =>
      dst === joiner &&
      ((src === coord && h[0] === GmsKind.Install) || (!cut && src !== coord && h[0] === GmsKind.Here));
    joiner.layer.down({ type: 'join' });
    const admitted = (n: GmsNode) => net.view(n)?.members.includes(joiner.id) === true;
    expect(net.runUntil(() => [coord, ...others].every(admitted), net.now + 3_000)).toBe(true);
    expect(net.view(joiner)).toBeUndefined();
    cut = true;
    net.partition([coord], [...others, joiner]);
    net.run(net.now + 4_000);
    // The joiner installed a view of the group (the Install resent by a member whose Here now
    // proved its address), and the members that kept a majority did not stop.
    const seen = net.view(joiner);
    expect(seen?.members).toEqual(expect.arrayContaining([joiner.id, ...others.map((n) => n.id)]));
    for (const n of [...others, joiner]) {
      expect(net.stopped(n)).toBe(false);
      expect(net.view(n)?.members).not.toContain(coord.id);
      expect(net.view(n)?.members).toHaveLength(3);
    }
  });
});
