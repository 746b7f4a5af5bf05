/**
 * Review of 48e87a7 (only seeds vote a group into being), through the launcher. Failed on
 * 8dd1c3c (main), passes on 42d0ffc (before 48e87a7); fixed: runReplica resolves --host.
 */
import { describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { bankModel } from '../../examples/bank/generated/bank.model.js';
import { LaunchError } from '../../runtime/launch/errors.js';
import { runReplica } from '../../runtime/launch/run.js';
import { freePorts } from '../../testkit/ports.js';

const KEY = 'ab'.repeat(32);

describe('review7: troupe serve --host NAME --seeds NAME:P,…', () => {
  it('two of three seeds found the group when --host is the name the seeds use', async () => {
    // runReplica resolves the seeds (localhost:P → 127.0.0.1:P) but binds --host as written, so
    // the replica's own address is localhost:P, which is no seed as resolved: its own vote never
    // counts, and founding takes two *other* seeds, i.e. all three up. The same with
    // `--host $(hostname) --seeds h1:7001,h2:7001,h3:7001` on three hosts.
    const [pa, pb, pc] = await freePorts(3);
    const seeds = `localhost:${pa},localhost:${pb},localhost:${pc}`; // pc never starts
    const start = (port: number) =>
      runReplica(new Bank(), bankModel, {
        argv: ['--host', 'localhost', '--port', String(port), '--seeds', seeds],
        env: { TROUPE_KEY: KEY },
        handleSignals: false,
        joinTimeoutMs: 5_000,
        json: true,
      }).then(
        (r) => ({ n: r.group.view?.members.length, stop: () => r.stop() }),
        (e: unknown) => ({ n: e instanceof LaunchError ? e.code : String(e), stop: async () => {} }),
      );
    // Both stay up until both have joined (a fixed second for the other to join could run out
    // on a loaded machine, and the first left under the second's feet).
    const started = await Promise.all([start(pa!), start(pb!)]);
    await Promise.all(started.map((s) => s.stop()));
    expect(started.map((s) => s.n)).toEqual([2, 2]);
  });
});
