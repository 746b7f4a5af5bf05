import { randomInt } from '../../runtime/stack/random.js';

/** One stretch of slowness: the node runs `runMs` out of every `periodMs` (a SIGSTOP/SIGCONT
 * duty cycle), between `from` and `to` of virtual time. */
export interface SlowSpell {
  /** The node; -1 until a spell that targets the sequencer starts (see `target`). */
  node: number;
  /** `sequencer`: the spell slows whichever node is the sequencer (rank 0 of the newest view)
   * when it starts; the scenario resolves `node` then. */
  target?: 'sequencer';
  from: number;
  to: number;
  periodMs: number;
  runMs: number;
}

/**
 * Slow-but-alive members (the `slow` fault): a node's work waits while its duty cycle has it
 * stopped, and the cycle changes from spell to spell, so the node's processing delay varies
 * over time. Unlike `pause`, the node keeps running a little in every period, so a failure
 * detector keeps hearing it: only the ordering's lag bound can tell it is behind.
 */
export class SlowPlan {
  readonly spells: SlowSpell[] = [];

  /** The earliest time at or after `now` at which node `node` runs. */
  resumeAt(node: number, now: number): number {
    for (const s of this.spells) {
      if (s.node !== node || now < s.from || now >= s.to) continue;
      const phase = (now - s.from) % s.periodMs;
      // Each period starts with its running slot, then stops until the period ends.
      if (phase < s.runMs) return now;
      return Math.min(s.to, now + (s.periodMs - phase));
    }
    return now;
  }
}

/** Resolve, at its start, the node of every spell that targets the sequencer: `at` schedules,
 * `sequencer` names the node that is rank 0 of the newest view at that moment. */
export function resolveSlowTargets(
  plan: SlowPlan,
  at: (t: number, fn: () => void) => void,
  sequencer: () => number,
): void {
  for (const s of plan.spells)
    if (s.target === 'sequencer')
      at(s.from, () => {
        s.node = sequencer();
      });
}

/**
 * Plan slow spells for a minority of `members`, within `[0, faultMs)`: stopped 50–95% of each
 * period, periods of 20 ms to 2 s (the longest outlast the sim's lag bound, so removal and
 * rejoin are exercised too).
 */
export function planSlow(plan: SlowPlan, rng: () => number, members: number, faultMs: number): void {
  const slow = randomInt(rng, 1, Math.max(1, Math.floor((members - 1) / 2)));
  for (let c = 0; c < slow; c++) {
    let node = randomInt(rng, 0, members - 1);
    // Half the slow members are whoever holds the sequencer role as each of their spells starts.
    const target = rng() < 0.5 ? ('sequencer' as const) : undefined;
    if (target) node = -1;
    let t = rng() * faultMs * 0.3;
    const spells = randomInt(rng, 1, 3);
    for (let s = 0; s < spells && t < faultMs; s++) {
      const periodMs = 20 * 100 ** rng();
      const stopped = 0.5 + rng() * 0.45;
      const to = Math.min(faultMs, t + 200 + rng() * 2_000);
      const spell: SlowSpell = {
        node,
        from: t,
        to,
        periodMs,
        runMs: Math.max(0.5, periodMs * (1 - stopped)),
      };
      if (target) spell.target = target;
      plan.spells.push(spell);
      t = to + rng() * 300;
    }
  }
}
