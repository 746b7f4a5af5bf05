// Session 30's hostile review of the keyless joiner's vote. A forged joiner with an id below every
// seed's, voting for itself, in one Join to each keyless seed every 3 × suspectMs, kept keyless
// seeds from founding (FINDINGS 159): every seed backed the lowest candidate it heard and the
// forger never proposes. Passing over a candidate backed long with no proposal (session 30) also
// passed over real candidates after a lost majority and wedged re-foundings (FINDINGS 163,
// test/sim/refound-passover.test.ts). Now a joiner's vote counts only once its Joins echo the
// challenge sent to its address: a forger that does not receive at the address it names is
// answered, never backed. And invented joiners cannot crowd the seeds out of each other's joiner
// tables (FINDINGS 160).
import { describe, expect, it } from 'vitest';
import { GmsKind } from '../../runtime/layers/gms.js';
import { FAST, GmsNet, type GmsNode } from './gms-net.js';

/** Forged Joins from `from` at `address` to every node, every `everyMs` until `until`. */
function forge(
  net: GmsNet,
  nodes: GmsNode[],
  from: string,
  address: string,
  header: unknown[],
  everyMs: number,
  until: number,
) {
  for (let t = net.now; t < until; t += everyMs)
    net.at(t, () => {
      for (const n of nodes) net.injectProbe(n, from, address, header);
    });
}

const EVERY = 3 * FAST.suspectMs! - 50;
const founded = (net: GmsNet, nodes: GmsNode[], within: number) =>
  net.runUntil(() => nodes.every((n) => net.view(n)?.members.length === nodes.length), within);

