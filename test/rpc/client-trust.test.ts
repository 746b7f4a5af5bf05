/**
 * Which views a client trusts and follows (docs/rpc.md, "Views the client trusts"): never a
 * view it cannot tie to a member of the group, always the group's own, a re-founded one included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Replies } from '../../runtime/rpc/api.js';
import type { ConnectOptions, TroupeClient } from '../../runtime/rpc/client.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { decodeClientPacket, encodeClientPacket } from '../../runtime/rpc/protocol.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { until } from '../support/until.js';
import { Cluster, Ledger, QUICK_DETECTION, sleep, validateLedger } from './support/cluster.js';
import { FakeGroup } from './support/fake-group.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const gid = groupIdOf('ledger');
const KEY = 'k'.repeat(32);

/** Crashes every member of `cluster` and founds the group again (view ids from 1) at `addresses`. */
function refound(c: Cluster<Ledger>, addresses: string[], key?: string): FakeGroup {
  for (const n of c.nodes) c.group.crash(n.member);
  const group = new FakeGroup(c.net, 'ledger', 100);
  for (const address of addresses) {
    const replica = new Replica(new Ledger(), { validate: validateLedger, ...(key ? { key } : {}) });
    replica.attach(group.join({ state: replica, address }));
  }
  return group;
}

/** Raises the group's view id past what a re-founded group starts at. */
async function churn(c: Cluster<Ledger>): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const extra = c.add();
    await c.settle();
    c.group.crash(extra.member);
    await c.settle();
  }
}

describe('client: views it trusts', () => {
  it('refuses a view spoofed from its contact’s address naming only an attacker; calls reach the group', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client();
    const contact = cluster.nodes.find((n) => n.member.self === client.contactMember)!;
    const evilAddress = '6.6.6.6:6';
    const evil = cluster.net.transport(evilAddress);
    const evilView = {
      kind: 'view' as const,
      member: 'evil',
      viewId: 1000,
      members: ['evil'],
      addresses: [evilAddress],
    };
    const sender = { node: 0xe, inc: 1 };
    let fakeReplies = 0;
    // The attacker answers whatever reaches it: hellos with its view, calls with a forged reply.
    evil.onPacket((bytes, from) => {
      const { packet } = decodeClientPacket(bytes, gid);
      if (packet.kind === 'hello') evil.send(from, encodeClientPacket(evilView, gid, sender));
      if (packet.kind === 'call') {
        fakeReplies++;
        const reply = { ok: true as const, value: encodeValue(666) };
        evil.send(
          from,
          encodeClientPacket(
            { kind: 'reply', id: packet.id, member: 'evil', viewId: 1000, members: ['evil'], result: reply },
            gid,
            sender,
          ),
        );
      }
    });
    cluster.net.route(contact.member.address, client.address, encodeClientPacket(evilView, gid, sender));
    await sleep(100);
    expect(await client.invoke('ledger', 'append', ['real'])).toBe(1);
    expect(fakeReplies).toBe(0);
    expect(client.contactMember).toBe(contact.member.self);
    expect(client.view!.members).not.toContain('evil');
    expect(client.stats().untrusted).toBeGreaterThan(0);
  });

  it('returns to its seeds when every member it knows is gone, and follows the group found there', async () => {
    cluster = await Cluster.of(3);
    const later = '10.0.9.1:4000'; // a seed nobody answers at first
    const client = await cluster.client({
      ...QUICK_DETECTION,
      seeds: [cluster.nodes[0]!.member.address, later],
    });
    await churn(cluster);
    const group = refound(cluster, [later, '10.0.9.2:4000', '10.0.9.3:4000']);
    await until(
      () => group.view.members.includes(client.contactMember ?? ''),
      10_000, // detection (150 ms), then hellos to the seeds: not timed here
      'a contact of the new group',
    );
    expect(
      await client.invoke('ledger', 'append', ['again'], { timeoutMs: 2000 }).catch((e: unknown) => e),
    ).toBe(1);
    expect(client.view?.members).toStrictEqual(group.view.members);
  });
});

