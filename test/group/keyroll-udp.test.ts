// Encryption and key rotation over real UDP sockets on loopback: a group rolls its key from A to B
// in three steps while its members cast and a client calls, without a view change, a refused
// packet or a lost message.
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import type { Delivery } from '../../runtime/group/types.js';
import { connect, joinReplica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { until } from '../support/until.js';

const A = 'key A of the rolling group, 32+ bytes';
const B = 'key B of the rolling group, 32+ bytes';
const FAST = { gms: { heartbeatMs: 50, suspectMs: 600, bootstrapMs: 200, joinRetryMs: 50 } };
const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let groups: Group[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
  clients = [];
});

const comOf = (g: Group) => g.stats().com as Record<string, number>;

/** The three steps of a roll from A to B, each applied at every endpoint before the next. */
const ROLL = [{ current: A, previous: B }, { current: B, previous: A }, B] as const;

describe('key rotation over real UDP', () => {
  it('an encrypted group rolls its key from A to B while casting: no view change, nothing refused or lost', async () => {
    const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
    const seeds = ts.map((t) => t.address);
    const logs: Delivery[][] = [[], [], []];
    const trio = await Promise.all(
      ts.map((transport, i) =>
        joinGroup('roll', {
          seeds,
          transport,
          layers: FAST,
          key: A,
          encrypt: true,
          on: { deliver: (d) => logs[i]!.push(d) },
        }),
      ),
    );
    groups.push(...trio);
    await until(() => trio.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
    const viewId = trio[0]!.view!.id;
    let k = 0;
    const casting = setInterval(() => {
      for (let j = 0; j < 3; j++, k++) trio[k % 3]!.cast(enc.encode(`m${k}`));
    }, 5);
    try {
      await sleep(200);
      for (const step of ROLL) {
        // One member at a time, with traffic in between: members are never all in step.
        for (const g of trio) {
          g.setKey(step);
          await sleep(60);
        }
        await sleep(150);
      }
      expect(trio.every((g) => g.keyId === trio[0]!.keyId)).toBe(true);
    } finally {
      clearInterval(casting);
    }
    await until(() => logs.every((l) => l.length === k), 5_000, `${k} deliveries at each member`);
    expect(k).toBeGreaterThan(60);
    const orders = logs.map((l) => l.map((d) => dec.decode(d.payload)).join(','));
    expect(orders[1]).toBe(orders[0]);
    expect(orders[2]).toBe(orders[0]);
    for (const g of trio) {
      expect(g.view!.id).toBe(viewId);
      expect(comOf(g)).toMatchObject({ unauthenticated: 0, replayed: 0, stale: 0 });
    }
    // After the roll A opens nothing: a member with only A cannot join; one with B can.
    const stale = await joinGroup('roll', {
      seeds,
      key: A,
      encrypt: true,
      layers: FAST,
      joinTimeoutMs: 1_200,
    }).then(
      (g) => {
        groups.push(g);
        return 'joined';
      },
      (e: { code?: string }) => e.code,
    );
    expect(stale).toBe('JOIN_KEY_MISMATCH');
    const fresh = await joinGroup('roll', {
      seeds,
      key: B,
      encrypt: true,
      layers: FAST,
      joinTimeoutMs: 5_000,
    });
    groups.push(fresh);
    await until(() => fresh.view?.members.length === 4, 5_000, 'a 4-member view');
  });

  it('replicas and a client roll together (the replica shares its group key ring) while calls run', async () => {
    const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
    const seeds = ts.map((t) => t.address);
    const made = await Promise.all(
      ts.map((transport) =>
        joinReplica(new Bank(), 'bank', {
          seeds,
          transport,
          layers: FAST,
          key: A,
          encrypt: true,
          validate: validateBankRequest,
        }),
      ),
    );
    groups.push(...made.map((m) => m.group));
    await until(() => made.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const client = await connect({ group: 'bank', seeds, key: A, encrypt: true });
    clients.push(client);
    const bank = BankClient.connect(client);
    let calls = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        await bank.deposit('alice', 1);
        calls++;
      }
    })();
    for (const step of ROLL) {
      for (const m of made) {
        m.group.setKey(step);
        await sleep(40);
      }
      client.setKey(step);
      await sleep(150);
    }
    running = false;
    await load;
    expect(calls).toBeGreaterThan(10);
    const audit = await bank.audit();
    for (const e of audit.entries) expect(e).toMatchObject({ status: 'ok', value: { total: calls } });
    expect(client.stats()).toMatchObject({ unauthenticated: 0, replayed: 0, failovers: 0 });
    for (const m of made) {
      expect(m.replica.stats()).toMatchObject({ unauthenticated: 0, replayed: 0 });
      expect(comOf(m.group)).toMatchObject({ unauthenticated: 0, replayed: 0 });
    }
  });
});
