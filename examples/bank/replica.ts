/**
 * One replica of the bank, in its own process.
 *
 * Standalone, it joins the group at once:
 *
 *   npx tsx examples/bank/replica.ts --port 7001 --seeds 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
 *
 * `--mcast-group 239.255.88.1 [--mcast-port 45400]` casts over IP multicast instead of unicast
 * fan-out (the multi-host tests in test/netns run it so, one replica per network namespace).
 *
 * Without `--seeds` it is driven by a parent process (`examples/bank/demo.ts`, the tests, the
 * benchmarks) through the JSON command protocol of `test/support/replica-child.ts`: it prints
 * `{"event":"ready","address"}` and joins when told to.
 */
import { parseArgs } from 'node:util';
import {
  type ReplicaChildOptions,
  serveReplicaChild,
  startReplica,
} from '../../test/support/replica-child.js';
import { Bank } from './bank.js';
import { validateBankRequest } from './generated/bank.model.js';

const { values: flags } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    seeds: { type: 'string' },
    'mcast-group': { type: 'string' },
    'mcast-port': { type: 'string', default: '45400' },
  },
});

const bank = new Bank();
const options: ReplicaChildOptions<Bank> = {
  instance: bank,
  group: 'bank',
  validate: validateBankRequest,
  locks: ['statements'],
  app: () => ({ balances: Object.fromEntries(bank.snapshot().balances) }),
  host: flags.host,
  port: Number(flags.port),
  ...(flags['mcast-group']
    ? {
        udp: {
          mode: 'multicast' as const,
          multicastGroup: flags['mcast-group'],
          multicastPort: Number(flags['mcast-port']),
        },
      }
    : {}),
};

if (flags.seeds) {
  const { group, transport } = await startReplica(options, flags.seeds.split(','));
  console.error(`bank replica ${group.self} at ${transport.address}; Ctrl-C to stop`);
} else {
  await serveReplicaChild(options);
}
