import { describe, expect, it } from 'vitest';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, runScenario } from '../sim/scenario.js';
import type { Fault } from '../sim/world.js';
import { GmsKind, GmsNet, type GmsNode } from './gms-net.js';

const ALL: Fault[] = ['loss', 'dup', 'reorder', 'delay', 'crash', 'pause', 'partition'];

/** A founded group of `n` nodes, all in view 1. */
function group(n: number): GmsNet {
  const net = new GmsNet(n);
  net.found();
  for (const node of net.nodes) expect(net.view(node)?.members).toHaveLength(n);
  return net;
}

const viewId = (net: GmsNet, node: GmsNode) => net.view(node)?.id ?? 0;

describe('gms: no member stays blocked in a flush nobody drives (issue 10 item 1)', () => {
  it('a participant left in an abandoned attempt is unblocked by the coordinator', () => {
    // n1 and n2 stop hearing n0; n1 suspects it while it still sees a majority and prepares a
    // view without it, but the group is split 3|3 by then: the Prepare to n3..n5 waits on the
    // cut links. n1 loses its majority and abandons; it hears n0 again and withdraws. After the
    // heal the stale Prepare and Abandon block n3..n5, and n0, the coordinator, is not blocked.
    const net = group(6);
    const [n0, n1, n2, n3, n4, n5] = net.nodes as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
    const t0 = net.now;
    net.cutLink(n0, n1, false);
    net.cutLink(n0, n2, false);
    net.run(t0 + 250);
    net.partition([n0, n1, n2], [n3, n4, n5]);
    net.run(t0 + 450);
    expect(net.sentOf(n1, GmsKind.Prepare)).toHaveLength(5);
    net.heal();
    net.partition([n0, n1, n2], [n3, n4, n5]);
    net.run(t0 + 800);
    expect(net.sentOf(n1, GmsKind.Abandon)).toHaveLength(5);
    net.heal();
    net.run(net.now + 2_000);
    for (const n of net.nodes) {
      expect(net.stopped(n)).toBe(false);
      expect(net.blocked(n)).toBe(false);
      expect(viewId(net, n)).toBe(viewId(net, n0));
    }
    expect(viewId(net, n0)).toBe(2);
    expect(net.stats(n0).stuckReports).toBeGreaterThan(0);
  });

  it('group seed 200189 (abandoned flush, then heal): no wedge', () => {
    const cfg = groupConfig(200189, 3 + (200189 % 7), ALL);
    expect(runScenario(cfg, GROUP_CHECKERS).violations).toEqual([]);
  });

  it('a coordinator that was paused reads the answers waiting for it before it blames anyone', () => {
    const net = group(3);
    const [n0, n1] = net.nodes as [GmsNode, GmsNode];
    const joiner = net.add();
    joiner.layer.down({ type: 'join' });
    expect(net.runUntil(() => net.sentOf(n0, GmsKind.Prepare).length > 0, net.now + 1_000)).toBe(true);
    // n1's digest is held on the way; n0 pauses before the flush timeout and n1's digest
    // arrives while it is paused. On resuming, n0 runs its overdue timers before it reads it.
    const t = net.now;
    net.cutLink(n1, n0, false);
    net.run(t + 150);
    net.pause(n0, 200);
    net.run(t + 200);
    net.heal();
    net.run(net.now + 1_000);
    expect(n0.ups.filter((e) => e.type === 'suspect')).toEqual([]);
    expect(net.stats(n0).flushes).toBe(1);
    expect(net.stats(n0).flushDeferred).toBeGreaterThan(0);
    for (const n of net.nodes) expect(net.view(n)?.members).toHaveLength(4);
  });
});
