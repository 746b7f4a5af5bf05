import { performance } from 'node:perf_hooks';
import { describe, expect, it, vi } from 'vitest';
import type { AppEvent } from '../../runtime/group/core.js';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer } from '../../runtime/observe/observer.js';

describe('observer: two lineages of a group met (issue 10)', () => {
  it('logs a yield at error level, naming both lineages and what is discarded; a partition stays a warning', () => {
    const lines: Record<string, unknown>[] = [];
    const observer = new Observer({
      logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)), now: () => 1 }),
    });
    // The group-event entry point the Group driver feeds; a stand-in group with its id suffices.
    const onApp = (ev: AppEvent) =>
      (observer as unknown as { onApp(g: unknown, e: AppEvent): void }).onApp({ self: 'b.1' }, ev);
    const ours = { viewId: 1, epoch: 77, coordinator: 'b.1' };
    const theirs = { viewId: 4, epoch: 8195, coordinator: 'a.1' };
    onApp({ type: 'partitioned', viewId: 1, reason: 'lineage', yielded: { ours, theirs, discarded: 12 } });
    onApp({ type: 'partitioned', viewId: 2, reason: '2 of 3 members silent' });
    // The Group adds when the member starts rejoining (rejoin damping): the line says it.
    onApp({ type: 'partitioned', viewId: 5, reason: 'excluded from view 6', rejoinInMs: 20_000 });
    expect(lines).toMatchObject([
      { level: 50, member: 'b.1', ours, theirs, discarded: 12 },
      { level: 40, member: 'b.1', view: 2, reason: '2 of 3 members silent', msg: 'cut off from the group' },
      { level: 40, view: 5, rejoinInMs: 20_000, msg: 'cut off from the group' },
    ]);
    expect(lines[1]).not.toHaveProperty('rejoinInMs');
    expect(lines[0]!.msg).toMatch(/discarding 12 ordered messages/);
  });
});

describe('observer: the sequencer reports a lagging member', () => {
  it('logs each removal, and a lag only reported once per member per 10 s', () => {
    const lines: Record<string, unknown>[] = [];
    const observer = new Observer({
      logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)), now: () => 1 }),
    });
    const onApp = (ev: AppEvent) =>
      (observer as unknown as { onApp(g: unknown, e: AppEvent): void }).onApp({ self: 's.1' }, ev);
    const lag = (member: string, removing: boolean) =>
      onApp({ type: 'lagging', lagging: { member, lagMs: 812.4, lagBytes: 4096, removing } });
    lag('x.1', false);
    lag('x.1', false); // within 10 s of the first: not logged again
    lag('y.1', false);
    lag('x.1', true);
    lag('x.1', true);
    expect(lines).toMatchObject([
      {
        level: 30,
        member: 's.1',
        lagging: 'x.1',
        lagMs: 812,
        lagBytes: 4096,
        msg: 'member lagging behind the order',
      },
      { level: 30, lagging: 'y.1' },
      { level: 40, lagging: 'x.1', msg: 'member removed: lagging behind the order' },
      { level: 40, lagging: 'x.1' },
    ]);
    expect(lines).toHaveLength(4);
    observer.close();
  });
});

describe('observer: a flush that takes long or restarts', () => {
  it('warns while it holds casts past 2 s, and the view line counts the attempts and restarts', () => {
    // The observer reads node:perf_hooks' clock (not the global a fake would replace): a manual one.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let t = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => t);
    const advance = (ms: number) => {
      for (let i = 0; i < ms / 100; i++) {
        t += 100;
        vi.advanceTimersByTime(100);
      }
    };
    try {
      const lines: Record<string, unknown>[] = [];
      const observer = new Observer({
        logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)), now: () => 1 }),
      });
      // A coordinator whose flush is outbid twice: gms counts each attempt it starts.
      const gms = { flushes: 4, flushOutbid: 1 };
      const group = { self: 'c.1', view: { id: 7, members: ['c.1', 'd.1'] }, stats: () => ({ gms }) };
      const onApp = (ev: AppEvent) =>
        (observer as unknown as { onApp(g: unknown, e: AppEvent): void }).onApp(group, ev);
      onApp({ type: 'block' });
      gms.flushes = 5;
      advance(1_900);
      expect(lines.map((l) => l.msg)).toEqual(['flush started: casts held until the next view']);
      gms.flushes = 7;
      gms.flushOutbid = 3;
      advance(200);
      expect(lines[1]).toMatchObject({
        level: 40,
        msg: 'flush still running: casts held',
        flushAttempts: 3,
        flushOutbid: 2,
      });
      expect(lines[1]!.blockedMs).toBeGreaterThanOrEqual(2_000);
      advance(1_000);
      expect(lines).toHaveLength(2); // again only 2 s later
      onApp({
        type: 'view',
        change: {
          view: { id: 8, members: ['c.1', 'd.1'], addresses: ['a', 'b'] },
          previousId: 7,
          joined: [],
          left: [],
          failed: [],
        },
      });
      expect(lines[2]).toMatchObject({ msg: 'view installed', view: 8, flushAttempts: 3, flushOutbid: 2 });
      advance(10_000);
      expect(lines).toHaveLength(3); // the watch ended with the view
      observer.close();
    } finally {
      clock.mockRestore();
      vi.useRealTimers();
    }
  });
});
