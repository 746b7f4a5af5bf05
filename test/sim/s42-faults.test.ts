// The opt-in faults of session 42 (test/sim/patterns.ts, rpc-scenario.ts): ccut, flushnap and
// aflap each do what they say, and the invariants hold under them on a few seeds.
import { describe, expect, it } from 'vitest';
import { GROUP_CHECKERS } from './group-checkers.js';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import { groupConfig, runScenario } from './scenario.js';
import type { Fault } from './world.js';

const BASE: Fault[] = ['loss', 'dup', 'reorder', 'delay'];

describe('ccut', () => {
  it('cuts a client off from its contact only: it fails over while the contact stays in the group', async () => {
    let cuts = 0;
    let moved = 0;
    for (let seed = 1; seed <= 3; seed++) {
      const cfg = { ...rpcConfig(seed, 3, [...BASE, 'ccut']), trace: true };
      const r = await runRpcScenario(cfg, {}, undefined, (sim) => {
        const w = sim.world;
        const active: { client: string; node: number; member: string; moved: boolean }[] = [];
        const cut = w.cutClientLink.bind(w);
        w.cutClientLink = (client, index, way, restore = false) => {
          cut(client, index, way, restore);
          if (!restore) {
            cuts++;
            active.push({ client, node: index, member: w.nodes[index]!.rec.member, moved: false });
            return;
          }
          const k = active.findIndex((a) => a.client === client && a.node === index);
          const a = active.splice(k, 1)[0]!;
          // The contact ran on: the same process, in the newest view of every live member.
          const n = w.nodes[index]!;
          expect(n.alive && n.rec.member === a.member).toBe(true);
          if (a.moved) moved++;
        };
        const poll = () => {
          for (const a of active) {
            const c = sim.clients[Number(a.client.slice(1))]!;
            if (c.contactMember !== undefined && c.contactMember !== a.member) a.moved = true;
          }
          if (w.now < w.cfg.faultMs) w.at(w.now + 10, poll);
        };
        w.at(0, poll);
      });
      expect(r.violations).toEqual([]);
      // Only the client's link to that member: the cut never names a member-to-member link.
      expect(r.trace.some((l) => / LINKS | PARTITION /.test(l))).toBe(false);
    }
    expect(cuts).toBeGreaterThanOrEqual(6);
    // Most cuts last long enough for the client to notice its contact's silence and fail over.
    expect(moved).toBeGreaterThanOrEqual(3);
  });
});

describe('flushnap', () => {
  it('stops a member the instant a flush starts, and the group invariants hold', () => {
    let naps = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const cfg = {
        ...groupConfig(seed, 3 + (seed % 5), [...BASE, 'crash', 'partition', 'flushnap']),
        trace: true,
        rejoin: 'same' as const,
      };
      const r = runScenario(cfg, GROUP_CHECKERS);
      for (const [k, l] of r.trace.entries()) {
        if (!/FLUSHNAP n\d+ \(/.test(l)) continue;
        naps++;
        // The pause follows at once, at the same instant, 0-10 ms after a member blocked.
        const at = Number(l.split(' ')[0]);
        const node = /FLUSHNAP (n\d+)/.exec(l)![1]!;
        expect(r.trace[k + 1]).toMatch(new RegExp(`^${at.toFixed(3)} ${node}\\S* PAUSE `));
        const pauses = r.world.pauses.filter((p) => Math.abs(p.at - at) < 0.001);
        expect(pauses.length).toBe(1);
        expect(pauses[0]!.until - at).toBeGreaterThanOrEqual(50);
      }
      expect(r.violations).toEqual([]);
    }
    expect(naps).toBeGreaterThanOrEqual(4);
  });
});

describe('aflap', () => {
  it('cuts links one way, again and again, each restored before the next', () => {
    const cfg = { ...groupConfig(7, 5, [...BASE, 'aflap']), trace: true };
    const r = runScenario(cfg, GROUP_CHECKERS);
    const links = r.trace.filter((l) => / LINKS /.test(l)).map((l) => l.split(' LINKS ')[1]!);
    // Every cut is one way: no pair a>b with b>a at the same time.
    for (const l of links) {
      const cuts = new Set(/ cut (.*)$/.exec(l)?.[1]?.split(' ') ?? []);
      for (const c of cuts) expect(cuts.has(c.split('>').reverse().join('>'))).toBe(false);
    }
    // Restored to nothing between rounds, at least three rounds.
    expect(links.filter((l) => l === '00000').length).toBeGreaterThanOrEqual(3);
    expect(r.violations).toEqual([]);
  });
});
