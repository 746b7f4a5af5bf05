import { describe, expect, it } from 'vitest';
import { type Progress, ProgressBar, progressLine } from '../../runtime/distrib/progress.js';
import { runBulk } from './world.js';

const at = (ms: number, bytes: number, more: Partial<Progress> = {}): Progress => ({
  type: 'progress',
  xfer: 1,
  ms,
  bytes,
  size: 8 << 20,
  resent: 0,
  receivers: 4,
  done: 0,
  dropped: 0,
  lagging: 0,
  gapMs: 0.1,
  ...more,
});

describe('the sender progress bar', () => {
  it('shows bytes, rate, receivers done / lagging / dropped and the time left', () => {
    expect(progressLine(at(2000, 4 << 20, { done: 1, lagging: 1 }), 20)).toBe(
      '[##########----------]  50% 4.0/8.0 MB  2.0 MB/s  done 1/4 lagging 1  ETA 2s',
    );
    expect(progressLine(at(1000, 1 << 20, { dropped: 2 }), 8)).toBe(
      '[#-------]  12% 1.0/8.0 MB  1.0 MB/s  done 0/4 lagging 0 dropped 2  ETA 7s',
    );
    expect(progressLine(at(100_000, 1 << 19))).toMatch(/ETA 25m\d\ds$/);
    // Every byte out once: the rest is repair, with no honest estimate.
    expect(progressLine(at(4000, 8 << 20, { done: 3 }))).toMatch(
      /100% 8\.0\/8\.0 MB .* done 3\/4 .*repairing$/,
    );
  });

  it('redraws in place at most every everyMs and clears itself', () => {
    const out: string[] = [];
    const bar = new ProgressBar((s) => out.push(s), 200);
    for (let ms = 0; ms <= 1000; ms += 100) bar.update(at(ms, ms * 1000));
    expect(out).toHaveLength(6);
    expect(out.every((s) => s.startsWith('\r') && s.endsWith('\x1b[K'))).toBe(true);
    bar.clear();
    expect(out.at(-1)).toBe('\r\x1b[K');
  });

  it('the afdp sender reports progress up to the whole blob, then finishes', () => {
    const out = runBulk({
      seed: 2,
      receivers: 3,
      bytes: 500_000,
      loss: 0.02,
      dup: 0,
      jitterMs: 1,
      afdp: { chunk: 1024 },
    });
    const progress = out.events.filter((e): e is Progress => e.type === 'progress');
    expect(progress.length).toBeGreaterThan(1);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.bytes).toBeGreaterThanOrEqual(progress[i - 1]!.bytes);
    expect(progress.at(-1)!.bytes).toBe(500_000);
    expect(progress.at(-1)!.receivers).toBe(3);
  });
});
