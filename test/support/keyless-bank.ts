/**
 * A keyless group of bank replicas over UDP on 127.0.0.1, raw UDP sockets to speak the client
 * protocol by hand (a forger, or a careful tool), and what a test made, closed after it: the
 * set-up of the tests of what a keyless member sends an address that proved nothing.
 */
import dgram from 'node:dgram';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Replica, TroupeClient } from '../../runtime/rpc/index.js';
import { udpReplicas } from './udp-replicas.js';

/** What one test made: groups (with their client) to close, sockets to close (`reset`). */
export class TestScope {
  closers: Array<() => Promise<void>> = [];
  sockets: dgram.Socket[] = [];

  /** Closes and forgets all of it (an `afterEach`). */
  async reset(): Promise<void> {
    await Promise.all(this.closers.map((c) => c()));
    for (const s of this.sockets) s.close();
    this.closers = [];
    this.sockets = [];
  }
}

/**
 * `n` keyless bank replicas in one view, each seeding the others, and a keyless client.
 *
 * @example
 * ```ts
 * const scope = new TestScope();
 * const { seeds, replicas, client } = await keylessBank(scope, 3);
 * await scope.reset();
 * ```
 */
export async function keylessBank(
  scope: TestScope,
  n = 3,
): Promise<{ seeds: string[]; replicas: Replica<Bank>[]; client: TroupeClient }> {
  const g = await udpReplicas(() => new Bank(), 'bank', validateBankRequest, n, { insecure: true });
  scope.closers.push(g.close);
  return { seeds: g.seeds, replicas: g.replicas as Replica<Bank>[], client: g.client };
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
