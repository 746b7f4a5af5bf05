/**
 * Rejoin damping (`RejoinDamper`, runtime/group/health.ts): rejoins after exclusions are spaced
 * by a wait that doubles while exclusions repeat, up to 16 × `rejoinDampMs`, and resets after a
 * longer stay.
 */
import { describe, expect, it } from 'vitest';
import { RejoinDamper } from '../../runtime/group/health.js';

describe('rejoin damping', () => {
  it('doubles the wait while exclusions repeat, up to 16 ×, and resets after a long stay', () => {
    const d = new RejoinDamper(1_000);
    let now = 0;
    expect(d.cutOff(now)).toBe(0); // the first exclusion rejoins at once
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      now += 100; // excluded again soon after each admission
      const w = d.cutOff(now);
      waits.push(w);
      now += w; // admitted after its wait
    }
    expect(waits).toEqual([1_900, 3_900, 7_900, 15_900, 15_900, 15_900, 15_900]);
    now += 100_000; // a long stay in the group: rejoins at once, and the wait starts over
    expect(d.cutOff(now)).toBe(0);
    expect(d.cutOff(now + 100)).toBe(1_900);
  });

  it('never waits past 16 × rejoinDampMs from now, cut off again and again before its admission', () => {
    // A member waiting to be admitted still founds or joins a group that needs it, and can be cut
    // off from that one too, before the admission time it was given. The wait was counted from
    // that time, still ahead: a real-process chaos run (seed 5104, `--max-down 4`) ended with a
    // member told to wait 268 s (16 × 5 s is 80 s), past the run's 140 s to settle.
    const d = new RejoinDamper(5_000);
    let now = 0;
    d.cutOff(now);
    let longest = 0;
    for (let i = 0; i < 30; i++) {
      now += 3_000; // cut off 3 s after the last, admitted or not
      longest = Math.max(longest, d.cutOff(now));
    }
    expect(longest).toBe(80_000);
  });
});
