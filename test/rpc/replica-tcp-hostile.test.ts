// Real replicas and a real client over the TCP transport on 127.0.0.1 taking hostile client
// frames (FINDINGS 267), with a key and without. Three bank replicas serve a client that deposits
// 60 times while raw peers, each having said a valid hello, send every replica frames of random
// bytes and well-framed client packets of every kind with random fields (calls and `calls` of up
// to 256 entries in invented ids, hellos, outcome queries, and the member-to-client kinds the
// wrong way), and send the client, from a hello claiming a replica's address (on one host a TCP
// peer's address is its word), `reject`s carrying a value for the very request ids the client is
// about to use (a forger on the path would read them), replies of invented ids and junk. With
// and without a key: every deposit ends with its own value, once; the replicas agree; no view
// change; the replicas and the client count what they refused; nothing thrown.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { connect, joinReplica, type Replica, type TroupeClient } from '../../runtime/rpc/index.js';
import { type ClientPacket, encodeClientPacket } from '../../runtime/rpc/protocol.js';
import { tcp } from '../../runtime/transport/tcp.js';
import type { Transport } from '../../runtime/transport/types.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { bytes, rng } from '../fuzz/gen.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 600, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
let clients: TroupeClient[] = [];
let transports: Transport[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  await Promise.all(transports.map((t) => t.close()));
  groups = [];
  clients = [];
  transports = [];
});

function frame(body: Uint8Array): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, Buffer.from(body)]);
}
const hello = (address: string) => frame(Buffer.from(`troupe-tcp/1 ${address}`));

function rawConnect(address: string, claim: string): Promise<net.Socket> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: host!, port: Number(port) }, () => {
      s.write(hello(claim));
      resolve(s);
    });
    s.on('error', () => {});
    s.once('error', reject);
    sockets.push(s);
  });
}

