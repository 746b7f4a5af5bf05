/**
 * The client resolves host-name seeds at connect and again while it looks for a new contact
 * (issue 12): a seed name that moves to another address is followed there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { LaunchError } from '../../runtime/launch/errors.js';
import { connect, joinReplica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };
const groups: Group[] = [];
const clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(groups.splice(0).map((g) => g.leave(500).catch(() => {})));
});

async function oneReplica() {
  const transport = await udp({ host: '127.0.0.1' });
  const r = await joinReplica(new Bank(), 'bank', {
    seeds: [transport.address],
    transport,
    layers: FAST,
    validate: validateBankRequest,
    ...TEST_SECURITY,
  });
  groups.push(r.group);
  await until(() => r.group.view?.members.length === 1, 5_000, 'a view');
  return { r, address: transport.address };
}

describe('seed names at the client', () => {
  it('follows a seed name to the address it moved to when the contact is lost', async () => {
    const first = await oneReplica();
    const dns = new Map([['bank.example:7001', first.address]]);
    const asked: string[][] = [];
    const resolve = async (seeds: readonly string[]) => {
      asked.push([...seeds]);
      return seeds.map((s) => dns.get(s) ?? s);
    };
    const client = await connect({
      group: 'bank',
      seeds: ['bank.example:7001'],
      resolve,
      contactTimeoutMs: 300,
      heartbeatMs: 50,
      ...TEST_SECURITY,
    });
    clients.push(client);
    const bank = BankClient.connect(client);
    expect(await bank.deposit('alice', 5)).toBe(5);
    expect(asked).toStrictEqual([['bank.example:7001']]);

    // The replica goes away and the service comes back elsewhere under the same name.
    await first.r.group.leave(500);
    const second = await oneReplica();
    dns.set('bank.example:7001', second.address);
    await until(() => client.contactMember === second.r.group.self, 10_000, 'the moved replica as contact');
    expect(await bank.deposit('bob', 7, { timeoutMs: 5_000 })).toBe(7);
    expect(asked.length).toBeGreaterThan(1);
    expect(asked.every((a) => a.length === 1 && a[0] === 'bank.example:7001')).toBe(true);
  });

  it('resolves localhost by default and refuses a seed without a port at once', async () => {
    const { r, address } = await oneReplica();
    const port = address.split(':').pop();
    const client = await connect({ group: 'bank', seeds: [`localhost:${port}`], ...TEST_SECURITY });
    clients.push(client);
    expect(client.contactMember).toBe(r.group.self);
    const started = Date.now();
    const refused = await connect({ group: 'bank', seeds: ['localhost'], ...TEST_SECURITY }).catch((e) => e);
    expect(refused).toBeInstanceOf(LaunchError);
    expect(refused).toMatchObject({ code: 'SEED_NO_PORT' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
