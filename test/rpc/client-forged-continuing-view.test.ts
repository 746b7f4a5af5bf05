/**
 * Without a key, the continuity rule (a higher view id from a known member, keeping a majority of
 * the known view at the same addresses) admitted a forged view that keeps that majority and adds
 * an attacker's member: one datagram spoofed from a member's address, one from the attacker's own
 * (answering the hello the client then sends it), and the attacker was the client's contact,
 * seeing its calls and answering them (review36, on 8d1c7b2 and 42ceb1a alike). A keyless client
 * now takes a view only when it echoes the nonce of one of its hellos to that address.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { helloNonce } from '../../runtime/rpc/client.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { decodeClientPacket, encodeClientPacket } from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger, QUICK_DETECTION, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});
const gid = groupIdOf('ledger');

describe('client without a key: a forged view that keeps a majority and adds an attacker', () => {
  it('does not make the attacker its contact', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client(QUICK_DETECTION);
    await sleep(100);
    const v = client.view!;
    const contact = client.contactMember!;
    const other = v.members.find((m) => m !== contact)!;
    const otherAddr = v.addresses[v.members.indexOf(other)]!;
    const att = '6.6.6.6:6';
    const evil = c.net.transport(att);
    const sender = { node: 0xe, inc: 1 };
    // The known view less the contact, plus the attacker: a majority of the known view kept.
    const members = [...v.members.filter((m) => m !== contact), 'evil'];
    const addresses = [...v.addresses.filter((_, i) => v.members[i] !== contact), att];
    const forged = { kind: 'view' as const, member: other, viewId: v.id + 1, members, addresses };
    const mine = { kind: 'view' as const, member: 'evil', viewId: v.id + 1, members, addresses };
    let fakeReplies = 0;
    evil.onPacket((bytes, from) => {
      const { packet } = decodeClientPacket(bytes, gid);
      if (packet.kind === 'hello') evil.send(from, encodeClientPacket(mine, gid, sender));
      if (packet.kind === 'call') {
        fakeReplies++;
        const result = { ok: true as const, value: encodeValue(666) };
        evil.send(
          from,
          encodeClientPacket(
            { kind: 'reply', id: packet.id, member: 'evil', viewId: v.id + 1, members, result },
            gid,
            sender,
          ),
        );
      }
    });
    c.net.route(otherAddr, client.address, encodeClientPacket(forged, gid, sender)); // spoofed
    evil.send(client.address, encodeClientPacket(mine, gid, sender)); // from its own address
    await sleep(50);
    const r = await client.invoke('ledger', 'append', ['x'], { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(client.contactMember).not.toBe('evil');
    expect(fakeReplies).toBe(0);
    expect(r).toBe(1);
  });
});

describe('a keyless hello nonce', () => {
  it('is 52 random bits above 2^52: a safe integer, 9 bytes on the wire whatever its value', () => {
    const extremes = [new Uint8Array(7), new Uint8Array(7).fill(0xff)];
    const seen = new Set<number>();
    for (const r of [...extremes, ...Array.from({ length: 200 }, () => randomBytes(7))]) {
      const n = helloNonce(r);
      expect(Number.isSafeInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(2 ** 52);
      expect(n).toBeLessThan(2 ** 53);
      expect(encodeValue(n).length).toBe(9);
      seen.add(n);
    }
    expect(helloNonce(extremes[1]!)).toBe(2 ** 53 - 1);
    expect(seen.size).toBe(202);
  });
});
