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
