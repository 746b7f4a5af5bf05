/**
 * A keyless group of bank replicas over UDP on 127.0.0.1, raw UDP sockets to speak the client
 * protocol by hand (a forger, or a careful tool), and what a test made, closed after it: the
 * set-up of the tests of what a keyless member sends an address that proved nothing.
 */
import dgram from 'node:dgram';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { joinReplica, type Replica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { until } from './until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

/** What one test made: groups to leave, clients to close, sockets to close (`reset`). */
export class TestScope {
  groups: Group[] = [];
  clients: TroupeClient[] = [];
  sockets: dgram.Socket[] = [];

  /** Closes and forgets all of it (an `afterEach`). */
  async reset(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.groups.map((g) => g.leave(500).catch(() => {})));
    for (const s of this.sockets) s.close();
    this.groups = [];
    this.clients = [];
    this.sockets = [];
  }
}

/**
 * `n` keyless bank replicas in one view, each seeding the others.
 *
 * @example
 * ```ts
 * const scope = new TestScope();
 * const { seeds, replicas } = await keylessBank(scope, 3);
 * await scope.reset();
 * ```
 */
export async function keylessBank(
  scope: TestScope,
  n = 3,
): Promise<{ seeds: string[]; replicas: Replica<Bank>[] }> {
  const ts = await Promise.all(Array.from({ length: n }, () => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  const made = await Promise.all(
    ts.map((transport) =>
      joinReplica(new Bank(), 'bank', {
        seeds,
        transport,
        insecure: true,
        layers: FAST,
        validate: validateBankRequest,
      }),
    ),
  );
  scope.groups.push(...made.map((m) => m.group));
  await until(() => made.every((m) => m.group.view?.members.length === n), 10_000, `a ${n}-member view`);
  return { seeds, replicas: made.map((m) => m.replica) };
}

/** A UDP socket on 127.0.0.1 that keeps what it receives, and sends raw bytes to an address. */
export async function rawSocket(scope: TestScope): Promise<{
  s: dgram.Socket;
  address: string;
  got: Array<{ bytes: Buffer; from: string }>;
  send(to: string, bytes: Uint8Array): void;
}> {
  const s = dgram.createSocket('udp4');
  scope.sockets.push(s);
  const got: Array<{ bytes: Buffer; from: string }> = [];
  s.on('message', (bytes, r) => got.push({ bytes, from: `${r.address}:${r.port}` }));
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const send = (to: string, bytes: Uint8Array) => {
    const [host, port] = to.split(':');
    s.send(bytes, Number(port), host);
  };
  return { s, address: `127.0.0.1:${s.address().port}`, got, send };
}
