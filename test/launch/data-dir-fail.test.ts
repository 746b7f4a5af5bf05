/**
 * A replica whose `--data-dir` can no longer be written stops and exits 1 at its next view,
 * before acknowledging a view a restart would not remember (docs/protocol.md, "Membership
 * memory"); it used to run on with a warning.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../testkit/ports.js';
import { ProcessHarness } from '../../testkit/processes.js';

const KEY = 'ab'.repeat(32);
const procs = new ProcessHarness();
const dir = mkdtempSync(join(tmpdir(), 'troupe-data-dir-'));
afterAll(async () => {
  await procs.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('a replica whose data directory goes away', () => {
  it('logs why and exits 1 at the next view; the others go on without it', async () => {
    const ports = await freePorts(4);
    const seeds = ports.map((p) => `127.0.0.1:${p}`).join(',');
    const dataDir = join(dir, 'victim');
    const replicas = await Promise.all(
      ports.map((port, i) =>
        procs.start('test/launch/fixtures/bank-replica.ts', {
          name: `replica-${i}`,
          args: [
            '--json',
            '--port',
            String(port),
            '--seeds',
            seeds,
            ...(i === 3 ? ['--data-dir', dataDir] : []),
          ],
          env: { TROUPE_KEY: KEY },
        }),
      ),
    );
    const four = (e: { event?: unknown; members?: unknown; view?: unknown }): boolean =>
      (e.event === 'view' && (e.members as string[]).length === 4) ||
      (e.event === 'joined' && (e.view as { members: string[] } | undefined)?.members.length === 4);
    await Promise.all(replicas.map((r) => r.waitFor(four, 20_000)));
    rmSync(dataDir, { recursive: true, force: true });
    expect(await replicas[0]!.kill('SIGTERM')).toStrictEqual({ code: 0, signal: null });
    const victim = replicas[3]!;
    const exit = await Promise.race([
      victim.exited,
      new Promise((r) => setTimeout(() => r('still running'), 20_000)),
    ]);
    expect(exit).toStrictEqual({ code: 1, signal: null });
    expect(victim.events.find((e) => e.event === 'failed')).toMatchObject({ code: 'MEMBERSHIP_FILE_BAD' });
    // It never reported the view of 3 it could not write.
    expect(victim.events.filter((e) => e.event === 'view' && (e.members as string[]).length === 3)).toEqual(
      [],
    );
    const two = (e: { event?: unknown; members?: unknown }): boolean =>
      e.event === 'view' && (e.members as string[]).length === 2;
    await Promise.all(replicas.slice(1, 3).map((r) => r.waitFor(two, 20_000)));
  }, 60_000);
});