describe('client: a re-founded group (view ids restart at 1)', () => {
  for (const key of [undefined, KEY]) {
    it(`follows it at the same addresses${key ? ' (with a key)' : ''}: all-mode calls get every new member's reply`, async () => {
      cluster = await Cluster.of(3, key ? { key } : {});
      // With a key the client is not insecure (main's Cluster.client defaults to insecure: true).
      const client: TroupeClient = await cluster.client(
        key ? ({ ...QUICK_DETECTION, key, insecure: false } as Partial<ConnectOptions>) : QUICK_DETECTION,
      );
      await churn(cluster);
      const before = client.view!.id;
      const group = refound(
        cluster,
        cluster.nodes.slice(0, 3).map((n) => n.member.address),
        key,
      );
      await until(
        () => group.view.members.includes(client.contactMember ?? ''),
        10_000,
        'a contact of the new group',
      );
      expect(group.view.id).toBeLessThan(before);
      const r = (await client.invoke('ledger', 'append', ['x'], {
        reply: 'all',
        timeoutMs: 2000,
      })) as Replies<number>;
      expect(r.entries.map((e) => [e.member, e.status])).toStrictEqual(
        group.view.members.map((m) => [m, 'ok']),
      );
      expect(client.view?.members).toStrictEqual(group.view.members);
    });
  }
});

describe('client: without a key, a view from an address of the view it knew', () => {
  it('catches up after missing views: the new view keeps no majority of the known one', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(QUICK_DETECTION);
    const founders = cluster.nodes.slice(0, 3);
    const later = [cluster.add(), cluster.add(), cluster.add()];
    await cluster.settle();
    for (const n of founders) cluster.group.crash(n.member);
    await cluster.settle();
    // Its contact gone, the client asks the members it knew (not its seed, gone too): three of
    // six answer with a view the client cannot chain to its own, and it takes theirs.
    const moved = later.map((n) => n.member.address);
    await until(
      () => client.view?.addresses.join() === moved.join(),
      10_000,
      'the client following the group to its new members',
    );
    expect(await client.invoke('ledger', 'append', ['x'], { timeoutMs: 2000 })).toBe(1);
  });
});

describe('client: a group re-founded at the addresses of the view it knew, every seed gone', () => {
  // Chaos seed 3516 (`--amnesia`): every replica the client was given as a seed was replaced,
  // the replacements lost their majority and re-founded at their own addresses, and a keyless
  // client, taking a re-founded view only from a seed, never found the group again. The keyed
  // client needed findContact's unaddressed hellos there (a new incarnation refuses one
  // addressed to the old); without a key a packet names no receiver (review36).
  for (const key of [undefined, KEY]) {
    it(`follows it${key ? ' (with a key)' : ''}`, async () => {
      cluster = await Cluster.of(3, key ? { key } : {});
      const client = await cluster.client({
        ...QUICK_DETECTION,
        autoReissue: true,
        ...(key ? { key, insecure: false } : {}),
      } as Partial<ConnectOptions>);
      const founders = cluster.nodes.slice(0, 3);
      // One replica replaced at a time, a call after each: the client follows view by view.
      for (const [i, founder] of founders.entries()) {
        cluster.add();
        await cluster.settle();
        cluster.group.crash(founder.member);
        await cluster.settle();
        expect(await client.invoke('ledger', 'append', [`m${i}`], { timeoutMs: 5000 })).toBe(i + 1);
      }
      const moved = cluster.nodes.slice(3).map((n) => n.member.address);
      expect(client.view?.addresses).toStrictEqual(moved);
      const group = refound(cluster, moved, key);
      await until(
        () => group.view.members.includes(client.contactMember ?? ''),
        10_000,
        'a contact of the re-founded group',
      );
      expect(await client.invoke('ledger', 'append', ['again'], { timeoutMs: 2000 })).toBe(1);
      expect(client.view?.members).toStrictEqual(group.view.members);
    });
  }
});

describe('client: a contact address that answers as another member', () => {
  it('is not heard from any more: outcome answers from the new incarnation do not keep the old contact', async () => {
    // Sim seed 5001480 (test/sim/FINDINGS.md item 15): the client kept asking its old contact's
    // address about a failed-over call; the re-founded member there answered every query, each
    // answer counted as hearing the contact, so the contact never failed and every call to it
    // was dropped as misdirected.
    cluster = await Cluster.of(3);
    const client = await cluster.client(QUICK_DETECTION);
    await churn(cluster);
    const group = refound(
      cluster,
      cluster.nodes.slice(0, 3).map((n) => n.member.address),
    );
    const id = client.newRequestId();
    let asking = true;
    const ask = (async () => {
      for (let i = 0; asking && i < 400; i++) {
        await client.outcome(id, { timeoutMs: 100 }).catch(() => undefined);
        await sleep(5);
      }
    })();
    try {
      await until(
        () => group.view.members.includes(client.contactMember ?? ''),
        10_000,
        'a contact of the new group',
      );
      expect(await client.invoke('ledger', 'append', ['x'], { timeoutMs: 2000 })).toBe(1);
    } finally {
      asking = false;
      await ask;
    }
  });
});
