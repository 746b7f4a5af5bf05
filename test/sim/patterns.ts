/**
 * The opt-in fault plans (see `ExtraFault` in test/sim/world.ts), each drawn from its own
 * seeded generator so that switching one on leaves the seed's other faults as they were:
 *
 * - `splits`: the network splits and heals repeatedly, in a pattern chosen per seed: halves
 *   (2|2 for 4 members), every member alone (1|1|1), or a majority and a minority that swap
 *   sides between rounds (the old minority becomes part of the new majority);
 * - `links`: one-way cuts (a member hears the others, they do not hear it, or the reverse)
 *   and non-transitive cuts (a and b cannot talk, while both talk to c);
 * - `skew`: each member's and client's wall clock is offset by up to ±3 h and drifts by up to
 *   ±2 % (the RPC mode's replicas and clients read it; the protocol layers run on monotonic
 *   time and do not).
 *
 * - `zombie`: a member (half the seeds: whoever is the sequencer then) stops for longer than
 *   the failure detector's whole patience, then runs on from where it stopped: overdue timers,
 *   stale packets, a view long replaced, casts queued in the old view;
 * - `churn`: whoever is the sequencer of the moment is crashed (restarted later as a new
 *   incarnation) or cut off alone (rejoining as the seed's rejoin mode says), two to four times;
 * - `flushcut`: a partition that, the instant a flush starts at any member, heals or splits
 *   again along other sides: the flush runs while the network changes under it;
 * - `lossy`: one to three times, one member's link loses 30–80 % of its packets (inbound,
 *   outbound or both) for 0.3–3 s.
 *
 * - `flap`: a split that heals and splits again along new sides every 80–400 ms for 2–5 s,
 *   shorter than suspicion takes, so flushes start under one topology and finish under another.
 * - `mtu`: one to three times, one member's link drops every datagram over 500–1,400 bytes
 *   (inbound, outbound or both) for 0.5–4 s, while smaller ones pass.
 *
 * - `blackout`: every member, or all but one (half the seeds), crashes within 4 ms of the others
 *   at a moment during the load, and each comes back as a new process 0.2–3 s later, at its own
 *   time (test/sim/blackout.ts says what must still hold).
 *
 * Every split and cut heals before `faultMs`, so the quiet phase can show recovery.
 */
import { randomInt, seededRandom } from '../../runtime/stack/random.js';
import type { Blackout, World } from './world.js';

export type SplitPattern = 'halves' | 'singles' | 'swap';
export const SPLIT_PATTERNS: readonly SplitPattern[] = ['halves', 'singles', 'swap'];

