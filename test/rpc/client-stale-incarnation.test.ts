/**
 * Review of 42ceb1a ("client: keyless, follow a re-founding at the known view's addresses"): with
 * no contact, a keyless client now adopts whatever view comes from an address of the view it
 * knows, a stranger's too, and an older one as a "re-founding". A late copy (or a replay, or one
 * datagram spoofed from that address) of a view an earlier incarnation at that address sent is
 * such a view: it names the members of long ago.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { until } from '../support/until.js';
import {
  CLUSTER_COOKIE_SECRET,
  Cluster,
  Ledger,
  QUICK_DETECTION,
  sleep,
  validateLedger,
} from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  if (cluster) cluster.net.drop = () => false;
  await cluster?.close();
  cluster = undefined;
});

const gid = groupIdOf('ledger');

describe('client: a stale view from an earlier incarnation at an address of its view', () => {
  it('does not take a contactless client back to the members of long ago', async () => {
    cluster = await Cluster.of(3); // n0 (the client's only seed), n1, n2
    const c = cluster;
    const client = await c.client(QUICK_DETECTION);
    const [n0, n1, n2] = c.nodes;

    // n3 joins at a3 (not a seed); the client hears a view from it (collecting its cookie).
    const n3 = c.add();
    await c.settle();
    const a3 = n3.member.address;
    await until(() => client.view?.members.includes(n3.member.self) ?? false, 5000, 'the client seeing n3');
    const fromN3 = () =>
      c.net.log.filter((e) => {
        if (e.from !== a3 || e.to !== client.address) return false;
        const { packet } = decodeClientPacket(e.bytes, gid);
        return packet.kind === 'view' && packet.member === n3.member.self;
      });
    await until(() => fromN3().length > 0, 5000, 'a view from n3 to the client');
    const stale = fromN3().at(-1)!.bytes.slice();
    const staleView = decodeClientPacket(stale, gid).packet;
    expect(staleView.kind === 'view' && staleView.members).toContain(n0!.member.self);

    // n3 crashes; n4 and n5 join, then n3's next incarnation at the same address; the founders go,
    // one at a time (the client follows view by view).
    c.group.crash(n3.member);
    await c.settle();
    const n4 = c.add();
    const n5 = c.add();
    await c.settle();
    const r3 = new Replica(new Ledger(), { validate: validateLedger, cookieSecret: CLUSTER_COOKIE_SECRET });
    const n3b = c.group.join({ state: r3, address: a3 });
    r3.attach(n3b);
    await c.settle();
    for (const n of [n0!, n1!, n2!]) {
      c.group.crash(n.member);
      await c.settle();
      await until(
        () => !!client.contactMember && !client.view!.members.includes(n.member.self),
        5000,
        'the client following the group',
      );
    }
    expect(await client.invoke('ledger', 'append', ['before'], { timeoutMs: 2000 })).toBe(1);
    expect(client.view!.members).toStrictEqual([n4.member.self, n5.member.self, n3b.self]);
    expect(client.contactMember).toBe(n4.member.self);

    // The client's contact n4 crashes while the replies of n5 and n3b to the client are lost for
    // a moment (the members' views of the crash included): the client has no contact.
    let lossy = true;
    c.net.drop = (from, to, bytes) =>
      lossy && to === client.address && (from === n5.member.address || from === a3) && bytes !== stale;
    c.group.crash(n4.member);
    await until(() => client.contactMember === undefined, 5000, 'the client losing its contact');
    // A late copy of n3's old view reaches it now (or one datagram spoofed from a3: the same bytes).
    c.net.route(a3, client.address, stale);
    await c.net.settle();
    lossy = false;

    // The group lives on at a5 and a3, both answering: the client should be back at once.
    // On 42ceb1a it took n3's old view as a re-founding, chose the dead n3 at a3 as its contact,
    // then, a3 suspected, knew only the founders' dead addresses (its seed among them): cut off
    // until a3's suspicion lapsed (10 × contactTimeoutMs; 10 s with the default).
    const outcome = await client
      .invoke('ledger', 'append', ['after'], { timeoutMs: 1000 })
      .catch((e: unknown) => e);
    expect(client.view!.members).not.toContain(n0!.member.self);
    expect(outcome).toBe(2);
    expect(client.view!.members).toStrictEqual([n5.member.self, n3b.self]);
    await sleep(0);
  });
});
