// A real group over the TCP transport on 127.0.0.1 taking hostile bytes from raw connections
// while it orders casts: frames of random bytes, of well-framed packets of the group with random
// headers and payloads (every packet type), an empty frame, a length prefix of 4 GiB, and a
// length prefix followed by part of its frame and then silence (a stalled peer). Each member gets
// all of these from peers that said a valid hello, some naming another member's address (on one
// host the hello's port is the peer's word). With a key and without: no member crashes, the view
// does not change, every cast is delivered once and in the same order at every member, and the
// bad connections are closed (counted in the transport's stats) while the members' own keep
// serving.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import type { Delivery } from '../../runtime/group/types.js';
import { type TcpTransport, tcp } from '../../runtime/transport/tcp.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { bytes, header, rng } from '../fuzz/gen.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const FAST = { gms: { heartbeatMs: 50, suspectMs: 600, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
let transports: TcpTransport[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  await Promise.all(transports.map((t) => t.close()));
  groups = [];
  transports = [];
});

function frame(body: Uint8Array): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, Buffer.from(body)]);
}
const hello = (address: string) => frame(Buffer.from(`troupe-tcp/1 ${address}`));

function rawConnect(address: string): Promise<net.Socket> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: host!, port: Number(port) }, () => resolve(s));
    s.on('error', () => {});
    s.once('error', reject);
    sockets.push(s);
  });
}
const isClosed = (s: net.Socket) => s.destroyed || s.readyState === 'closed';

for (const keyed of [true, false])
  describe(`Group over TCP under hostile frames (${keyed ? 'keyed' : 'keyless'})`, () => {
    it('no crash, no view change, every cast delivered once in order; bad peers closed', async () => {
      const name = keyed ? 'tcph-k' : 'tcph-i';
      const ts = await Promise.all([0, 1, 2].map(() => tcp({ host: '127.0.0.1', frameStallMs: 400 })));
      transports.push(...ts);
      const seeds = ts.map((t) => t.address);
      const logs: string[][] = [[], [], []];
      const members = await Promise.all(
        [0, 1, 2].map((i) =>
          joinGroup(name, {
            seeds,
            transport: ts[i]!,
            layers: FAST,
            on: { deliver: (d: Delivery) => logs[i]!.push(dec.decode(d.payload)) },
            ...(keyed ? TEST_SECURITY : { insecure: true }),
          }),
        ),
      );
      groups.push(...members);
      await until(() => members.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
      const viewId = members[0]!.view!.id;

      const g = rng(4242);
      const gid = groupIdOf(name);
      const hostile = (): Uint8Array => {
        const x = g();
        if (x < 0.3) return bytes(g, 200);
        return encodePacket({
          type: [PacketType.Stack, PacketType.Discovery, PacketType.Client][Math.floor(g() * 3)]!,
          flags: g() < 0.5 ? 2 : 0,
          groupId: g() < 0.9 ? gid : 7,
          sender: { node: Math.floor(g() * 2 ** 32), inc: Math.floor(g() * 3) },
          headers: Array.from({ length: 1 + Math.floor(g() * 6) }, () => header(g)),
          payload: bytes(g, 300),
        });
      };
      // Per member: two peers of junk frames (one naming another member's address), one
      // announcing 4 GiB, one stalling mid-frame.
      const junk: net.Socket[] = [];
      const cut: net.Socket[] = [];
      for (const [i, t] of ts.entries()) {
        for (const claim of ['127.0.0.1:1', seeds[(i + 1) % 3]!]) {
          const s = await rawConnect(t.address);
          s.write(hello(claim));
          junk.push(s);
        }
        const big = await rawConnect(t.address);
        big.write(Buffer.concat([hello('127.0.0.1:2'), Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])]));
        cut.push(big);
        const stall = await rawConnect(t.address);
        const h = Buffer.alloc(4);
        h.writeUInt32BE(100_000);
        stall.write(Buffer.concat([hello('127.0.0.1:3'), h, Buffer.alloc(500)]));
        cut.push(stall);
      }
      // Casts from every member while the junk flows (an empty frame first on each junk peer).
      for (const s of junk) s.write(Buffer.alloc(4));
      const feed = setInterval(() => {
        for (const s of junk) if (!isClosed(s)) for (let k = 0; k < 20; k++) s.write(frame(hostile()));
      }, 10);
      try {
        for (let k = 1; k <= 300; k++) {
          members[k % 3]!.cast(enc.encode(String(k)));
          if (k % 30 === 0) await new Promise((r) => setTimeout(r, 20));
        }
        await until(() => logs.every((l) => l.length === 300), 15_000, '300 deliveries each');
      } finally {
        clearInterval(feed);
      }
      expect(logs[1]).toEqual(logs[0]);
      expect(logs[2]).toEqual(logs[0]);
      expect(new Set(logs[0]).size).toBe(300);
      expect(members.every((g) => g.view?.id === viewId && g.view.members.length === 3)).toBe(true);
      // The junk reached the members' stacks, which refused it (counted, nothing thrown).
      const refused = members.map((m) => {
        const st = m.stats();
        return Object.entries(st.com ?? {})
          .filter(([k]) => /drop|refus|malformed|unauth|stranger|mismatch|foreign|bad/i.test(k))
          .reduce((n, [, v]) => n + v, 0);
      });
      for (const n of refused) expect(n).toBeGreaterThan(50);
      // The oversized and the stalled connections are closed; the transports count them.
      await until(() => cut.every(isClosed), 5_000, 'oversized and stalled peers closed');
      for (const t of ts) expect(t.stats().dropped).toBeGreaterThanOrEqual(2);
      // The group still orders after the attack.
      members[0]!.cast(enc.encode('after'));
      await until(() => logs.every((l) => l.at(-1) === 'after'), 5_000, 'a cast after the attack');
    }, 40_000);
  });
