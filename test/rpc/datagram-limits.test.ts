// The client's too-large check (FINDINGS 118) used its own transport's `maxDatagram`, not the
// members': a client over TCP with the default 64 MiB frames calling members whose frames are
// 8 KiB sent a 20 KB call that the member refused as a frame (dropping the connection), every
// time, and the call ended in TimeoutError. Members now say their limit in the `view` they
// answer a `hello` with (which says the client's), and each side keeps within the smaller:
// the client refuses the call at once with MESSAGE_TOO_LARGE, and a member answers a client
// with small frames REPLY_TOO_LARGE rather than a frame it drops (FINDINGS 132).
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { connect, joinReplica, type TroupeClient } from '../../runtime/rpc/index.js';
import { decodeClientPacket, encodeClientPacket, type ViewPacket } from '../../runtime/rpc/protocol.js';
import { tcp } from '../../runtime/transport/tcp.js';
import type { Transport } from '../../runtime/transport/types.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
let clients: TroupeClient[] = [];
let transports: Transport[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  await Promise.all(transports.map((t) => t.close()));
  groups = [];
  clients = [];
  transports = [];
});

async function tcpReplicas(n: number, maxFrame?: number): Promise<string[]> {
  const ts = await Promise.all(
    Array.from({ length: n }, () => tcp({ host: '127.0.0.1', ...(maxFrame ? { maxFrame } : {}) })),
  );
  transports.push(...ts);
  const seeds = ts.map((t) => t.address);
  const made = await Promise.all(
    ts.map((transport) =>
      joinReplica(new Bank(), 'bank', {
        seeds,
        transport,
        layers: FAST,
        validate: validateBankRequest,
        ...TEST_SECURITY,
      }),
    ),
  );
  groups.push(...made.map((m) => m.group));
  await until(() => made.every((m) => m.group.view?.members.length === n), 10_000, `a ${n}-member view`);
  return seeds;
}

async function tcpClient(seeds: string[], maxFrame?: number): Promise<TroupeClient> {
  const transport = await tcp({ host: '127.0.0.1', ...(maxFrame ? { maxFrame } : {}) });
  transports.push(transport);
  const client = await connect({ group: 'bank', seeds, transport, ...TEST_SECURITY });
  clients.push(client);
  return client;
}

describe('datagram limits between a client and the members (real group, TCP)', () => {
  it('a call larger than the members take is refused at once with MESSAGE_TOO_LARGE', async () => {
    const seeds = await tcpReplicas(3, 8_192);
    const client = await tcpClient(seeds); // 64 MiB frames of its own
    const bank = BankClient.connect(client);
    expect(await bank.deposit('a', 1)).toBe(1);
    const started = Date.now();
    const err = await client
      .invoke('bank', 'deposit', ['x'.repeat(20_000), 1], { timeoutMs: 3_000 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect((err as Error).message).toMatch(/members take packets of at most 8192 bytes/);
    expect(Date.now() - started).toBeLessThan(1_000);
    // What fits still goes through.
    expect(await client.invoke('bank', 'deposit', ['y'.repeat(5_000), 2])).toBe(2);
  }, 30_000);

  it('a result larger than the client takes is answered REPLY_TOO_LARGE', async () => {
    const seeds = await tcpReplicas(3);
    const client = await tcpClient(seeds, 8_192);
    const bank = BankClient.connect(client);
    for (let i = 0; i < 400; i += 50)
      await Promise.all(Array.from({ length: 50 }, (_, k) => bank.deposit('a', i + k + 1)));
    const started = Date.now();
    await expect(client.invoke('bank', 'statement', ['a'], { timeoutMs: 3_000 })).rejects.toMatchObject({
      code: 'REPLY_TOO_LARGE',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await bank.deposit('b', 1)).toBe(1);
  }, 30_000);
});

describe('the hello and view forms', () => {
  const ep = { node: 7, inc: 1 };
  const round = (p: Parameters<typeof encodeClientPacket>[0]) =>
    decodeClientPacket(encodeClientPacket(p, 1, ep), 1, undefined).packet;

  it('a hello and a view carry a limit when given, and read without one (an earlier release)', () => {
    expect(round({ kind: 'hello', viewId: 3, maxDatagram: 1_400 })).toEqual({
      kind: 'hello',
      viewId: 3,
      maxDatagram: 1_400,
    });
    expect(round({ kind: 'hello', viewId: 3 })).toEqual({ kind: 'hello', viewId: 3 });
    const view: ViewPacket = {
      kind: 'view',
      member: '00000007.1',
      viewId: 2,
      members: ['00000007.1'],
      addresses: ['h:1'],
    };
    expect(round({ ...view, maxDatagram: 9_000 })).toEqual({ ...view, maxDatagram: 9_000 });
    expect(round(view)).toEqual(view);
  });
});
