import { StackConfigError } from '../errors.js';

/**
 * How a group tells a dead, slow or flapping member from a healthy one: the failure detector's
 * timing (layer `gms`), the lag bound of the ordering (layer `seq`) and the damping of
 * rejoins. Every field is optional; docs/api.md ("Health options") has the table of defaults.
 */
export interface HealthOptions {
  /** Heartbeat period of the failure detector (ms; default 100). */
  heartbeatMs?: number;
  /** A member silent this long is suspected and removed (ms; default 1000). */
  suspectMs?: number;
  /** A member that hears no majority of its view this long stops as partitioned (ms; default 3000). */
  partitionMs?: number;
  /** Report (event `lagging`) a member trailing the ordering this long (ms; default 1000; 0 off). */
  lagReportMs?: number;
  /** Remove a member trailing the ordering this long (ms; default 5000; 0 off). */
  lagRemoveMs?: number;
  /** Report a member this many bytes of ordered payload behind (default 4 MB; 0 off). */
  lagReportBytes?: number;
  /** Remove a member this many bytes of ordered payload behind (default 32 MB; 0 off). */
  lagRemoveBytes?: number;
  /** Remove the sequencer (the view's rank 0) once a majority of the other members have each
   * waited this long for a stamp (ms; default 500; 0 off). It rejoins damped like any member. */
  sequencerStallMs?: number;
  /** Also remove it once a majority of the others found, over this sliding window, the stamps
   * late (past `sequencerLateMs`) at least `sequencerSlowShare` of the time, and at least twice
   * as often as their peers' acknowledgements and their own timers: a sequencer stopped briefly
   * but often
   * (ms; default 1000; 0 off). */
  sequencerSlowWindowMs?: number;
  /** Share of the window the stamps must be late (default 0.5, in (0, 1]). */
  sequencerSlowShare?: number;
  /** A stamp this long after its message is late (ms; default 10). */
  sequencerLateMs?: number;
  /** After an exclusion, be admitted again at most once per this period (ms; default 5000);
   * each exclusion that follows soon after a rejoin doubles the wait, up to 16 periods. 0: at
   * once. The waiting member still votes in a re-founding (a group that lost its majority may
   * need it), it only asks no running group to admit it. */
  rejoinDampMs?: number;
}

/** Default of {@link HealthOptions.rejoinDampMs}. */
export const REJOIN_DAMP_MS = 5_000;

const GMS_KEYS = ['heartbeatMs', 'suspectMs', 'partitionMs'] as const;
const SEQ_KEYS = [
  'lagReportMs',
  'lagRemoveMs',
  'lagReportBytes',
  'lagRemoveBytes',
  'sequencerStallMs',
  'sequencerSlowWindowMs',
  'sequencerSlowShare',
  'sequencerLateMs',
] as const;

/** The layer options a {@link HealthOptions} sets (merged under the caller's explicit `layers`). */
export function healthLayers(h: HealthOptions | undefined): Record<string, Record<string, unknown>> {
  const pick = (keys: readonly (keyof HealthOptions)[]) =>
    Object.fromEntries(keys.filter((k) => h?.[k] !== undefined).map((k) => [k, h![k]]));
  if (h?.rejoinDampMs !== undefined && !(Number.isFinite(h.rejoinDampMs) && h.rejoinDampMs >= 0))
    throw new StackConfigError('STACK_BAD_OPTION', 'rejoinDampMs must be a non-negative number');
  return { gms: pick(GMS_KEYS), seq: pick(SEQ_KEYS) };
}

/**
 * Rejoin damping: a member excluded again and again (a persistently slow machine) must not
 * churn the group with a view change and a state transfer each time. Rejoins are spaced at
 * least `dampMs` apart; an exclusion within two waits of the last rejoin doubles the wait (up
 * to 16×), a longer stay in the group resets it.
 */
export class RejoinDamper {
  private lastRejoin: number | undefined;
  private wait: number;

  constructor(private readonly dampMs: number) {
    this.wait = dampMs;
  }

  /**
   * The member was cut off at `now` and rejoins: how long it must wait (ms) before a running
   * group admits it. The new incarnation starts at once all the same (it finds the group and
   * votes in a re-founding); only its admission counts as the rejoin.
   */
  cutOff(now: number): number {
    let wait = 0;
    if (this.lastRejoin !== undefined && this.dampMs > 0) {
      const since = now - this.lastRejoin;
      this.wait = since < 2 * this.wait ? Math.min(16 * this.dampMs, 2 * this.wait) : this.dampMs;
      // Never past the (capped) wait from now: cut off again before its admission came (it
      // founded or joined a group meanwhile, and lost it), the member's last rejoin is still
      // ahead, and a wait counted from there added up, cut after cut (a real-process chaos run,
      // seed 5104: 268 s, where 16 × dampMs is 80 s).
      wait = Math.min(this.wait, Math.max(0, this.lastRejoin + this.wait - now));
    }
    this.lastRejoin = now + wait;
    return wait;
  }
}
