/**
 * review36b (a67a75b): a keyless client takes a view only when it echoes the nonce of one of its
 * hellos to that address, and "a view that answers no hello of ours moves nothing". What an
 * unechoed view, which an off-path attacker forges with one datagram, still does:
 *
 * - (holds on a67a75b: the first test) it does not make the client say hello to an address it
 *   does not know: `knownAddress` drops the view before confirm() sees it;
 * - it sets the client's cookie for the member's address (a bogus one leaves its calls there
 *   unserved: the member's `cookie` notice is not taken while a cookie is held);
 * - it sets the member's datagram limit (1,200 bytes: calls with larger arguments refused at once);
 * - it keeps a contact the client cannot reach "heard", so the client never fails over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { COOKIE_BYTES, decodeClientPacket, encodeClientPacket } from '../../runtime/rpc/protocol.js';
import type { Transport } from '../../runtime/transport/types.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger, QUICK_DETECTION, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});
const gid = groupIdOf('ledger');
const sender = { node: 0xe, inc: 1 };

describe('client without a key: a view that echoes no hello of its', () => {
  it('does not make it send to an address it does not know (no reflection, no amplification)', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client();
    await sleep(100);
    const victims = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}:53`);
    let forgedBytes = 0;
    for (const victim of victims) {
      // One small view, spoofed from the victim's address, naming one member there.
      const forged = encodeClientPacket(
        { kind: 'view', member: 'v', viewId: 1, members: ['v'], addresses: [victim] },
        gid,
        sender,
      );
      forgedBytes += forged.length;
      c.net.route(victim, client.address, forged);
    }
    await sleep(100);
    const toVictims = c.net.log.filter((e) => e.from === client.address && victims.includes(e.to));
    const reflected = toVictims.reduce((n, e) => n + e.bytes.length, 0);
    // Passes on a67a75b (a guard): a 200-byte hello per ~50-byte forged view would reflect 4x.
    expect({ packets: toVictims.length, bytes: reflected, forgedBytes }).toEqual({
      packets: 0,
      bytes: 0,
      forgedBytes,
    });
  });

  it('does not replace the cookie the contact gave it (a bogus one left its calls unserved)', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client();
    await sleep(100);
    const v = client.view!;
    const contact = client.contactMember!;
    const contactAddr = v.addresses[v.members.indexOf(contact)]!;
    // The client's own view, spoofed from its contact's address, with a wrong cookie.
    const poison = encodeClientPacket(
      {
        kind: 'view',
        member: contact,
        viewId: v.id,
        members: [...v.members],
        addresses: [...v.addresses],
        maxDatagram: 65_000,
        cookie: new Uint8Array(COOKIE_BYTES).fill(0x66),
      },
      gid,
      sender,
    );
    const timer = setInterval(() => c.net.route(contactAddr, client.address, poison), 1);
    try {
      await sleep(30);
      const r = await client
        .invoke('ledger', 'append', ['x'], { timeoutMs: 1_500 })
        .catch((e: unknown) => (e as Error).name);
      expect(r).toBe(1);
    } finally {
      clearInterval(timer);
    }
    // What the client sent its contact carried the bogus cookie.
    const bogus = c.net.log.filter((e) => {
      if (e.from !== client.address || e.to !== contactAddr) return false;
      const h = decodeClientPacket(e.bytes, gid);
      return h.cookie?.[0] === 0x66;
    });
    expect(bogus.length).toBe(0);
  });

  it('does not lower the datagram limit it keeps for a member', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client();
    await sleep(100);
    const v = client.view!;
    const other = v.members.find((m) => m !== client.contactMember)!;
    const otherAddr = v.addresses[v.members.indexOf(other)]!;
    // One datagram: the client's view, spoofed from another member's address, saying 1,200 bytes.
    c.net.route(
      otherAddr,
      client.address,
      encodeClientPacket(
        {
          kind: 'view',
          member: other,
          viewId: v.id,
          members: [...v.members],
          addresses: [...v.addresses],
          maxDatagram: 1_200,
        },
        gid,
        sender,
      ),
    );
    await sleep(50);
    const r = await client
      .invoke('ledger', 'append', ['y'.repeat(4_000)], { timeoutMs: 2_000 })
      .catch((e: unknown) => (e as { code?: string }).code ?? String(e));
    expect(r).toBe(1);
  });

  it('does not keep a contact it cannot reach heard: it fails over', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    // autoReissue: the call goes again to the next contact (else a FailoverError, once it fails over).
    const client = await c.client({ ...QUICK_DETECTION, autoReissue: true });
    await sleep(100);
    const v = client.view!;
    const contact = client.contactMember!;
    const contactAddr = v.addresses[v.members.indexOf(contact)]!;
    // The client and its contact no longer reach each other (the group is whole).
    c.net.drop = (from, to) =>
      (from === client.address && to === contactAddr) || (from === contactAddr && to === client.address);
    // The client's own view, spoofed from the contact's address every 30 ms (no echo).
    const same = encodeClientPacket(
      { kind: 'view', member: contact, viewId: v.id, members: [...v.members], addresses: [...v.addresses] },
      gid,
      sender,
    );
    // route() drops by (from, to): the forger's copy goes around the cut.
    const forge = () => {
      const d = c.net.drop;
      c.net.drop = () => false;
      c.net.route(contactAddr, client.address, same);
      c.net.drop = d;
    };
    const timer = setInterval(forge, 30);
    try {
      const r = await client
        .invoke('ledger', 'append', ['z'], { timeoutMs: 2_000 })
        .catch((e: unknown) => (e as Error).name);
      expect(r).toBe(1);
      expect(client.contactMember).not.toBe(contact);
    } finally {
      clearInterval(timer);
    }
  });
});

/**
 * A keyless client keeps the nonces of its last 8 hellos to an address: an answer that comes
 * back after 8 more hellos went there is not taken (a67a75b). Hellos go once a heartbeat (and
 * more with confirm()), so a round trip longer than 8 heartbeats leaves the client with no
 * view: it does not connect (and a connected one follows no view). The RPC simulator's clients
 * (heartbeatMs 50) stop at --latency 220 (a 440 ms round trip): `cli.ts --rpc --seeds
 * 148001000..148001004 --members 3 --faults loss --latency 220 --timings library` gives 60
 * violations, 0 replies on a67a75b, 0 violations and 240 replies on f29ea3d.
 */
describe('client without a key: answers slower than 8 hellos', () => {
  it('connects when a round trip takes longer than 8 heartbeats', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    // Answers reach the client 150 ms late; hellos every 10 ms (8 nonces: 80 ms).
    const base = c.net.transport('192.168.7.7:5000');
    const slow: Transport = {
      ...base,
      onPacket(handler) {
        base.onPacket((bytes, from) => setTimeout(() => handler(bytes, from), 150));
      },
    };
    const client = await c
      .client({ transport: slow, heartbeatMs: 10, connectTimeoutMs: 3_000 })
      .catch((e: unknown) => (e as Error).name);
    expect(typeof client).not.toBe('string');
  });
});
