// The `ciso` fault (test/sim/rpc-scenario.ts planContactIsolation): a client's contact is cut off
// from every other member while the client still reaches it, mostly while an async method runs
// there; the others exclude it and it rejoins, and the RPC invariants hold.
import { describe, expect, it } from 'vitest';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import type { Fault } from './world.js';

const BASE: Fault[] = ['loss', 'dup', 'reorder', 'delay'];

describe('ciso', () => {
  it('isolates a contact from the other members only: it is excluded and rejoins', async () => {
    let strikes = 0;
    let busy = 0;
    let excluded = 0;
    let back = 0;
    for (let seed = 1; seed <= 3; seed++) {
      const cfg = { ...rpcConfig(seed, 4, [...BASE, 'ciso']), trace: true, rejoin: 'same' as const };
      const struck: { node: number; member: string; at: number; ms: number }[] = [];
      const r = await runRpcScenario(cfg, { asyncShare: 0.25 }, undefined, (sim) => {
        const w = sim.world;
        const log = w.log.bind(w);
        w.log = (line: string) => {
          log(line);
          const m = /^CISO n(\d+) \(contact of c\d+(, async running)?\) for (\d+) ms/.exec(line);
          if (!m) return;
          if (m[2]) busy++;
          const node = Number(m[1]);
          struck.push({ node, member: w.nodes[node]!.rec.member, at: w.now, ms: Number(m[3]) });
        };
      });
      expect(r.violations).toEqual([]);
      // Only member-to-member links: no client is cut off.
      expect(r.trace.some((l) => / CCUT /.test(l))).toBe(false);
      for (const s of struck) {
        strikes++;
        const base = s.member.split('.')[0]!;
        const others = r.sim.world.nodes.filter((n) => n.index !== s.node);
        // Another member installs a view without it while it is cut off (or just after) ...
        const out = others.flatMap((n) =>
          n.rec.views.filter((v) => v.at > s.at && v.at < s.at + s.ms + 500 && !v.members.includes(s.member)),
        );
        if (out.length === 0) continue;
        excluded++;
        // ... and later one with it again (the process at that address, rejoined).
        const t = Math.min(...out.map((v) => v.at));
        if (
          others.some((n) =>
            n.rec.views.some((v) => v.at > t && v.members.some((m) => m.startsWith(`${base}.`))),
          )
        )
          back++;
      }
    }
    expect(strikes).toBeGreaterThanOrEqual(4);
    // Most strikes find an async method running at the contact; most cut it off long enough to
    // be excluded, and each excluded one is back in a later view.
    expect(busy).toBeGreaterThanOrEqual(strikes / 2);
    expect(excluded).toBeGreaterThanOrEqual(strikes / 2);
    expect(back).toBe(excluded);
  });
});
