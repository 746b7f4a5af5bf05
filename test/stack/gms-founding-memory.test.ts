import { describe, expect, it } from 'vitest';
import { memberId } from '../../runtime/stack/member.js';
import type { LastView } from '../../runtime/stack/types.js';
import { FAST, GmsKind, GmsNet, type GmsNode } from './gms-net.js';

/**
 * A joiner whose process was in a view before (it stopped and came back) counts towards a
 * founding quorum only when the members of that view it cannot account for are no strict
 * majority of it: else a primary that went on from that view may be running behind a partition
 * (FINDINGS 39, 48, 49). Five seeds n0..n4; n0 and n1 are never started (a primary behind a
 * partition, or dead processes).
 */

/** n2's last view: n2 (its previous incarnation) and the given nodes, at `addresses`. */
function lastView(net: GmsNet, others: number[], addresses?: string[]): LastView {
  const self = memberId({ node: 0x102, inc: 0 });
  const members = [self, ...others.map((i) => net.nodes[i]!.id)];
  return { members, addresses: addresses ?? ['n2', ...others.map((i) => `n${i}`)], self };
}

/** n2 joins remembering `last`, with n3 and n4 (and `extra`) fresh; the views they end in. */
function run(last: (net: GmsNet) => LastView | undefined, extra: number[] = []): GmsNet {
  const net = new GmsNet(7, FAST);
  const n = net.nodes as GmsNode[];
  const lv = last(net);
  n[2]!.layer.down({ type: 'join', ...(lv ? { lastView: lv } : {}) });
  for (const i of [3, 4, ...extra]) n[i]!.layer.down({ type: 'join' });
  net.run(3_000);
  return net;
}

const founded = (net: GmsNet, i: number): boolean => net.view(net.nodes[i]!) !== undefined;

describe('gms: founding after a stop, with the last view remembered', () => {
  // GmsNet's seeds are its first `count` nodes: 7 here, so a quorum is 4. n2, n3, n4 and n5 join.
  it('a fresh process founds with three others: 4 of 7 seeds (the control)', () => {
    const net = run(() => undefined, [5]);
    expect(founded(net, 2)).toBe(true);
  });

  it('one whose last view was {n2, n0, n1} does not count: no founding', () => {
    // The schedule of FINDINGS 39: the view had shrunk to n2, n0, n1, a split left n0 and n1 a
    // legitimate primary, and n2, stopped, came back beside restarted seeds. Founding with them
    // made a second group; the calls it answered were lost at the heal.
    const net = run((w) => lastView(w, [0, 1]), [5]);
    expect([2, 3, 4, 5].some((i) => founded(net, i))).toBe(false);
  });

  it('it still founds with the others when their votes alone make a quorum, and offers its state', () => {
    // Abstaining would change nothing there but lose n2's history (it would join the group the
    // others found, taking their state): it is one of the founders instead.
    const net = run((w) => lastView(w, [0, 1]), [5, 6]);
    const v = net.view(net.nodes[2]!);
    expect(v?.id).toBe(1);
    expect(v?.members).toHaveLength(5);
  });

  it('it counts once it hears one of n0, n1 joining (no majority of that view is unaccounted)', () => {
    const net = run((w) => lastView(w, [0, 1]), [5]);
    expect(founded(net, 2)).toBe(false);
    net.nodes[0]!.layer.down({ type: 'join' });
    net.run(6_000);
    expect(net.view(net.nodes[2]!)?.members).toHaveLength(5);
  });

  it('a member of the last view heard Joining, but not among the co-founders, is not accounted for', () => {
    // A Join from n0's address (its process restarted) tells that it was joining then, not that
    // it is not in the primary now: one Join and it may have been admitted there (a simulated
    // schedule with a one-way link did exactly that, FINDINGS 49). Only co-founders, bound to
    // this founding, are known to be in no running group.
    const net = run((w) => lastView(w, [0, 1]), [5]);
    for (let t = 0; t < 3; t++) {
      net.injectProbe(net.nodes[2]!, 'abcdef00.1', 'n0', [GmsKind.Join, '', '']);
      net.run(net.now + 100);
    }
    net.run(net.now + 3_000);
    expect([2, 3, 4, 5].some((i) => founded(net, i))).toBe(false);
  });

  it('a view of two never blocks: the other member alone is no primary', () => {
    // A re-founding after a lost majority (test/rpc/refound.test.ts): A's last view was {A, B}.
    const net = run((w) => lastView(w, [0]), [5]);
    expect(founded(net, 2)).toBe(true);
  });

  it('a wildcard address in the view accounts for no one (replicas all bound to 0.0.0.0:7001)', () => {
    // Every replica bound the same way shares the address: taken as its own, or as a joiner's,
    // it hid the members that may be the primary.
    const wild = (w: GmsNet) => lastView(w, [0, 1], ['0.0.0.0:7001', '0.0.0.0:7001', '0.0.0.0:7001']);
    expect([2, 3, 4, 5].some((i) => founded(run(wild, [5]), i))).toBe(false);
  });

  it('a member of the view heard as its next incarnation (same node) is accounted for', () => {
    const net = run((w) => lastView(w, [0, 1], ['0.0.0.0:7001', '0.0.0.0:7001', '0.0.0.0:7001']), [5]);
    net.restart(net.nodes[0]!); // n0's process, a new incarnation: same node
    net.nodes[0]!.layer.down({ type: 'join' });
    net.run(6_000);
    expect(net.view(net.nodes[2]!)?.members).toHaveLength(5);
  });
});