/** Sides for one round of `pattern` over `n` nodes; `round` alternates the swap pattern. */
export function splitSides(pattern: SplitPattern, n: number, round: number, r: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(r, 0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const sides = Array.from({ length: n }, () => 0);
  if (pattern === 'singles') {
    order.forEach((node, k) => {
      sides[node] = k;
    });
    return sides;
  }
  const minority = pattern === 'halves' ? Math.floor(n / 2) : Math.max(1, Math.floor((n - 1) / 2));
  if (pattern === 'swap') {
    // A fixed ring order so consecutive rounds move the minority: round k isolates the nodes
    // k*m .. k*m+m-1 (mod n), so each round's minority was part of the previous majority.
    for (let k = 0; k < minority; k++) sides[(round * minority + k) % n] = 1;
    return sides;
  }
  for (let k = 0; k < minority; k++) sides[order[k]!] = 1;
  return sides;
}

/** `splits`: 2..4 rounds of split-then-heal in the seed's pattern, all within the fault phase. */
export function planSplits(w: World): SplitPattern {
  const r = seededRandom(w.cfg.seed * 131 + 7);
  const pattern = SPLIT_PATTERNS[randomInt(r, 0, SPLIT_PATTERNS.length - 1)]!;
  const rounds = randomInt(r, 2, 4);
  let t = 100 + r() * 300;
  for (let k = 0; k < rounds; k++) {
    const split = 300 + r() * 1_700;
    const healed = 200 + r() * 800;
    if (t + split > w.cfg.faultMs) break;
    const sides = splitSides(pattern, w.cfg.members, k, r);
    w.at(t, () => w.partition(sides));
    w.at(t + split, () => w.heal());
    t += split + healed;
  }
  return pattern;
}

/** `links`: a one-way cut and a non-transitive cut (a↮b, both reach c), each healed later. */
export function planLinks(w: World): void {
  const r = seededRandom(w.cfg.seed * 137 + 11);
  const n = w.cfg.members;
  if (n < 2) return;
  const pick = () => randomInt(r, 0, n - 1);
  const other = (a: number) => (a + randomInt(r, 1, n - 1)) % n;
  const rounds = randomInt(r, 1, 3);
  for (let k = 0; k < rounds; k++) {
    const t = r() * w.cfg.faultMs * 0.7;
    const len = 200 + r() * 1_500;
    const a = pick();
    if (r() < 0.5) {
      // One way: a hears everyone (or everyone hears a) but not the reverse.
      const deaf = r() < 0.5;
      for (let b = 0; b < n; b++) {
        if (b === a) continue;
        w.at(t, () => w.cutLink(deaf ? b : a, deaf ? a : b));
        w.at(Math.min(t + len, w.cfg.faultMs), () => w.cutLink(deaf ? b : a, deaf ? a : b, false, true));
      }
    } else {
      // Non-transitive: a and b lose each other both ways; everyone else still talks to both.
      const b = other(a);
      w.at(t, () => w.cutLink(a, b, true));
      w.at(Math.min(t + len, w.cfg.faultMs), () => w.cutLink(a, b, true, true));
    }
  }
}

/** Largest wall-clock offset of `skew` (3 h) and drift rate (2 %). */
export const MAX_SKEW_MS = 3 * 3_600_000;
export const MAX_DRIFT = 0.02;

/** Wall-clock time at virtual time 0 under `skew` (2026-01-01T00:00:00Z). */
export const SKEW_EPOCH_MS = Date.UTC(2026, 0, 1);

/** `skew`: per-address wall-clock offset and drift for every member and every `clients` address. */
export function planSkew(w: World, clients: readonly string[] = []): void {
  const r = seededRandom(w.cfg.seed * 139 + 13);
  for (const address of [...w.nodes.map((n) => n.address), ...clients]) {
    // Most clocks are a little off; some are off by minutes to hours, either way.
    const big = r() < 0.3;
    const offset = (r() * 2 - 1) * (big ? MAX_SKEW_MS : 2_000);
    const drift = (r() * 2 - 1) * MAX_DRIFT;
    // From a real epoch: virtual time starts at 0, and a clock hours behind must not go
    // negative (a replica clamps a negative request time to 0, which no real clock gives).
    w.skew.set(address, (now) => SKEW_EPOCH_MS + offset + drift * now);
  }
}

/** `zombie`: one long stop (0.8–2.5 s, past the sim's suspectMs + partitionMs), then it runs on.
 * `sequencer` names the node that is rank 0 of the newest view at the moment. */
export function planZombie(w: World, sequencer: () => number): void {
  const r = seededRandom(w.cfg.seed * 149 + 17);
  const stops = randomInt(r, 1, 2);
  let t = 150 + r() * w.cfg.faultMs * 0.3;
  for (let k = 0; k < stops && t < w.cfg.faultMs; k++) {
    const ofSequencer = r() < 0.5;
    const node = randomInt(r, 0, w.cfg.members - 1);
    const ms = 800 + r() * 1_700;
    w.at(t, () => w.pause(w.nodes[ofSequencer ? sequencer() : node]!, ms));
    t += ms + 200 + r() * 600;
  }
}

/** `churn`: the sequencer of the moment crashed (back 50–400 ms later) or cut off alone
 * (healed 300–1,200 ms later), two to four times, each once the last has healed. */
export function planChurn(w: World, sequencer: () => number): void {
  const r = seededRandom(w.cfg.seed * 151 + 19);
  const rounds = randomInt(r, 2, 4);
  let t = 200 + r() * 400;
  for (let k = 0; k < rounds && t < w.cfg.faultMs; k++) {
    const crash = r() < 0.5;
    const len = crash ? 50 + r() * 350 : 300 + r() * 900;
    w.at(t, () => {
      const i = sequencer();
      if (crash) {
        w.log(`CHURN crash the sequencer n${i}`);
        w.crash(w.nodes[i]!);
        w.at(w.now + len, () => w.restart(i));
      } else {
        w.log(`CHURN cut the sequencer n${i} off`);
        w.partition(w.nodes.map((_, j) => (j === i ? 1 : 0)));
        w.at(Math.min(w.now + len, w.cfg.faultMs), () => w.heal());
      }
    });
    t += len + 300 + r() * 700;
  }
}

/** `flushcut`: one to three partitions, each healed (or split along new sides, then healed)
 * 0–4 ms after the first member blocks for the flush it causes; healed at the latest 1.2 s on. */
export function planFlushCut(w: World): void {
  const r = seededRandom(w.cfg.seed * 157 + 23);
  const n = w.cfg.members;
  const rounds = randomInt(r, 1, 3);
  const sides = () => {
    const s: number[] = w.nodes.map(() => (r() < 0.5 ? 0 : 1));
    if (s.every((x) => x === s[0])) s[randomInt(r, 0, n - 1)] = 1 - s[0]!;
    return s;
  };
  // After the founding (bootstrapMs 300 and its round trips): a cut while the group is being
  // founded starts no flush.
  let t = 600 + r() * 300;
  for (let k = 0; k < rounds && t < w.cfg.faultMs; k++) {
    const first = sides();
    const second = r() < 0.5 ? sides() : undefined;
    const jitter = r() * 4;
    const again = 300 + r() * 900;
    const latest = Math.min(t + 1_200, w.cfg.faultMs);
    let done = false;
    let fired = false;
    w.at(t, () => {
      w.partition(first);
      const hook = () => {
        fired = true;
        w.blockHooks.splice(w.blockHooks.indexOf(hook), 1);
        w.at(w.now + jitter, () => {
          if (done) return;
          if (!second) {
            done = true;
            w.log('FLUSHCUT heal during the flush');
            w.heal();
            return;
          }
          w.log('FLUSHCUT split again during the flush');
          w.partition(second);
          w.at(Math.min(w.now + again, w.cfg.faultMs), () => {
            done = true;
            w.heal();
          });
        });
      };
      w.blockHooks.push(hook);
      // No flush came (the cut changed no view): heal anyway, before the quiet phase.
      w.at(latest, () => {
        if (fired) return;
        w.blockHooks.splice(w.blockHooks.indexOf(hook), 1);
        done = true;
        w.heal();
      });
    });
    t = latest + 100 + r() * 300;
  }
}

/** `lossy`: one to three episodes, each one member's link losing 30–80 % of its inbound,
 * outbound or both packets for 0.3–3 s (ended by `faultMs`), one after another. */
export function planLossy(w: World): void {
  const r = seededRandom(w.cfg.seed * 163 + 29);
  const rounds = randomInt(r, 1, 3);
  let t = 200 + r() * w.cfg.faultMs * 0.3;
  for (let k = 0; k < rounds && t < w.cfg.faultMs; k++) {
    const i = randomInt(r, 0, w.cfg.members - 1);
    const rate = 0.3 + r() * 0.5;
    const way = r();
    const len = 300 + r() * 2_700;
    w.at(t, () => w.setLossy(i, way < 0.67 ? rate : 0, way >= 0.33 ? rate : 0));
    w.at(Math.min(t + len, w.cfg.faultMs), () => w.setLossy(i, 0, 0));
    t += len + 100 + r() * 500;
  }
}

/** `flap`: from 200–800 ms, split (new sides each time) and heal every 80–400 ms for 2–5 s,
 * healed by `faultMs` at the latest. */
export function planFlap(w: World): void {
  const r = seededRandom(w.cfg.seed * 179 + 41);
  const n = w.cfg.members;
  let t = 200 + r() * 600;
  const end = Math.min(t + 2_000 + r() * 3_000, w.cfg.faultMs);
  while (t < end) {
    const sides = Array.from({ length: n }, () => (r() < 0.5 ? 0 : 1));
    const split = 80 + r() * 320;
    const healed = 80 + r() * 320;
    w.at(t, () => w.partition(sides));
    w.at(Math.min(t + split, end), () => w.heal());
    t += split + healed;
  }
}

/** `mtu`: one to three episodes, each one member's link dropping every datagram over 500–1,400
 * bytes, inbound, outbound or both, for 0.5–4 s (ended by `faultMs`), one after another. */
export function planMtu(w: World): void {
  const r = seededRandom(w.cfg.seed * 181 + 43);
  const rounds = randomInt(r, 1, 3);
  let t = 200 + r() * w.cfg.faultMs * 0.3;
  for (let k = 0; k < rounds && t < w.cfg.faultMs; k++) {
    const i = randomInt(r, 0, w.cfg.members - 1);
    const limit = randomInt(r, 500, 1_400);
    const way = r();
    const len = 500 + r() * 3_500;
    w.at(t, () => w.setMtu(i, way < 0.67 ? limit : 0, way >= 0.33 ? limit : 0));
    w.at(Math.min(t + len, w.cfg.faultMs), () => w.setMtu(i, 0, 0));
    t += len + 100 + r() * 500;
  }
}

/**
 * `blackout`: at 500 ms to `loadMs` (the load under way), once some live member holds a view (the
 * group founded; checked every 50 ms, until `faultMs`), every member crashes, or every member but
 * one drawn per seed (half the seeds), each within 4 ms of the first; each crashed member's new
 * process starts 0.2–3 s after the blackout, at a time of its own. A node already down then
 * (another fault's crash) is left to that fault's restart. The record (`World.blackouts`) is
 * filled in when it strikes.
 */
export function planBlackout(w: World): void {
  const r = seededRandom(w.cfg.seed * 191 + 47);
  const n = w.cfg.members;
  const planned = 500 + r() * Math.max(0, w.cfg.loadMs - 500);
  const spared = r() < 0.5 ? randomInt(r, 0, n - 1) : undefined;
  const crashed = Array.from({ length: n }, (_, i) => i).filter((i) => i !== spared);
  const offsets = crashed.map(() => ({ crash: r() * 4, restart: 200 + r() * 2_800 }));
  const strike = () => {
    const founded = w.nodes.some((x) => x.alive && x.rec.views.length > 0);
    if (!founded && w.now + 50 < w.cfg.faultMs) {
      w.at(w.now + 50, strike);
      return;
    }
    const at = w.now;
    const b: Blackout = { at, crashed, spared, restarts: [] };
    w.blackouts.push(b);
    w.log(
      `BLACKOUT: ${crashed.length} of ${n} members crash${spared === undefined ? '' : `, n${spared} spared`}`,
    );
    crashed.forEach((i, k) => {
      const o = offsets[k]!;
      b.restarts.push({ node: i, at: at + o.restart });
      w.at(at + o.crash, () => w.crash(w.nodes[i]!));
      w.at(at + o.restart, () => w.restart(i));
    });
  };
  w.at(planned, strike);
}

/**
 * `flushnap`: one to three times, from 300 ms on, the first flush to start after a planned moment
 * stops a member 0–10 ms after the first member blocks: the one that blocked, the newest view's
 * rank 0 (`coordinator`), or another drawn at random, for 50–1,500 ms (below and past the failure
 * detector's patience), so it sleeps across the view change, before or after its answer to a step.
 * `may` says whether a node may be stopped now (RPC mode keeps the primary partition's majority).
 */
export function planFlushNap(
  w: World,
  coordinator: () => number,
  may: (node: number) => boolean = () => true,
): void {
  const r = seededRandom(w.cfg.seed * 197 + 59);
  const rounds = randomInt(r, 1, 3);
  let t = 300 + r() * w.cfg.faultMs * 0.3;
  for (let k = 0; k < rounds && t < w.cfg.faultMs; k++) {
    const who = r();
    const any = randomInt(r, 0, w.cfg.members - 1);
    const jitter = r() * 10;
    const ms = 50 + r() * 1_450;
    w.at(t, () => {
      const hook = (blocked: number) => {
        w.blockHooks.splice(w.blockHooks.indexOf(hook), 1);
        w.at(w.now + jitter, () => {
          const target = who < 0.4 ? blocked : who < 0.7 ? coordinator() : any;
          const n = w.nodes[target]!;
          if (!n.alive || !may(target)) {
            w.log(`FLUSHNAP n${target} skipped`);
            return;
          }
          w.log(`FLUSHNAP n${target} (n${blocked} blocked)`);
          w.pause(n, ms);
        });
      };
      w.blockHooks.push(hook);
      // Unhooked at the end of the fault phase if no flush came.
      w.at(w.cfg.faultMs, () => {
        const i = w.blockHooks.indexOf(hook);
        if (i >= 0) w.blockHooks.splice(i, 1);
      });
    });
    t += 400 + r() * 1_500;
  }
}

/**
 * `aflap`: from 200–800 ms, for 2–5 s, one-way cuts that come and go every 80–400 ms (healed by
 * `faultMs` at the latest): each round either one member goes deaf (hears no one) or mute (no
 * one hears it), or the members split in two sides and one side's packets stop reaching the
 * other while the other's still arrive; then everything is restored for 80–400 ms.
 */
export function planAsymFlap(w: World): void {
  const r = seededRandom(w.cfg.seed * 211 + 67);
  const n = w.cfg.members;
  let t = 200 + r() * 600;
  const end = Math.min(t + 2_000 + r() * 3_000, w.cfg.faultMs);
  while (t < end) {
    const cuts: [number, number][] = [];
    if (r() < 0.5) {
      const a = randomInt(r, 0, n - 1);
      const deaf = r() < 0.5;
      for (let b = 0; b < n; b++) if (b !== a) cuts.push(deaf ? [b, a] : [a, b]);
    } else {
      const side = Array.from({ length: n }, () => (r() < 0.5 ? 0 : 1));
      for (let a = 0; a < n; a++)
        for (let b = 0; b < n; b++) if (side[a] === 0 && side[b] === 1) cuts.push([a, b]);
    }
    const split = 80 + r() * 320;
    const healed = 80 + r() * 320;
    w.at(t, () => {
      for (const [a, b] of cuts) w.cutLink(a, b);
    });
    w.at(Math.min(t + split, end), () => {
      for (const [a, b] of cuts) w.cutLink(a, b, false, true);
    });
    t += split + healed;
  }
}

/**
 * `xfer`: one to three times, from 300 ms on, the first state snapshot a member takes for a
 * joiner after a planned moment (a state transfer starts there) is struck 0–5 ms later: the
 * provider is stopped for 50–1,500 ms (35 %), or cut off from every other member both ways for
 * 0.3–2 s (25 %), or the network changes under the transfer (40 %): a split in effect heals, or
 * else a minority (drawn) is split from the rest for 0.3–1.5 s. `may` says whether the provider may be
 * stopped or cut off now (RPC mode keeps the primary partition's majority).
 */
export function planStateTransferCut(w: World, may: (node: number) => boolean = () => true): void {
  const r = seededRandom(w.cfg.seed * 227 + 73);
  const rounds = randomInt(r, 1, 3);
  const n = w.cfg.members;
  let t = 300 + r() * w.cfg.faultMs * 0.3;
  for (let k = 0; k < rounds && t < w.cfg.faultMs; k++) {
    const what = r();
    const jitter = r() * 5;
    const pauseMs = 50 + r() * 1_450;
    const cutMs = 300 + r() * 1_700;
    const splitMs = 300 + r() * 1_200;
    // A minority apart (1 to (n-1)/2 members, drawn), so the primary partition goes on.
    const sides: number[] = Array.from({ length: n }, () => 0);
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = randomInt(r, 0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const apart = randomInt(r, 1, Math.max(1, Math.floor((n - 1) / 2)));
    for (let i = 0; i < apart; i++) sides[order[i]!] = 1;
    w.at(t, () => {
      const hook = (provider: number) => {
        w.snapshotHooks.splice(w.snapshotHooks.indexOf(hook), 1);
        w.at(w.now + jitter, () => {
          const p = w.nodes[provider]!;
          if (what < 0.6) {
            if (!p.alive || !may(provider)) {
              w.log(`XFER n${provider} skipped`);
              return;
            }
            if (what < 0.35) {
              w.log(`XFER pause provider n${provider}`);
              w.pause(p, pauseMs);
              return;
            }
            w.log(`XFER cut provider n${provider} off for ${cutMs.toFixed(0)} ms`);
            const others = w.nodes.filter((o) => o.index !== provider).map((o) => o.index);
            for (const o of others) w.cutLink(provider, o, true);
            w.at(Math.min(w.now + cutMs, w.cfg.faultMs), () => {
              for (const o of others) w.cutLink(provider, o, true, true);
            });
            return;
          }
          if (w.links.split) {
            w.log(`XFER heal during the transfer from n${provider}`);
            w.heal();
            return;
          }
          w.log(`XFER split during the transfer from n${provider}`);
          w.partition(sides);
          w.at(Math.min(w.now + splitMs, w.cfg.faultMs), () => w.heal());
        });
      };
      w.snapshotHooks.push(hook);
      w.at(w.cfg.faultMs, () => {
        const i = w.snapshotHooks.indexOf(hook);
        if (i >= 0) w.snapshotHooks.splice(i, 1);
      });
    });
    t += 500 + r() * 2_000;
  }
}