for (const keyed of [false, true])
  describe(`replicas and a client over TCP under hostile client frames (${keyed ? 'keyed' : 'keyless'})`, () => {
    it('every deposit once with its own value; replicas agree; no view change; refusals counted', async () => {
      const security = keyed ? TEST_SECURITY : { insecure: true as const };
      const ts = await Promise.all([0, 1, 2].map(() => tcp({ host: '127.0.0.1' })));
      transports.push(...ts);
      const seeds = ts.map((t) => t.address);
      const made = await Promise.all(
        ts.map((transport) =>
          joinReplica(new Bank(), 'bank', {
            seeds,
            transport,
            layers: FAST,
            validate: validateBankRequest,
            ...security,
          }),
        ),
      );
      groups.push(...made.map((m) => m.group));
      const replicas: Replica<Bank>[] = made.map((m) => m.replica);
      await until(() => made.every((m) => m.group.view?.members.length === 3), 10_000, 'a 3-member view');
      const ct = await tcp({ host: '127.0.0.1' });
      transports.push(ct);
      const client = await connect({ group: 'bank', seeds, transport: ct, ...security });
      clients.push(client);
      await client.ready({ members: 3 });
      const viewId = made[0]!.group.view!.id;
      const contactAddress = client.view!.addresses[client.view!.members.indexOf(client.contactMember!)]!;

      const g = rng(4343);
      const gid = groupIdOf('bank');
      const ep = () => ({ node: Math.floor(g() * 2 ** 32), inc: 1 });
      const id = () => `${Math.floor(g() * 2 ** 48).toString(16)}:${1 + Math.floor(g() * 1000)}`;
      const members = [...client.view!.members];
      const str = () => ['', 'deposit', 'bank', 'x'.repeat(300), 'balance'][Math.floor(g() * 5)]!;
      const num = () => [0, 1, -1, 2 ** 53, Number.NaN, 1.5, 2 ** 31][Math.floor(g() * 7)]!;
      const call = (): Extract<ClientPacket, { kind: 'call' }> => ({
        kind: 'call',
        id: id(),
        service: g() < 0.7 ? 'bank' : str(),
        method: g() < 0.7 ? 'deposit' : str(),
        args: g() < 0.5 ? encodeValue(['acct', num()]) : bytes(g, 40),
        mode: (['first', 'all', 'majority', 'none'] as const)[Math.floor(g() * 4)]!,
        ...(g() < 0.3 ? { settled: Math.floor(g() * 100) } : {}),
        issue: Math.floor(g() * 5),
      });
      const toReplica = (): Uint8Array => {
        const x = g();
        if (x < 0.2) return bytes(g, 300);
        const p: ClientPacket =
          x < 0.45
            ? call()
            : x < 0.55
              ? { kind: 'calls', calls: Array.from({ length: 1 + Math.floor(g() * 256) }, call) }
              : x < 0.7
                ? {
                    kind: 'hello',
                    viewId: Math.floor(g() * 100),
                    maxDatagram: Math.floor(g() * 2 ** 31),
                    padding: 0,
                    nonce: 2 ** 52 + Math.floor(g() * 2 ** 51),
                    wants: 1,
                  }
                : x < 0.85
                  ? { kind: 'outcome?', id: id(), q: 1, upTo: Math.floor(g() * 3) }
                  : {
                      kind: 'reply',
                      id: id(),
                      member: members[0]!,
                      viewId,
                      members,
                      result: { ok: true, value: encodeValue(1) },
                    };
        return encodeClientPacket(p, gid, ep());
      };
      // The client's next request ids: what a forger on the path reads off each call.
      const next = client.newRequestId();
      const [cid, first] = next.split(':') as [string, string];
      const ahead = (k: number) => `${cid}:${Number(first) + k}`;
      /** The deposit under way (0-based): the forger aims at it and the next two. */
      let current = 0;
      const toClient = (): Uint8Array => {
        const x = g();
        if (x < 0.2) return bytes(g, 200);
        const p: ClientPacket =
          x < 0.7
            ? {
                kind: 'reject',
                id: ahead(current + Math.floor(g() * 3)),
                member: client.contactMember!,
                result: { ok: true, value: encodeValue(-1) },
              }
            : {
                kind: 'reply',
                id: id(),
                member: client.contactMember!,
                viewId,
                members,
                result: { ok: true, value: encodeValue(-1) },
              };
        return encodeClientPacket(p, gid, ep());
      };
      const peers: { s: net.Socket; make: () => Uint8Array }[] = [];
      for (const t of ts) peers.push({ s: await rawConnect(t.address, '127.0.0.1:1'), make: toReplica });
      peers.push({ s: await rawConnect(ct.address, contactAddress), make: toClient });
      const feed = setInterval(() => {
        for (const { s, make } of peers)
          if (!s.destroyed) for (let k = 0; k < 10; k++) s.write(frame(make()));
      }, 10);
      const before = client.stats();
      const got: unknown[] = [];
      try {
        for (let k = 1; k <= 60; k++) {
          const requestId = k === 1 ? next : client.newRequestId();
          current = k - 1;
          got.push(
            await client
              .invoke('bank', 'deposit', ['acct', 1], { requestId, timeoutMs: 10_000 })
              .catch((e) => e),
          );
        }
      } finally {
        clearInterval(feed);
      }
      expect(got).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      await until(() => replicas.every((r) => r.instance.balance('acct') === 60), 5_000, 'replicas agree');
      expect(made.every((m) => m.group.view?.id === viewId && m.group.view.members.length === 3)).toBe(true);
      const refused = replicas.map((r) => {
        const s = r.stats();
        return s.malformed + s.foreign + s.unauthenticated + s.replayed;
      });
      for (const n of refused) expect(n).toBeGreaterThan(20);
      for (const r of replicas) expect(r.stats().internalErrors).toBe(0);
      const after = client.stats();
      const clientRefused =
        after.malformed - before.malformed + (after.unauthenticated - before.unauthenticated);
      process.stdout.write(
        `${keyed ? 'keyed' : 'keyless'}: replicas refused ${refused.join(', ')} client frames; the client ${clientRefused}\n`,
      );
      expect(clientRefused).toBeGreaterThan(20);
    }, 60_000);
  });
