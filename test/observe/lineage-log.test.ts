import { describe, expect, it } from 'vitest';
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
