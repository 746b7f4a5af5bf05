/**
 * One replica of the bank, in its own process.
 *
 * Standalone (with `--seeds`), it is the three-line program any service needs; the launcher
 * reads its flags, `TROUPE_*` variables and key (`npx troupe serve --help` lists them):
 *
 *   npx troupe keygen bank.key
 *   npx tsx examples/bank/replica.ts --port 7001 --seeds 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --key-file bank.key
 *
 * Without `--seeds` it is driven by a parent process (`examples/bank/demo.ts`, the tests, the
 * benchmarks) through the JSON command protocol of `troupe/testkit`'s `serveReplicaChild`: it
 * prints `{"event":"ready","address"}` and joins when told to, with the key in `TROUPE_KEY` if
 * set. `--mcast-group 239.255.88.1 [--mcast-port 45400]` casts over IP multicast instead of
 * unicast fan-out (the multi-host tests in test/netns run it so). `--statement-entries N` keeps an
 * account's latest N statement entries (default: all).
 */
import { parseArgs } from 'node:util';
import { parseKey, runReplica } from 'troupe';
import { serveReplicaChild } from 'troupe/testkit';
import { Bank } from './bank.js';
import { bankModel, validateBankRequest } from './generated/bank.model.js';

if (process.argv.includes('--seeds')) {
  await runReplica(new Bank(), bankModel);
} else {
  const { values: flags } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      'mcast-group': { type: 'string' },
      'mcast-port': { type: 'string', default: '45400' },
      'statement-entries': { type: 'string' },
    },
  });
  // The benchmarks bound the statements (`--statement-entries 100`): a replica's state then does
  // not grow with the calls they make, so its memory shows troupe's own.
  const keep = flags['statement-entries'];
  const bank = new Bank(keep === undefined ? undefined : Number(keep));
  await serveReplicaChild({
    instance: bank,
    group: 'bank',
    validate: validateBankRequest,
    locks: ['statements'],
    app: () => ({ balances: Object.fromEntries(bank.snapshot().balances) }),
    host: flags.host,
    port: Number(flags.port),
    ...(process.env.TROUPE_KEY ? { key: parseKey(process.env.TROUPE_KEY, 'TROUPE_KEY') } : {}),
    ...(flags['mcast-group']
      ? {
          udp: {
            mode: 'multicast' as const,
            multicastGroup: flags['mcast-group'],
            multicastPort: Number(flags['mcast-port']),
          },
        }
      : {}),
  });
}
