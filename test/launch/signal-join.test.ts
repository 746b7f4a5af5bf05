/**
 * `troupe serve` leaves cleanly on SIGTERM/SIGINT, also while it is still joining: a join may
 * wait long (for a majority of the seeds, then for the state), and a replica killed there by the
 * signal's default action said nothing, left nothing and, if already in a view, had to be
 * suspected and removed by the others (the package check's README run lost its third replica
 * that way when `kill %1 %2 %3` came before the third had joined).
 */
import * as dgram from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../testkit/ports.js';
import { ProcessHarness } from '../../testkit/processes.js';

const KEY = 'ab'.repeat(32);
const procs = new ProcessHarness();
afterAll(() => procs.stopAll());

describe('a replica signalled while it joins', () => {
  it('stops at once, says so and exits 0 instead of dying of the signal', async () => {
    const [port] = await freePorts(1);
    // Two of its three seeds are sockets that answer nothing: no majority, no view, it keeps joining.
    const down = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<dgram.Socket>((resolve) => {
            const s = dgram.createSocket('udp4');
            s.bind(0, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    let joinPackets = 0;
    for (const s of down) s.on('message', () => joinPackets++);
    try {
      const seeds = [port, ...down.map((s) => s.address().port)].map((p) => `127.0.0.1:${p}`).join(',');
      const child = await procs.start('test/launch/fixtures/bank-replica.ts', {
        args: ['--json', '--port', String(port), '--seeds', seeds],
        env: { TROUPE_KEY: KEY },
      });
      // Its join packets reaching the dead seeds: it is past start-up, in the join.
      const start = Date.now();
      while (joinPackets === 0 && Date.now() - start < 20_000) await new Promise((r) => setTimeout(r, 20));
      expect(joinPackets).toBeGreaterThan(0);
      const exit = await child.kill('SIGTERM');
      expect(exit).toStrictEqual({ code: 0, signal: null });
      expect(child.events.find((e) => e.event === 'stopped')).toMatchObject({
        signal: 'SIGTERM',
        group: 'bank',
      });
    } finally {
      for (const s of down) s.close();
    }
  }, 40_000);
});
