// A contact batch over the group's maxMessage, on a real group over UDP: every call still ordered and
// applied once at every replica (before the fix the contact skipped one and the rest timed out).
import { afterEach, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { connect, joinReplica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };
let groups: Group[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
  clients = [];
});

it('calls that each fit maxMessage are ordered and applied alike when they arrive together', async () => {
  const ts = await Promise.all(Array.from({ length: 3 }, () => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  const made = await Promise.all(
    ts.map((transport) =>
      // A deposit's request is ~150 bytes: far under 2 KB alone.
      joinReplica(new Bank(), 'bank', {
        seeds,
        transport,
        layers: FAST,
        validate: validateBankRequest,
        maxMessage: 2_048,
        ...TEST_SECURITY,
      }),
    ),
  );
  groups.push(...made.map((m) => m.group));
  await until(() => made.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
  const client = await connect({ group: 'bank', seeds: [seeds[0]!], timeoutMs: 3_000, ...TEST_SECURITY });
  clients.push(client);
  const first = client.invoke('bank', 'deposit', ['a', 1]).catch((e) => e.code);
  await new Promise((r) => setImmediate(r));
  const rest = Array.from({ length: 40 }, () =>
    client.invoke('bank', 'deposit', ['a', 1]).catch((e) => e.code),
  );
  const rs = await Promise.all([first, ...rest]);
  expect(rs.filter((r) => typeof r !== 'number')).toStrictEqual([]);
  await until(() => made.every((m) => m.replica.instance.balance('a') === 41), 3_000, 'every replica at 41');
}, 20_000);
