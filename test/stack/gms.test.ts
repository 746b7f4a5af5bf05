import { describe, expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import type { LayerFactory } from '../../runtime/stack/types.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { runSeed, SIM_DEFAULTS } from '../sim/run.js';
import { GMS_SIM_OPTIONS, groupConfig, planProbes, runScenario } from '../sim/scenario.js';
import { type Fault, World } from '../sim/world.js';
import {
  coordinatorFirst,
  FAST,
  GmsKind,
  GmsNet,
  type GmsNode,
  foundGroup as group,
  installOf,
  viewIdOf as viewId,
} from './gms-net.js';

const ALL: Fault[] = ['loss', 'dup', 'reorder', 'delay', 'crash', 'pause', 'partition'];

/** A seed of the group-patterns mode's faults (splits and one-way links too, rejoining alike). */
const patternSeed = (seed: number, members: string, delivery: 'fanout' | 'multicast') =>
  runSeed({ ...SIM_DEFAULTS, members, faults: [...ALL, 'splits', 'links'], delivery, rejoin: 'same' }, seed);

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

  it('group seed 202852 (FlushOk switch: the first coordinator still installs): one lineage', () => {
    // Participants answered n5, switched to n4's later attempt, then n5's Install came: they
    // keep their promise (they delivered nothing past n5's cut), so nobody forms a second view 2.
    const cfg = groupConfig(202852, 3 + (202852 % 7), ALL);
    expect(runScenario(cfg, GROUP_CHECKERS).violations).toEqual([]);
  });

  it('group seed 302244 (FlushOk switch across a partition): both view 2s end view 1 alike', async () => {
    // Two members sent FlushOk to coordinator A, a partition kept A's Install from them, and
    // they installed a second view 2 with a third member at a higher cut (FINDINGS item 12). On
    // branch merge the schedule no longer reaches that race: a guard, the unit tests below and
    // seed 202852 are the proof.
    const r = await runSeed(
      {
        ...SIM_DEFAULTS,
        members: '3..9',
        faults: [...ALL, 'splits', 'links', 'skew', 'slow'],
        delivery: 'fanout',
        rejoin: 'same',
      },
      302244,
    );
    expect(r.violations).toEqual([]);
  });

  it('group seed 200038 (a promise whose coordinator crashed; members past its cut): no wedge', () => {
    // Members that delivered past the adopted cut must stop, not wait to be suspected: the
    // suspicion is withdrawn on their next heartbeat and the same attempt restarts forever.
    const cfg = groupConfig(200038, 3 + (200038 % 7), ALL);
    expect(runScenario(cfg, GROUP_CHECKERS).violations).toEqual([]);
  });

  it('group seed 200673 (others fail members the coordinator trusts): no minority view', () => {
    // Right after a heal, two members' stale reports fail five of seven at a coordinator that
    // suspects nobody; its flush of {itself, one member} must not start, or that member, who
    // had answered the majority side's flush, installs the minority's view 2 (two lineages).
    const cfg = { ...groupConfig(200673, 3 + (200673 % 7), ALL), delivery: 'fanout' as const };
    const r = runScenario(cfg, GROUP_CHECKERS);
    expect(r.violations).toEqual([]);
    for (const i of r.world.incarnations)
      i.views.forEach((v, k) => {
        const prev = k > 0 ? i.views[k - 1] : undefined;
        if (!prev || v.id !== prev.id + 1) return;
        const kept = v.members.filter((m) => prev.members.includes(m)).length;
        expect(kept * 2).toBeGreaterThan(prev.members.length);
      });
  });

  it('group seed 200094 (casts cut off by an adopted promise): the sender casts them again', () => {
    // n1 cast seven times in view 3 as a partition began; the other side promised a cut of
    // view 3 without them, and the view-4 flush after the heal adopted it. Membership discards
    // what lies past the cut at install, so n1 never delivered its own casts (self-delivery):
    // the order layer must cast again what never came back.
    const cfg = { ...groupConfig(200094, 3 + (200094 % 7), ALL), delivery: 'fanout' as const };
    expect(runScenario(cfg, GROUP_CHECKERS).violations).toEqual([]);
  });

  it('group seed 200182 (a FlushOk switch leaves the coordinator alone in its view): no wedge', () => {
    // Its members must see from the coordinator alone that they were left behind.
    const cfg = groupConfig(200182, 3 + (200182 % 7), ALL);
    expect(runScenario(cfg, GROUP_CHECKERS).violations).toEqual([]);
  });

  it('group seed 501016 (a member failed on evidence, then trusted as a coordinator): no wedge', async () => {
    // The coordinator timed out on a member, then took that member's stronger Prepare (trust):
    // the member left its suspects but not its forced failures, so every later startFlush
    // counted it out, found too few participants and returned, while the member deferred to
    // the coordinator: two views, no progress, from 3 s to the end.
    expect((await patternSeed(501016, '5..9', 'fanout')).violations).toEqual([]);
  });

  it('group seed 2001871 (a joiner whose state provider left): nothing delivered after it gives up', async () => {
    // The joiner installed view 3 without its provider and gave up ('state provider left'), but
    // the three ordered messages the stack produced in the same run still reached its
    // application; rejoining with the same application it carried them into the next group
    // (survivors held counts 70 and 73).
    expect((await patternSeed(2001871, '3..9', 'multicast')).violations).toEqual([]);
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

describe('gms: joiner admission (issue 10 item 6, issue 11)', () => {
  it('a joiner is admitted when heartbeats come as often as batchMs (the flush is not put off)', () => {
    // The fd tick asks for a flush every heartbeat while a joiner waits. Each ask re-armed the
    // flushStart timer (batchMs), so with heartbeatMs 5 = batchMs it never fired: no joiner was
    // ever admitted (seen over real UDP with a fifth of the datagrams lost).
    const net = group(2, { ...FAST, heartbeatMs: 5, batchMs: 5 });
    const j = net.add();
    j.layer.down({ type: 'join' });
    expect(net.runUntil(() => net.view(j) !== undefined, net.now + 2_000)).toBe(true);
    expect(net.view(j)!.members).toHaveLength(3);
  });

  it('a member whose Install was lost asks the members already in the view for it', () => {
    // Only the two lowest-ranked members answer an old view's heartbeats with the Install again;
    // with both slow or paused the member gave up as left behind, though the view included it
    // (session 22's class E). Its Join to any member of the view now brings the Install.
    const net = group(4);
    const [n0, n1, , n3] = net.nodes as GmsNode[];
    net.drop = (src, dst, h) => dst === n3 && (src === n0 || src === n1) && h[0] === GmsKind.Install;
    const j = net.add();
    j.layer.down({ type: 'join' });
    expect(net.runUntil(() => net.view(j) !== undefined, net.now + 2_000)).toBe(true);
    net.run(net.now + 1_500);
    expect(net.stopped(n3!)).toBe(false);
    expect(net.view(n3!)?.members).toEqual(net.view(n0!)?.members);
    expect(net.view(n0!)?.members).toHaveLength(5);
  });

  it('a coordinator outbid at the Sync step starts over above the ballot, excluding nobody', () => {
    // n1 sent its Digest, then took n2's higher ballot before n0's Sync came: it will never send
    // n0 a FlushOk. n0 restarted above a higher ballot only for participants without a Digest,
    // so it waited out the step and excluded n1, which never failed (session 22's class G.4).
    const net = group(3);
    const [n0, n1, n2] = net.nodes as GmsNode[];
    let outbid: number | undefined;
    net.drop = (src, dst, h) => {
      if (src !== n0 || dst !== n1 || h[0] !== GmsKind.Sync) return false;
      if (outbid === undefined) {
        outbid = h[2] as number;
        const v = net.view(n1!)!;
        net.at(net.now + 0.1, () =>
          net.inject(n1!, n2!.id, [GmsKind.Prepare, h[1], outbid! + 1, v.members, v.addresses]),
        );
      }
      return h[2] === outbid; // the first attempt's Sync (and its resends) never reaches n1
    };
    const j = net.add();
    j.layer.down({ type: 'join' });
    net.run(net.now + 3_000);
    expect(outbid).toBeDefined();
    for (const n of [n0!, n1!, n2!, j]) expect(net.view(n)?.members).toHaveLength(4);
  });

  it('a joiner silent past joinFreshMs is not admitted (its record expires)', () => {
    // Found by group seed 203139 (a joiner admitted 1.2 s after it crashed). That seed's history
    // has changed since, and it, and the seeds around it, pass with the expiry removed; this
    // case fails without it.
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const ghost = 'deadbeef.1';
    // n2 goes silent, so the next flush waits a flush timeout for it; the joiner proves its
    // address once, then dies.
    net.cutLink(n2, n0);
    net.cutLink(n2, n1);
    net.joinProven(n0, ghost, 'n99');
    net.run(net.now + 2_000);
    const views = n0.ups.flatMap((e) => (e.type === 'view' ? [e.view.members] : []));
    expect(views.filter((v) => v.includes(ghost))).toEqual([]);
    expect(views.at(-1)).toEqual([n0.id, n1.id]);
  });

  it('forged Joins from invented ids never enter a view: no answer to the nonce, no record', () => {
    const net = group(3);
    const real = net.nodes.map((n) => n.id);
    const [n0] = net.nodes as [GmsNode];
    const fakes = Array.from({ length: 6 }, (_, i) => `f0f0f0${i}0.1`);
    // The forger resends at will, with no nonce, a made-up one, or a nonce sent to another
    // address (it cannot read what goes to the addresses it claims).
    const other = net.joinProven(n0, 'abababab.1', 'elsewhere');
    const nonces = ['', '0123456789abcdef', other];
    for (let t = 0; t < 3_000; t += 50)
      net.at(net.now + t, () => {
        for (const [i, f] of fakes.entries())
          net.injectProbe(n0, f, `x${f}`, [GmsKind.Join, '', nonces[i % nonces.length]!]);
      });
    net.run(net.now + 4_000);
    for (const n of net.nodes) {
      for (const e of n.ups)
        if (e.type === 'view') expect(e.view.members.filter((m) => fakes.includes(m))).toEqual([]);
      expect(net.view(n)?.members).toEqual(real);
      expect(net.stopped(n)).toBe(false);
    }
    expect(net.stats(n0).joinsUnproven).toBeGreaterThan(0);
  });

  it('joiners that answer the nonce are admitted, never outvoting the real members (six against three)', () => {
    const net = group(3);
    const real = net.nodes.map((n) => n.id);
    const [n0] = net.nodes as [GmsNode];
    const fakes = Array.from({ length: 6 }, (_, i) => `f0f0f0${i}0.1`);
    // Endpoints that do receive at their addresses, but never take part in anything.
    for (let t = 0; t < 3_000; t += 50)
      net.at(net.now + t, () => {
        for (const f of fakes) net.joinProven(n0, f, `x${f}`);
      });
    net.run(net.now + 4_000);
    const views = n0.ups.flatMap((e) => (e.type === 'view' ? [e.view] : []));
    expect(views.length).toBeGreaterThan(2); // they were admitted and removed again
    for (const v of views) {
      const reals = v.members.filter((m) => real.includes(m)).length;
      expect(reals * 2).toBeGreaterThan(v.members.length);
    }
    for (const n of net.nodes) expect(net.stopped(n)).toBe(false);
  });

  it('a nonce admits only the id and address it was sent for; one joiner record per address', () => {
    const net = group(3);
    const [n0, n1] = net.nodes as [GmsNode, GmsNode];
    net.cutLink(n1, n0); // a flush that waits on n1 keeps the records from being consumed
    net.run(net.now + 10);
    const nonce = net.joinProven(n0, 'abcdef01.1', 'a1');
    expect(nonce).toMatch(/^[0-9a-f]{16}$/);
    expect(net.sentOf(n0, GmsKind.Here)).toEqual([]); // Here travels as a probe, never a send
    net.injectProbe(n0, 'abcdef02.1', 'a1', [GmsKind.Join, '', nonce]); // another id
    net.injectProbe(n0, 'abcdef01.1', 'a2', [GmsKind.Join, '', nonce]); // another address
    expect(net.stats(n0).joinsUnproven).toBe(2);
    // A restarted process at a1 (a new id) takes the place of the old record; both retry.
    for (let t = 0; t < 3_000; t += 100)
      net.at(net.now + t, () => {
        net.joinProven(n0, 'abcdef01.2', 'a1');
        net.joinProven(n0, 'abcdef03.1', 'a3');
      });
    net.run(net.now + 50);
    net.heal();
    net.run(net.now + 3_000);
    const admitted = n0.ups.flatMap((e) => (e.type === 'view' ? e.view.members : []));
    expect(admitted).not.toContain('abcdef01.1');
    expect(admitted).not.toContain('abcdef02.1');
    expect(admitted).toContain('abcdef01.2');
    expect(admitted).toContain('abcdef03.1');
  });

  it('nonces depend on joinSecret; a joinSecret that is not a non-empty string is refused', () => {
    const nonceWith = (joinSecret: string) => {
      const net = new GmsNet(3, { ...FAST, joinSecret });
      net.found();
      return net.joinProven(net.nodes[0]!, 'abcdef01.1', 'a1');
    };
    expect(nonceWith('one secret')).not.toBe(nonceWith('another secret'));
    expect(nonceWith('one secret')).toBe(nonceWith('one secret'));
    for (const joinSecret of ['', 7])
      expect(() => new GmsNet(1, { ...FAST, joinSecret } as never)).toThrow(
        expect.objectContaining({ code: 'STACK_BAD_OPTION' }),
      );
  });

  it('keeps at most maxJoiners joiner records; further unknown joiners are refused and counted', () => {
    const net = new GmsNet(3, { ...FAST, maxJoiners: 4 });
    net.found();
    const [n0, n1] = net.nodes as [GmsNode, GmsNode];
    // A flush that waits on n1 keeps the records from being consumed by an install.
    net.cutLink(n1, n0);
    net.run(net.now + 10);
    for (let i = 0; i < 10; i++) net.joinProven(n0, `abcdef0${i}.1`, `x${i}`);
    expect(net.stats(n0).joinsRefused).toBe(6);
  });
});

describe('gms: a leave lost with its coordinator (issue 10 item 7)', () => {
  it('the leaver asks the next coordinator and is removed as left within one suspicion period', () => {
    const net = group(4);
    const [n0, n1, n2, n3] = net.nodes as [GmsNode, GmsNode, GmsNode, GmsNode];
    const t0 = net.now;
    for (const n of [n1, n2, n3]) net.cutLink(n0, n); // n0 crashes
    n3.layer.down({ type: 'leave' }); // its Leave goes to n0 and is lost
    net.run(t0 + 3_000);
    expect(n3.ups.some((e) => e.type === 'left')).toBe(true);
    const removed = n1.ups.find(
      (e) => e.type === 'view' && !e.view.members.includes(n3.id) && !e.view.members.includes(n0.id),
    );
    expect(removed?.type === 'view' && removed.delta?.left).toContain(n3.id);
    // Removed with the failed coordinator, or one flush after it: well before the leave
    // timer (3 x suspectMs) and the suspicion that follows it.
    const at = n1.upAt[n1.ups.indexOf(removed!)]!;
    expect(at - t0).toBeLessThan(2 * 300);
    expect(net.view(n1)?.members).toEqual([n1.id, n2.id]);
    expect(net.stats(n1).views).toBeLessThanOrEqual(3);
  });
});

describe('gms: a member whose Install was lost (FINDINGS 13)', () => {
  it('gets the Install again when it Joins, and is in its view without a view change', () => {
    const net = group(2);
    const [n0, n1] = net.nodes as [GmsNode, GmsNode];
    const n2 = net.add();
    n2.layer.down({ type: 'join' });
    // Lose what the coordinator sends n2 from the last FlushOk on: n2's Install.
    expect(net.runUntil(() => net.sentOf(n1, GmsKind.FlushOk).length > 0, net.now + 2_000)).toBe(true);
    net.loseLink(n0, n2);
    expect(net.runUntil(() => viewId(net, n0) === 2, net.now + 100)).toBe(true); // it sent the Install before
    net.heal();
    const installedAt = net.now;
    // Listed in view 2 but still joining, n2 would never heartbeat: counted in every majority
    // of view 2, it is suspected and removed instead. Its next Join brings the Install back.
    net.run(installedAt + 1_000);
    for (const n of [n0, n1, n2]) {
      expect(net.view(n)).toMatchObject({ id: 2, members: [n0.id, n1.id, n2.id] });
      expect(n.ups.filter((e) => e.type === 'suspect')).toEqual([]);
    }
    const at = n2.upAt[n2.ups.findIndex((e) => e.type === 'view')]!;
    expect(at - installedAt).toBeLessThanOrEqual(FAST.joinRetryMs! + 1);
    expect((net.stats(n0).installsResent ?? 0) + (net.stats(n1).installsResent ?? 0)).toBeGreaterThan(0);
  });
});

describe('gms: a member whose Install was lost, its coordinator then silent (RPC seed 93100011)', () => {
  it('gets the Install from a joiner of that view, and the two go on without the coordinator', () => {
    // n0 coordinates view 1 {n0, n1} and installs view 2 {n0, n1, n2}; n1's copy of the Install
    // is lost and n0 stops right after. Under fan-out n1's heartbeats (view 1) go to n0 only, so
    // n2, the one member that could answer, never hears that n1 waits. n1 and n2 are a majority
    // of view 2; n1 alone is a minority of view 1.
    const net = group(2);
    const [n0, n1] = net.nodes as [GmsNode, GmsNode];
    const n2 = net.add();
    const fanout = (src: GmsNode, dst: GmsNode, header: unknown[]) =>
      src === n1 && dst === n2 && header[0] === GmsKind.Heartbeat && viewId(net, n1) === 1;
    let stopAt = Number.POSITIVE_INFINITY;
    net.drop = (src, dst, header) => {
      if (src === n0 && dst === n1 && header[0] === GmsKind.Install) {
        stopAt = net.now;
        return true;
      }
      return fanout(src, dst, header);
    };
    n2.layer.down({ type: 'join' });
    expect(net.runUntil(() => stopAt < Number.POSITIVE_INFINITY, net.now + 2_000)).toBe(true);
    net.pause(n0, 10_000);
    net.run(stopAt + 3_000);
    expect(viewId(net, n2)).toBeGreaterThanOrEqual(2);
    for (const n of [n1, n2]) {
      expect(net.stopped(n)).toBe(false);
      expect(net.view(n)?.members).toEqual([n1.id, n2.id]);
    }
    expect(n1.ups.filter((e) => e.type === 'view').map((e) => e.type === 'view' && e.view.id)).toEqual([
      1, 2, 3,
    ]);
    expect(net.stats(n2).installsResent ?? 0).toBeGreaterThan(0);
  });
});

describe('gms: Fetch is retried (issue 10 item 7)', () => {
  it('a participant whose Fetch was lost asks again and completes the flush', () => {
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    net.loseLink(n1, n2); // n2 misses n1's casts; n0 has them
    for (let i = 0; i < 3; i++)
      n1.layer.down({
        type: 'cast',
        msg: { headers: [], payload: new Uint8Array([i]) },
        qos: { order: 'fifo' },
      });
    net.run(net.now + 5);
    net.heal();
    net.joinProven(n0, 'deadbeef.1', 'n99'); // a view change
    expect(net.runUntil(() => net.sentOf(n2, GmsKind.Digest).length > 0, net.now + 100)).toBe(true);
    net.run(net.now + 0.6); // the digest is in; the Sync and then the Fetch follow
    net.loseLink(n2, n0);
    net.loseLink(n2, n1);
    expect(net.runUntil(() => net.sentOf(n2, GmsKind.Fetch).length > 0, net.now + 100)).toBe(true);
    net.run(net.now + 1);
    net.heal();
    net.run(net.now + 1_000);
    const real = net.nodes.map((n) => n.id);
    for (const n of net.nodes) {
      // (the joiner is invented: it is admitted, then suspected and removed)
      expect(n.ups.filter((e) => e.type === 'suspect' && real.includes(e.member))).toEqual([]);
      expect(net.view(n)?.members).toContain(n2.id);
      expect(net.delivered(n)).toHaveLength(3);
    }
    expect(net.sentOf(n2, GmsKind.Fetch).length).toBeGreaterThan(1);
  });
});

/** One bad link: packets from member `from` to member `to` are lost with probability `loss`. */
function badLink(link: { from?: string; to?: string; loss: number }): LayerFactory {
  return {
    name: 'badlink',
    provides: ['transport'],
    requires: ['transport'],
    create: (ctx) => ({
      down: (ev) => ctx.passDown(ev),
      up: (ev) => {
        const lost = ev.type === 'deliver' && ctx.self === link.to && ev.from === link.from;
        if (lost && ctx.random() < link.loss) return;
        ctx.passUp(ev);
      },
    }),
  };
}

describe('gms: a second opinion before exclusion (issue 10 item 8)', () => {
  /** Per seed of the lossy-link case: whether the bad link's receiver suspected its sender. */
  const exercised = new Map<number, boolean>();
  /**
   * 5 members; from 1.5 s on, the rank-2 member's packets to the rank-1 member are lost with
   * probability `loss` (one bad link, one way, below nak); the rank-3 member crashes at 5 s.
   */
  function run(seed: number, loss: number) {
    const link = { loss } as { from?: string; to?: string; loss: number };
    const base = groupConfig(seed, 5, []);
    const cfg = {
      ...base,
      stack: parseSpec(GROUP_STACK.replace(':com', ':badlink:com'), GMS_SIM_OPTIONS),
      registry: base.registry.with(badLink(link)),
      endMs: 12_000,
    };
    const w = new World(cfg);
    for (const node of w.nodes)
      for (let k = 0; k < cfg.messages; k++) w.at(w.rng() * 8_000, () => w.cast(w.nodes[node.index]!));
    planProbes(w); // the progress checker wants the probes every scenario casts
    let victim = '';
    w.at(1_500, () => {
      const v = w.incarnations[0]!.views.at(-1)!;
      [link.to, link.from, victim] = [v.members[1]!, v.members[2]!, v.members[3]!];
    });
    w.at(5_000, () => w.crash(w.nodes.find((n) => n.rec.member === victim)!));
    w.run();
    const violations = GROUP_CHECKERS.flatMap((c) => c.check(w).map((v) => `${c.name}: ${v}`));
    const survivors = w.incarnations.filter((i) => i.crashedAt === null && i.partitionedAt === null);
    // How long after the crash each survivor installed a view without the crashed member.
    const removedAfter = survivors.map(
      (i) => (i.views.find((v) => v.at > 5_000 && !v.members.includes(victim))?.at ?? Infinity) - 5_000,
    );
    const suspicions = w.incarnations.find((i) => i.member === link.to)!.stats().gms?.suspicions ?? 0;
    return { w, violations, link, survivors, removedAfter, suspicions };
  }

  // Seeds 1..24. Seed 2 (and 14, 15, 17, 18, 21) failed while NAK rounds backed off to 500 ms and
  // only the sender repaired: its repairs fell to the 70% loss round after round. Seed 21 failed
  // after that on a trailing loss, learnt only from session announcements backing off to 1 s
  // (test/sim/FINDINGS.md 11, docs/protocol.md "nak").
  it.each(Array.from({ length: 24 }, (_, i) => i + 1))(
    'keeps a member behind one lossy link (70 percent one way) and removes a crashed one within suspectMs + 100 ms, seed %i',
    (seed) => {
      const { w, violations, link, survivors, removedAfter, suspicions } = run(seed, 0.7);
      expect(violations).toEqual([]);
      expect(w.incarnations.find((i) => i.member === link.from)!.partitionedAt).toBeNull();
      for (const i of survivors) expect(i.views.at(-1)!.members).toContain(link.from);
      // suspectMs is 300 in the simulator: silence seen on an fd tick by two members, one flush.
      for (const ms of removedAfter) expect(ms).toBeLessThan(300 + 100);
      exercised.set(seed, suspicions > 1);
    },
  );

  it('the bad link made its receiver suspect the sender in most of those seeds (the rule was exercised)', () => {
    // Beyond the crashed member, a suspicion of the sender behind the bad link: six heartbeats
    // in a row lost, which the seed's draws decide (22 of the 24 seeds on cb04497's successor;
    // each seed's history moves with any change of timing).
    for (let seed = 1; seed <= 24; seed++)
      if (!exercised.has(seed)) exercised.set(seed, run(seed, 0.7).suspicions > 1);
    expect([...exercised.values()].filter(Boolean).length).toBeGreaterThanOrEqual(18);
  });
});

describe('gms: who may send which control message (issue 11)', () => {
  const heartbeat = (viewId: number, epoch: number) => [GmsKind.Heartbeat, viewId, epoch, 0, 0];

  it('refuses and counts a Suspect from a non-member; one member alone excludes nobody', () => {
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    for (let t = 0; t < 2_000; t += 100)
      net.at(net.now + t, () => {
        net.inject(n0, 'badbad00.1', [GmsKind.Suspect, 1, n2.id, 5_000]);
        net.inject(n0, n1.id, [GmsKind.Suspect, 1, n2.id, 0]); // forged in n1's name, or n1's bad link
      });
    net.run(net.now + 2_500);
    expect(net.stats(n0).refused).toBeGreaterThanOrEqual(20);
    for (const n of net.nodes) expect(net.view(n)?.members).toHaveLength(3);
  });

  it('a Suspect report held back by a cut link is lost, not read after the heal as fresh', () => {
    // n1 and n2 lose n4's heartbeats and report it; their links to the coordinator are cut too.
    // Reports were reliable: held, they arrived after the heal, when n1 and n2 heard n4 again,
    // and counted as two fresh opinions: the coordinator excluded n4, which never failed
    // (session 22's removal class C, seed 144300125). Datagrams, they are lost with the cut.
    const net = group(5);
    const [n0, n1, n2, , n4] = net.nodes as GmsNode[];
    for (const [a, b] of [
      [n4!, n1!],
      [n4!, n2!],
      [n1!, n0!],
      [n2!, n0!],
    ] as const)
      net.cutLink(a, b, false);
    net.run(net.now + 400);
    expect(net.sentOf(n1!, GmsKind.Suspect).length).toBeGreaterThan(0);
    net.heal();
    net.run(net.now + 2_000);
    for (const n of net.nodes) expect(net.view(n)?.members).toContain(n4!.id);
  });

  it('a single report claiming a long suspicion is not believed beyond what it has shown', () => {
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    net.inject(n0, n1.id, [GmsKind.Suspect, 1, n2.id, 60_000]);
    net.run(net.now + 400);
    expect(net.view(n0)?.members).toContain(n2.id);
  });

  /** In a group of 3, n1 reports n2 to the coordinator n0 every 100 ms for `forMs` (each report
   * claiming the time held so far, and echoing the nonce of n0's heartbeats, as n1's own do),
   * then stops; the run goes on `afterMs` past the last report. */
  function reportedFor(forMs: number, afterMs: number) {
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const t0 = net.now;
    const nonce = net.sentOf(n0, GmsKind.Heartbeat).at(-1)![5];
    for (let held = 0; held <= forMs; held += 100)
      net.at(t0 + held, () => net.inject(n0, n1.id, [GmsKind.Suspect, 1, n2.id, held, nonce]));
    net.run(t0 + forMs + afterMs);
    return { net, n0, n2 };
  }

  it("a withdrawn opinion does not go on counting toward partitionMs after its reporter's last report", () => {
    // n1 reports n2 for 800 ms (under partitionMs 900), then withdraws: its reports stop. The
    // coordinator kept the last one for suspectMs and counted the opinion as held until now:
    // at 905 ms it excluded n2 (the lossy-link case above, seed 5, under other timings).
    const { net, n2 } = reportedFor(800, 290); // the last report is still fresh (suspectMs 300)
    for (const n of net.nodes) expect(net.view(n)?.members).toContain(n2.id);
  });

  it('an opinion renewed past partitionMs still excludes its member on its own', () => {
    const { net, n0, n2 } = reportedFor(1_000, 200);
    expect(net.view(n0)?.members).not.toContain(n2.id);
  });

  it("reports renewed past partitionMs without the coordinator's nonce exclude nobody", () => {
    // review37: a Suspect is a datagram, so without a key anyone spoofing n1's address sends it;
    // renewed for partitionMs such reports excluded n2. Only one echoing the nonce of n0's
    // heartbeats (sent to the view's members) counts now.
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const t0 = net.now;
    for (let held = 0; held <= 1_500; held += 100)
      net.at(t0 + held, () => {
        net.inject(n0, n1.id, [GmsKind.Suspect, 1, n2.id, 60_000]);
        net.inject(n0, n1.id, [GmsKind.Suspect, 1, n2.id, 60_000, '00000000']);
      });
    net.run(t0 + 1_700);
    expect(net.view(n0)?.members).toContain(n2.id);
    expect(net.stats(n0).refused).toBeGreaterThanOrEqual(32);
  });

  it('refuses an Install that excludes a member when it is not from the next view coordinator', () => {
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const v = net.view(n2)!;
    // From n1, though n0 (ranked before it) stays in the proposed view.
    net.inject(n2, n1.id, [
      GmsKind.Install,
      2,
      7,
      [n0.id, n1.id],
      ['n0', 'n1'],
      [],
      [],
      [n2.id],
      [],
      7 * 4096,
    ]);
    net.run(net.now + 1_000);
    expect(net.stopped(n2)).toBe(false);
    expect(net.stats(n2).refused).toBe(1);
    expect(net.view(n2)).toEqual(v);
  });

  it('refuses heartbeats with an impossible view id or epoch, and one member alone cannot show us behind', () => {
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const epoch = net.view(n2)!.epoch!;
    net.inject(n2, n1.id, heartbeat(1_000_000, epoch)); // far ahead
    net.inject(n2, n1.id, heartbeat(1, 4096 * 1_000_000)); // a higher lineage nobody ran
    net.inject(n2, n1.id, heartbeat(2, epoch)); // one plausible later view, one witness
    net.run(net.now + 1_000);
    // The view far ahead, and the later view: n1's own heartbeats of view 1 refuted it. (The
    // lineage nobody ran is dropped as traffic of another epoch, not counted.)
    expect(net.stats(n2).refused).toBe(2);
    expect(net.stopped(n2)).toBe(false);
    // Two members of the view in a later view (so n2 hears them only in it): we were left behind.
    net.loseLink(n0, n2);
    net.loseLink(n1, n2);
    for (let t = 0; t < 1_000; t += 50)
      net.at(net.now + t, () => {
        net.inject(n2, n0.id, heartbeat(2, epoch));
        net.inject(n2, n1.id, heartbeat(2, epoch));
      });
    net.run(net.now + 1_000);
    expect(net.stopped(n2)).toBe(true);
  });

  it('traffic of our view id under a higher epoch stops nobody, heard in our view or not (FINDINGS 194)', () => {
    // The instant n2 installs view 1, before n1's first message of it: a Heartbeat in n1's name
    // with view 1 and a higher epoch. Before, n2 stopped at once ("view 1 was also installed by
    // another coordinator"); such traffic is now dropped and is not liveness, as any other epoch's.
    for (const lose of [false, true]) {
      const net = new GmsNet(3, FAST);
      const [, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
      if (lose) net.loseLink(n1, n2); // n1 never heard by n2 in view 1
      for (const n of net.nodes) n.layer.down({ type: 'join' });
      expect(net.runUntil(() => net.view(n2) !== undefined, 5_000)).toBe(true);
      const { id, epoch } = net.view(n2)!;
      net.inject(n2, n1.id, heartbeat(id, epoch! + 4096));
      net.run(net.now + 250);
      expect(net.stopped(n2)).toBe(false);
    }
  });

  it("a member's own heartbeats of our view refute a claim that it is in a later one (FINDINGS 196)", () => {
    // Without a key, one Heartbeat of the next view id in the coordinator's name made each member
    // take itself for left behind and stop after suspectMs. Claims repeated every heartbeat for
    // a while, in the names of both other members, do not either: each is refuted by the
    // member's own heartbeats (the claimants, asked with a challenge, resend the Install of our
    // view rather than answer with a Here of a later one: test/stack/gms-claims.test.ts).
    const net = group(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const epoch = net.view(n2)!.epoch!;
    net.inject(n2, n0.id, heartbeat(2, epoch));
    net.run(net.now + 1_000);
    expect(net.stopped(n2)).toBe(false);
    expect(net.stats(n2).refused).toBe(1);
    for (let t = 0; t < 600; t += 50)
      net.at(net.now + t, () => {
        net.inject(n2, n0.id, heartbeat(2, epoch));
        net.inject(n2, n1.id, heartbeat(2, epoch));
      });
    net.run(net.now + 2_000);
    expect(net.stopped(n2)).toBe(false);
    expect(net.view(n2)!.id).toBe(1);
    expect(net.stats(n2).refused).toBeGreaterThanOrEqual(3);
  });

  it('caps future-view messages from non-members in bytes', () => {
    const net = new GmsNet(3, { ...FAST, maxFutureBytes: 1_000_000 });
    net.found();
    const [, , n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const big = new Uint8Array(100_000);
    for (let i = 0; i < 20; i++)
      n2.layer.up({
        type: 'deliver',
        msg: { headers: [[GmsKind.P2P, 5, 0]], payload: big },
        from: 'badbad00.1',
        cast: false,
        meta: { seq: i }, // numbered on the stranger's stream, as nak delivers it
      });
    // A quarter of 1,000,000 bytes: two messages of 100,000 (+ overhead) fit.
    expect(net.stats(n2).future).toBe(2);
    expect(net.stats(n2).futureDropped).toBe(18);
  });
});

describe('gms: a FlushOk binds the cut of every later attempt (issue 10, FlushOk switch)', () => {
  /** A Sync of view 2's `attempt`: its cut and the Install it will send. */
  const syncOf = (attempt: number, ends: unknown[], install: unknown[]) => [
    GmsKind.Sync,
    2,
    attempt,
    ends,
    install,
  ];

  it('the coordinator ends the view at the cut a participant promised, not at the furthest held', () => {
    const net = group(3);
    const [c, p, q] = coordinatorFirst(net);
    net.cutLink(c, p, false); // the real Prepares wait: p and q answer by injection below
    net.cutLink(c, q, false);
    net.joinProven(c, 'deadbeef.1', 'n99'); // a view change
    expect(net.runUntil(() => net.sentOf(c, GmsKind.Prepare).length > 0, net.now + 200)).toBe(true);
    const attempt = net.sentOf(c, GmsKind.Prepare)[0]![2] as number;
    const counts = (np: number) => [
      [c.id, 0],
      [p.id, np],
      [q.id, 0],
    ];
    // q answered another coordinator's attempt 1 at p's 2 casts, then took this one: that
    // attempt may be installed with its cut, so this one must end exactly there, not at 5.
    net.inject(c, p.id, [GmsKind.Digest, 2, attempt, counts(5), 0]);
    const promisedView = installOf(1, 1, [p.id, q.id], [c.id]);
    net.inject(c, q.id, [GmsKind.Digest, 2, attempt, counts(2), 0, [p.id, 1, counts(2), 8190, promisedView]]);
    net.run(net.now + 5);
    const sync = net.sentOf(c, GmsKind.Sync)[0] as [
      number,
      number,
      number,
      [string, number, string][],
      number,
      unknown[],
    ];
    expect(sync[3].find(([sender]) => sender === p.id)?.[1]).toBe(2);
    // And the view, not only the cut: c installs p's view, without c and the joiner, not its own.
    expect(sync[4]).toEqual(promisedView);
  });

  it('after an Abandon a participant takes only a higher attempt; its promise keeps its own key', () => {
    const net = group(3);
    const [c, p, q] = coordinatorFirst(net);
    const members = [c.id, p.id, q.id];
    const zeros = members.map((m) => [m, 0, m]);
    const prepare = (from: GmsNode, attempt: number, ms: string[]) =>
      net.inject(p, from.id, [GmsKind.Prepare, 2, attempt, ms, ms.map(() => 'x:1')]);
    const cView = installOf(5, 0, members);
    net.cutLink(c, p, false); // p hears only the injections below
    net.cutLink(q, p, false);
    prepare(c, 5, members);
    net.inject(p, c.id, syncOf(5, zeros, cView)); // p answers c's attempt 5: its promise
    prepare(q, 6, [p.id, q.id]); // leaves c out: p switches, still bound to c's cut
    net.inject(p, q.id, [GmsKind.Abandon, 2, 6]);
    prepare(q, 1, [p.id, q.id]); // a lower attempt, even after the Abandon: refused (ballots only go up)
    net.run(net.now + 5);
    expect(net.sentOf(p, GmsKind.Digest).filter((d) => d[2] === 1)).toEqual([]);
    prepare(q, 7, [p.id, q.id]);
    net.run(net.now + 5);
    expect(net.sentOf(p, GmsKind.FlushOk)).toHaveLength(1);
    const promised = net.sentOf(p, GmsKind.Digest).at(-1)![5] as [string, number, unknown, number, unknown];
    // Still c's attempt 5 (q's 6 was abandoned before p answered it), keyed by its own key.
    expect(promised.slice(0, 2)).toEqual([c.id, 5]);
    expect(promised[3]).toBe(5 * 4096 + 4095);
    expect(promised[4]).toEqual(cView);
  });

  it('a coordinator refused for a lower attempt starts above it, and excludes nobody', () => {
    // p is blocked in q's attempt 9, abandoned (a stale Prepare after a heal). c starts a flush
    // for a joiner before p's heartbeats told it of attempt 9: p refuses c's lower attempt, and
    // c, told by p's next heartbeat, starts over above it (flushOutbid) instead of excluding p
    // at its flush timeout.
    const net = group(3);
    const [c, p, q] = coordinatorFirst(net);
    const all = [c.id, p.id, q.id];
    net.cutLink(p, c, false); // c hears nothing of p until its flush has begun
    net.inject(p, q.id, [GmsKind.Prepare, 2, 9, all, all.map(() => 'x:1')]);
    net.inject(p, q.id, [GmsKind.Abandon, 2, 9]);
    net.joinProven(c, 'deadbeef.1', 'n99');
    expect(net.runUntil(() => net.sentOf(c, GmsKind.Prepare).length > 0, net.now + 200)).toBe(true);
    expect(net.sentOf(c, GmsKind.Prepare)[0]![2]).toBeLessThan(9);
    net.run(net.now + 20);
    net.heal();
    expect(net.runUntil(() => viewId(net, c) === 2, net.now + 2_000)).toBe(true);
    expect(net.sentOf(p, GmsKind.Digest).filter((d) => (d[2] as number) < 9)).toEqual([]);
    expect(net.stats(c).flushOutbid).toBeGreaterThanOrEqual(1);
    expect(net.view(c)!.members).toEqual([...all, 'deadbeef.1']);
    for (const n of [p, q]) expect(net.view(n)).toEqual(net.view(c));
  });

  it('an attempt that may have installed outranks a stale promise of an abandoned one', () => {
    // docs/protocol.md "One view per view id". c's attempt 5 ends view 1 after c's 2 casts; p
    // and q answer it. c abandons it and only q hears the Abandon. r's attempt 5 ranks below
    // c's: q refuses it (ballots only go up), so r runs attempt 6 without p, ending view 1 after
    // c's 3 casts (q holds the third); q answers it, and r may install it. r's attempt 7 asks p
    // and q: p still reports c's attempt 5, q r's attempt 6, a higher key: 7 ends view 1 where 6
    // did, with 6's view.
    const net = group(4);
    const [c, r, p, q] = coordinatorFirst(net) as unknown as [GmsNode, GmsNode, GmsNode, GmsNode];
    const all = [c.id, r.id, p.id, q.id];
    const cast = (i: number) =>
      c.layer.down({
        type: 'cast',
        msg: { headers: [], payload: new Uint8Array([i]) },
        qos: { order: 'fifo' },
      });
    const cutOf = (n: number) => all.map((m) => [m, m === c.id ? n : 0, m === c.id ? c.id : q.id]);
    const prepare = (to: GmsNode, from: GmsNode, attempt: number, ms: string[]) =>
      net.inject(to, from.id, [GmsKind.Prepare, 2, attempt, ms, ms.map(() => 'x:1')]);
    cast(0);
    cast(1);
    net.run(net.now + 20);
    net.cutLink(c, p, false); // c's third cast reaches q only
    for (const n of [p, q]) prepare(n, c, 5, all);
    cast(2);
    net.run(net.now + 5);
    for (const n of [p, q]) net.inject(n, c.id, syncOf(5, cutOf(2), installOf(5, 0, all)));
    net.inject(q, c.id, [GmsKind.Abandon, 2, 5]); // lost on its way to p
    const qDigests = net.sentOf(q, GmsKind.Digest).length;
    prepare(q, r, 5, [c.id, r.id, q.id]); // r's attempt 5 ranks below c's attempt 5: refused
    net.run(net.now + 5);
    expect(net.sentOf(q, GmsKind.Digest).slice(qDigests)).toEqual([]);
    prepare(q, r, 6, [c.id, r.id, q.id]);
    net.run(net.now + 5);
    const rView = installOf(6, 1, [c.id, r.id, q.id], [p.id]);
    net.inject(q, r.id, syncOf(6, cutOf(3), rView));
    net.run(net.now + 5);
    expect(net.delivered(q)).toHaveLength(3);
    for (const n of [p, q]) prepare(n, r, 7, [r.id, p.id, q.id]);
    net.run(net.now + 5);
    expect(net.sentOf(p, GmsKind.FlushOk)).toHaveLength(1);
    expect(net.sentOf(q, GmsKind.FlushOk)).toHaveLength(2);
    type Promise = [string, number, [string, number][], number, unknown[]];
    const pp = net.sentOf(p, GmsKind.Digest).at(-1)![5] as Promise;
    const qp = net.sentOf(q, GmsKind.Digest).at(-1)![5] as Promise;
    expect(pp.slice(0, 2)).toEqual([c.id, 5]);
    expect(qp.slice(0, 2)).toEqual([r.id, 6]);
    expect(qp[3]).toBeGreaterThan(pp[3]);
    // Attempt 7 adopts the promise of the higher key (Coordinator.adoptedPromise, the first test
    // above): both finish it, nobody steps down, p fetches the third cast from q.
    const best = qp[3] > pp[3] ? qp : pp;
    expect(best[4]).toEqual(rView);
    const ends = best[2].map(([m, count]) => [m, count, m === c.id ? q.id : m]);
    for (const n of [p, q]) net.inject(n, r.id, syncOf(7, ends, best[4]));
    net.run(net.now + 20);
    for (const n of [p, q]) {
      expect(net.stopped(n)).toBe(false);
      expect(net.delivered(n)).toHaveLength(3);
      expect(net.sentOf(n, GmsKind.FlushOk).at(-1)!.slice(1, 3)).toEqual([2, 7]);
    }
  });

  it('a promise of an attempt that never met the abandoned one still outranks it', () => {
    // 5 members c r p q s. W = c's attempt 5 {c,p,q} ends view 1 after c's 3 casts (only p
    // holds the third). p answers; q cannot fetch; c abandons W, p's Abandon is lost. X = r's
    // attempt 6 (attempt 5 would rank below W at q) {r,q,s} ends view 1 after 2; q and s
    // (never in W) answer; r installs X at q. Z = c's attempt 7 {c,p,s}: p reports W, s
    // reports X, whose key is higher, whatever s knew of W: Z ends view 1 where X did, in X's
    // view. (Under the floors this needed X's Sync to carry q's floor to s.)
    const net = group(5);
    const [c, r, p, q, s] = coordinatorFirst(net) as unknown as GmsNode[] as [
      GmsNode,
      GmsNode,
      GmsNode,
      GmsNode,
      GmsNode,
    ];
    const all = [c.id, r.id, p.id, q.id, s.id];
    const cast = (i: number) =>
      c.layer.down({
        type: 'cast',
        msg: { headers: [], payload: new Uint8Array([i]) },
        qos: { order: 'fifo' },
      });
    const cutOf = (n: number, holder: string) =>
      all.map((m) => [m, m === c.id ? n : 0, m === c.id ? holder : m]);
    const prepare = (to: GmsNode, from: GmsNode, attempt: number, ms: string[]) =>
      net.inject(to, from.id, [GmsKind.Prepare, 2, attempt, ms, ms.map(() => 'x:1')]);
    cast(0);
    cast(1);
    net.run(net.now + 20);
    net.loseLink(c, q);
    net.loseLink(c, s);
    net.loseLink(c, r);
    net.loseLink(p, q); // q cannot fetch c's third cast from p
    cast(2); // reaches p only
    net.run(net.now + 5);
    expect(net.delivered(p)).toHaveLength(3);
    expect(net.delivered(q)).toHaveLength(2);
    expect(net.delivered(s)).toHaveLength(2);
    // W: c's attempt 5, participants c p q.
    for (const n of [p, q]) prepare(n, c, 5, [c.id, p.id, q.id]);
    net.run(net.now + 5);
    const wView = installOf(5, 0, [c.id, p.id, q.id], [r.id, s.id]);
    for (const n of [p, q]) net.inject(n, c.id, syncOf(5, cutOf(3, p.id), wView));
    net.run(net.now + 5);
    expect(net.sentOf(p, GmsKind.FlushOk)).toHaveLength(1);
    expect(net.sentOf(q, GmsKind.FlushOk)).toHaveLength(0);
    net.inject(q, c.id, [GmsKind.Abandon, 2, 5]); // lost on its way to p
    // X: r's attempt 6, participants r q s.
    for (const n of [q, s]) prepare(n, r, 6, [r.id, q.id, s.id]);
    net.run(net.now + 5);
    const xMembers = [r.id, q.id, s.id];
    const xView = installOf(6, 1, xMembers, [c.id, p.id]);
    for (const n of [q, s]) net.inject(n, r.id, syncOf(6, cutOf(2, r.id), xView));
    net.run(net.now + 5);
    expect(net.sentOf(q, GmsKind.FlushOk).at(-1)!.slice(1, 3)).toEqual([2, 6]);
    expect(net.sentOf(s, GmsKind.FlushOk).at(-1)!.slice(1, 3)).toEqual([2, 6]);
    // r has every FlushOk of X and installs it; q gets the Install, s's copy is lost (and so
    // is the copy q would send s again on hearing it still in view 1).
    net.loseLink(q, s);
    net.inject(q, r.id, xView);
    net.run(net.now + 5);
    expect(viewId(net, q)).toBe(2);
    expect(net.delivered(q)).toHaveLength(2);
    // Z: c's attempt 7 (c suspects r and q), participants c p s.
    for (const n of [p, s]) prepare(n, c, 7, [c.id, p.id, s.id]);
    net.run(net.now + 5);
    type Promise = [string, number, [string, number][], number, unknown[]];
    const pp = net.sentOf(p, GmsKind.Digest).at(-1)![5] as Promise;
    const sp = net.sentOf(s, GmsKind.Digest).at(-1)![5] as Promise;
    expect(sp[4]).toEqual(xView);
    expect(sp[3]).toBeGreaterThan(pp[3]);
    // The coordinator adopts the higher key (Coordinator.adoptedPromise): its cut and its view.
    const best = sp[3] > pp[3] ? sp : pp;
    const ends = best[2].map(([m, count]) => [m, count, m === c.id ? p.id : m]);
    for (const n of [p, s]) net.inject(n, c.id, syncOf(7, ends, best[4]));
    net.run(net.now + 20);
    // p delivered c's third cast, past the adopted cut: it steps down. s completes Z, whose
    // Install is Z's adopted view; c sends it to both (what a coordinator does, injected).
    expect(net.sentOf(s, GmsKind.FlushOk).at(-1)![2]).toBe(7);
    for (const n of [p, s]) net.inject(n, c.id, best[4]);
    net.run(net.now + 5);
    expect(net.stopped(p)).toBe(true);
    // One cut per view, and one view: s ends view 1 where q (X's install) did, in X's view.
    expect(net.delivered(s).length).toBe(net.delivered(q).length);
    expect(net.view(s)).toEqual(net.view(q));
  });

  it('a later attempt that meets a promise installs the promised view itself, not its own (RPC seed 6002459)', () => {
    // a's attempt 5 {a, p, q} has q's FlushOk (injected: a and p are cut off from b, q, r) and
    // may have installed view 2 = [a, p, q]. b, coordinating on the other side, leaves a out, so
    // q switches to b's attempt and reports its promise. Before the rule b installed its own
    // [b, q, r] with a higher epoch: two views 2, the lower lineage's committed work discarded
    // when they met. Now b sends a's Install unchanged: q is in a's view, b and r are out.
    const net = group(5);
    const [a, b, p, q, r] = coordinatorFirst(net) as unknown as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
    const all = [a.id, b.id, p.id, q.id, r.id];
    net.partition([a, p], [b, q, r]);
    const aView = installOf(5, 0, [a.id, p.id, q.id], [b.id, r.id]);
    net.inject(q, a.id, [GmsKind.Prepare, 2, 5, [a.id, p.id, q.id], ['x:1', 'x:1', 'x:1']]);
    net.run(net.now + 5);
    net.inject(
      q,
      a.id,
      syncOf(
        5,
        all.map((m) => [m, 0, m]),
        aView,
      ),
    );
    net.run(net.now + 5);
    expect(net.sentOf(q, GmsKind.FlushOk)).toHaveLength(1);
    expect(net.runUntil(() => net.stopped(b) && viewId(net, q) === 2, net.now + 10_000)).toBe(true);
    expect(net.view(q)!.members).toEqual([a.id, p.id, q.id]);
    expect(net.view(q)!.epoch).toBe(5 * 4096 + 4095);
    expect(net.stopped(r)).toBe(true);
    expect(net.stats(b).valuesAdopted).toBe(1);
  });

  it('a participant that delivered past such a cut stops instead of answering FlushOk', () => {
    const net = group(3);
    const [c, p, q] = coordinatorFirst(net);
    for (let i = 0; i < 3; i++)
      c.layer.down({
        type: 'cast',
        msg: { headers: [], payload: new Uint8Array([i]) },
        qos: { order: 'fifo' },
      });
    net.run(net.now + 50);
    expect(net.delivered(p)).toHaveLength(3);
    const members = [c.id, p.id, q.id];
    net.inject(p, c.id, [GmsKind.Prepare, 2, 9, members, members.map(() => 'x:1')]);
    net.run(net.now + 5);
    net.inject(
      p,
      c.id,
      syncOf(
        9,
        members.map((m) => [m, m === c.id ? 1 : 0, m]),
        installOf(9, 0, members),
      ),
    );
    net.run(net.now + 5);
    expect(net.sentOf(p, GmsKind.FlushOk)).toEqual([]);
    expect(net.stopped(p)).toBe(true);
  });
});
