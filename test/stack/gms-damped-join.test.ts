import { describe, expect, it } from 'vitest';
import { FAST, GmsNet } from './gms-net.js';

/**
 * A damped rejoin (`join` with `admitAfter`, what `Group` does while exclusions repeat) is not
 * admitted to a running group before its time, but votes in a founding at once. Real-process
 * chaos seed 202 (`--amnesia --max-down 3`): a survivor of a lost majority waited out 30.5 s of
 * damping before it even looked for the group, and the other survivors could not re-found
 * without its vote: three of five replicas live, no group for 31 s.
 */
describe('a damped rejoin', () => {
  it('is not admitted to a running group before admitAfter, and is soon after', () => {
    const net = new GmsNet(3, FAST);
    net.found();
    const late = net.add(['n0', 'n1', 'n2']);
    const admitAfter = net.now + 2_000;
    late.layer.down({ type: 'join', admitAfter });
    // It hears the group (Heres come back) but echoes no nonce, so no coordinator records it.
    net.run(admitAfter - 50);
    expect(net.view(late)).toBeUndefined();
    expect(net.view(net.nodes[0]!)!.members).toHaveLength(3);
    expect(late.probed.length).toBeGreaterThan(5);
    // Once its time is up, its next Join echoes the nonce and the coordinator admits it.
    expect(net.runUntil(() => net.view(late)?.members.length === 4, admitAfter + 4 * FAST.joinRetryMs!)).toBe(
      true,
    );
  });

  it('votes in a re-founding long before admitAfter (its vote is needed: 3 of 5 seeds)', () => {
    // Five seeds, two never come back: founding takes all three live joiners' votes.
    const net = new GmsNet(5, FAST);
    const live = net.nodes.slice(0, 3);
    live[0]!.layer.down({ type: 'join' });
    live[1]!.layer.down({ type: 'join' });
    live[2]!.layer.down({ type: 'join', admitAfter: net.now + 30_000 });
    expect(net.runUntil(() => live.every((n) => net.view(n)?.members.length === 3), 5_000)).toBe(true);
  });
});
