import { defaultRegistry, GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { randomInt } from '../../runtime/stack/random.js';
import { type Checker, NAK_CHECKERS } from './checkers.js';
import {
  planAsymFlap,
  planBlackout,
  planChurn,
  planFlap,
  planFlushCut,
  planFlushNap,
  planLinks,
  planLossy,
  planMtu,
  planSkew,
  planSplits,
  planStateTransferCut,
  planZombie,
} from './patterns.js';
import { planSlow, resolveSlowTargets } from './slow.js';
import { type Fault, type ScenarioConfig, World } from './world.js';

export interface ScenarioResult {
  seed: number;
  violations: string[];
  trace: string[];
  world: World;
}

export function defaultConfig(seed: number, members: number, faults: Iterable<Fault>): ScenarioConfig {
  return {
    seed,
    members,
    faults: new Set(faults),
    stack: parseSpec('nak:com'),
    registry: defaultRegistry(),
    messages: 40,
    qos: { order: 'fifo' },
    loadMs: 2_000,
    faultMs: 3_000,
    endMs: 15_000,
    trace: false,
    probeAtMs: 10_000,
  };
}

/** The group stack under test: total order over virtual synchrony over NAK. */
export { GROUP_STACK };

/** Faster failure detection and lag bounds than the defaults, so simulated partitions, pauses
 * and slow members cause view changes within a scenario. */
export const GMS_SIM_OPTIONS = {
  gms: { heartbeatMs: 50, suspectMs: 300, partitionMs: 900, bootstrapMs: 300 },
  seq: { lagReportMs: 300, lagRemoveMs: 1_000 },
};

/** A group scenario: membership, total order, a mix of QoS per cast. */
export function groupConfig(seed: number, members: number, faults: Iterable<Fault>): ScenarioConfig {
  return {
    ...defaultConfig(seed, members, faults),
    stack: parseSpec(GROUP_STACK, GMS_SIM_OPTIONS),
    qos: (rng) => {
      const x = rng();
      if (x < 0.5) return { order: 'total' };
      // Half of each resilient kind awaits only its sender's delivery (lazy Acks, QoS `awaited`).
      if (x < 0.575) return { order: 'total', resilience: 'majority' };
      if (x < 0.65) return { order: 'total', resilience: 'majority', awaited: 'sender' };
      if (x < 0.7) return { order: 'total', resilience: 'safe' };
      if (x < 0.75) return { order: 'total', resilience: 'safe', awaited: 'sender' };
      if (x < 0.8) return { order: 'total', resilience: 'k', k: 1 };
      if (x < 0.85) return { order: 'total', resilience: 'k', k: 1, awaited: 'sender' };
      return { order: 'fifo' };
    },
  };
}

/** Plan the workload and the faults from the seed, run the world, check the invariants. */
export function runScenario(
  cfg: ScenarioConfig,
  checkers: readonly Checker[] = NAK_CHECKERS,
  /** Called once the workload and faults are planned, before the run (test/sim/forge.ts). */
  setup?: (w: World) => void,
): ScenarioResult {
  const w = new World(cfg);
  const r = w.rng;
  for (let i = 0; i < cfg.members; i++) {
    for (let k = 0; k < cfg.messages; k++) {
      const t = r() * cfg.loadMs;
      w.at(t, () => w.castBurst(w.nodes[i]!));
    }
  }
  planFaults(w);
  planProbes(w);
  setup?.(w);
  w.run();
  const violations = checkers.flatMap((c) => c.check(w).map((v) => `${c.name}: ${v}`));
  return { seed: cfg.seed, violations, trace: w.trace, world: w };
}

/** At {@link ScenarioConfig.probeAtMs}, every member casts a probe (the `progress` checker). */
export function planProbes(w: World): void {
  const at = w.cfg.probeAtMs;
  if (at === undefined) return;
  w.at(at, () => {
    for (const n of w.nodes) w.probe(n);
  });
}

/** Plan the seed's faults on `w` (crashes with restarts, pauses, a healed partition). */
export function planFaults(w: World, f: ReadonlySet<Fault> = w.cfg.faults): void {
  const cfg = w.cfg;
  const r = w.rng;
  if (f.has('crash')) {
    // Crash up to a minority of members; each comes back later as a new incarnation.
    const crashes = randomInt(r, 1, Math.max(1, Math.floor((cfg.members - 1) / 2)));
    for (let c = 0; c < crashes; c++) {
      const i = randomInt(r, 0, cfg.members - 1);
      const t = r() * cfg.faultMs * 0.7;
      w.at(t, () => w.crash(w.nodes[i]!));
      w.at(t + 50 + r() * 500, () => w.restart(i));
    }
  }
  if (f.has('pause')) {
    for (let c = 0; c < 3; c++) {
      const i = randomInt(r, 0, cfg.members - 1);
      const ms = 10 + r() * 300;
      w.at(r() * cfg.faultMs, () => w.pause(w.nodes[i]!, ms));
    }
  }
  if (f.has('partition')) {
    const t = r() * cfg.faultMs * 0.6;
    const sides = w.nodes.map(() => (r() < 0.5 ? 0 : 1));
    w.at(t, () => w.partition(sides));
    w.at(t + 100 + r() * 800, () => w.heal());
  }
  // The opt-in faults draw from generators of their own (test/sim/patterns.ts).
  if (f.has('splits')) planSplits(w);
  if (f.has('links')) planLinks(w);
  if (f.has('skew')) planSkew(w);
  // Each from its own generator, so adding them leaves every other fault's plan unchanged.
  if (f.has('zombie')) planZombie(w, () => sequencerNode(w));
  if (f.has('churn')) planChurn(w, () => sequencerNode(w));
  if (f.has('flushcut')) planFlushCut(w);
  if (f.has('lossy')) planLossy(w);
  if (f.has('flap')) planFlap(w);
  if (f.has('mtu')) planMtu(w);
  if (f.has('blackout')) planBlackout(w);
  if (f.has('flushnap')) planFlushNap(w, () => sequencerNode(w));
  if (f.has('xfer')) planStateTransferCut(w);
  if (f.has('aflap')) planAsymFlap(w);
  // Last, so adding it leaves every other fault's plan for a seed unchanged.
  if (f.has('slow')) {
    planSlow(w.slow, r, cfg.members, cfg.faultMs);
    resolveSlowTargets(
      w.slow,
      (t, fn) => w.at(t, fn),
      () => sequencerNode(w),
    );
  }
}

/** The node that is rank 0 (the sequencer) of the newest view a live node has installed. */
export function sequencerNode(w: World): number {
  let best: { id: number; member: string } | undefined;
  for (const n of w.nodes) {
    const v = n.alive ? n.rec.views.at(-1) : undefined;
    if (v && v.members.length > 0 && (!best || v.id > best.id)) best = { id: v.id, member: v.members[0]! };
  }
  const i = best ? w.nodes.findIndex((n) => n.rec.member === best.member) : -1;
  return Math.max(0, i);
}