describe('gms: a forged candidate in Joins', () => {
  it('control: three seeds found their group', () => {
    const net = new GmsNet(3);
    net.beacons = false;
    const nodes = [...net.nodes];
    for (const n of nodes) n.layer.down({ type: 'join' });
    expect(net.runUntil(() => nodes.every((n) => net.view(n)?.members.length === 3), 10_000)).toBe(true);
  });

  for (const [where, address] of [
    ['an address where no one receives', 'n9'],
    ["a seed's address", 'n1'],
  ] as const)
    it(`three seeds found their group though a candidate with the lowest id keeps joining from ${where}`, () => {
      // Without the echo: no seed had a view after 60 s, all backing 00000001.1.
      const net = new GmsNet(3);
      net.beacons = false;
      const nodes = [...net.nodes];
      const fake = '00000001.1'; // below every node's id (0x100 + i)
      forge(net, nodes, fake, address, [GmsKind.Join, fake, '', 1, 'c0ffee00'], EVERY, 60_000);
      for (const n of nodes) n.layer.down({ type: 'join' });
      expect(founded(net, nodes, 60_000)).toBe(true);
      expect(net.now).toBeLessThan(1_000); // as the control, which founds at ~400 ms
      expect(nodes.every((n) => !net.view(n)!.members.includes(fake))).toBe(true);
    });

  it('five forged candidate ids, every 50 ms each, do not delay founding', () => {
    const net = new GmsNet(3);
    net.beacons = false;
    const nodes = [...net.nodes];
    for (let i = 1; i <= 5; i++) {
      const id = `0000000${i}.1`;
      forge(net, nodes, id, `n${8 + i}`, [GmsKind.Join, id, '', 1, `c0ffee0${i}`], 50, 60_000);
    }
    for (const n of nodes) n.layer.down({ type: 'join' });
    expect(founded(net, nodes, 60_000)).toBe(true);
    expect(net.now).toBeLessThan(1_000);
  });

  it("a forger that receives at its own address cannot echo another address's challenge", () => {
    // It joins from n9, where it receives, and learns the challenge each seed sends to n9; a
    // candidate it forges at a seed's address echoing that challenge is still unproven there.
    const net = new GmsNet(3);
    net.beacons = false;
    const nodes = [...net.nodes];
    for (const n of nodes) n.layer.down({ type: 'join' });
    for (const n of nodes) net.injectProbe(n, 'fffffff9.1', 'n9', [GmsKind.Join, '~', '', 1, 'c0ffee09']);
    net.run(net.now + 1);
    const fake = '00000001.1';
    for (let t = net.now; t < 60_000; t += 50)
      net.at(t, () => {
        for (const n of nodes) {
          const toN9 = n.probed.findLast((p) => p.to === 'n9' && p.header[0] === GmsKind.Join);
          net.injectProbe(n, fake, 'n1', [GmsKind.Join, fake, '', 1, 'c0ffee01', [toN9?.header[4] ?? '']]);
        }
      });
    expect(founded(net, nodes, 60_000)).toBe(true);
    expect(net.now).toBeLessThan(1_000);
  });

  it("a Join forged in a proven joiner's name does not move its vote", () => {
    // j hears F at n1, proven, and backs it; Joins forged in F's name from n1, every 50 ms, say
    // F stepped aside (a vote above its id). j still backs F.
    const net = new GmsNet(0, FAST);
    const j = net.add(['n0', 'n1', 'n9']);
    j.layer.down({ type: 'join' });
    const F = '00000002.1';
    const keep = () => net.joinerProven(j, F, 'n1');
    keep();
    for (let t = net.now; t < 2_000; t += 50)
      net.at(t, () => net.injectProbe(j, F, 'n1', [GmsKind.Join, '~', '', 1, 'c0ffee01']));
    for (let t = net.now + 100; t < 2_000; t += 250) net.at(t, keep);
    net.run(2_000);
    const last = j.probed.findLast((p) => p.to === 'n1' && p.header[0] === GmsKind.Join);
    expect(last?.header[1]).toBe(F);
  });

  it("junk challenges in invented ids from each seed's address do not crowd out the real one", () => {
    // Session 32's review of the echo: echoes were every challenge of every record at the
    // address, oldest record first, cut to 3, so three junk challenges in one invented id from
    // each seed's address, every 50 ms, from before the seeds started (staggered 100 ms), filled
    // every echo and no seed ever proved another: no view in 30 s. A joiner's trusted challenge
    // (from a Join that proved it) goes first now, and a new one is echoed first at once.
    const net = new GmsNet(3);
    net.beacons = false;
    const nodes = [...net.nodes];
    for (let t = 6; t < 30_000; t += 50)
      net.at(t, () => {
        for (const n of nodes)
          for (const a of nodes)
            if (a !== n)
              for (let k = 0; k < 3; k++)
                net.injectProbe(n, `fffff${a.index}00.1`, a.address, [
                  GmsKind.Join,
                  '~',
                  '',
                  1,
                  `c${a.index}${k}`,
                ]);
      });
    for (const [i, n] of nodes.entries()) net.at(5 + i * 100, () => n.layer.down({ type: 'join' }));
    expect(founded(net, nodes, 30_000)).toBe(true);
    expect(net.now).toBeLessThan(1_000);
  });

  it("Joins in real joiners' ids from another address do not take their records away", () => {
    // Any Join in a known id from another address reset the record (address, proof): one every
    // 20 ms in each seed's id (ids a forger learns where it receives) kept every seed unproven.
    // A proven record moves only by a Join that proves the new address.
    const net = new GmsNet(3);
    net.beacons = false;
    const nodes = [...net.nodes];
    for (let t = 0; t < 20_000; t += 20)
      net.at(t, () => {
        for (const victim of nodes)
          for (const n of nodes)
            if (n !== victim) net.injectProbe(n, victim.id, 'n9', [GmsKind.Join, '', '', 1, 'junk']);
      });
    for (const n of nodes) n.layer.down({ type: 'join' });
    expect(founded(net, nodes, 20_000)).toBe(true);
    expect(net.now).toBeLessThan(1_000);
  });

  it("a flood of invented joiners does not make a real group's Here unproven", () => {
    // Each invented joiner is answered once, and the challenge for its address memoized; the
    // memo was cleared past its bound, and a Here was proven only by the memo: after 300 forged
    // Joins a Here echoing the challenge sent to a seed was not. Now the memo drops the least
    // recently used, and a Here's echo is checked against its sender's challenge first.
    const net = new GmsNet(0, FAST);
    const j = net.add(['n0', 'n1', 'n9']);
    j.layer.down({ type: 'join' });
    net.run(1);
    const toN1 = j.probed.findLast((p) => p.to === 'n1')!.header[4] as string;
    for (let i = 0; i < 300; i++) net.injectProbe(j, `f${i}.1`, `x${i}`, [GmsKind.Join, '~', '', 1, `c${i}`]);
    const before = net.stats(j).claimsUnproven;
    // A Here from n1, echoing our challenge, then nothing from n1 for 2 × suspectMs: only a
    // proven claim still holds founding back then (an unproven one is counted and dropped).
    net.injectProbe(j, '00000050.1', 'n1', [GmsKind.Here, 1, '00000050.1', 'n1', '', toN1]);
    net.run(net.now + 2 * FAST.suspectMs! + 10);
    net.injectProbe(j, '00000050.1', 'n1', [GmsKind.Here, 1, '00000050.1', 'n1', '', '']);
    expect(net.stats(j).claimsUnproven).toBe(before);
  });

  it('three seeds found their group though 64 invented joiners at other addresses keep joining', () => {
    // Each joiner records at most maxJoiners (64) others. 64 invented ids at non-seed addresses,
    // voting for nobody, one Join each to every seed every 3 × suspectMs − 50 ms, filled the
    // table: no seed recorded another's Join, and after 60 s none had a view (62 left room for
    // the other two seeds: founded at 302 ms). A seed's Join now takes the place of another's.
    const net = new GmsNet(3);
    net.beacons = false;
    const nodes = [...net.nodes];
    for (let t = 0; t < 60_000; t += 3 * FAST.suspectMs! - 50)
      net.at(t, () => {
        for (const n of nodes)
          for (let i = 0; i < 64; i++)
            net.injectProbe(n, `ffff${(0x1000 + i).toString(16)}.1`, `n9${i}`, [
              GmsKind.Join,
              'ffffffff.9',
              '',
              1,
              '',
            ]);
      });
    for (const n of nodes) n.layer.down({ type: 'join' });
    expect(net.runUntil(() => nodes.every((n) => net.view(n)?.members.length === 3), 60_000)).toBe(true);
  });
});
