/**
 * review36: the keyed twin of client-trust.test.ts "follows a group re-founded at those addresses
 * when every seed is gone". It passes on 42ceb1a and times out on 8d1c7b2, and also with only
 * findContact's `!lost` reverted: without a key `addressed` changes nothing on the wire (keylessPacket
 * names no receiver), so that hunk fixes keyed clients, not keyless ones.
 *
 * Which views a client trusts and follows (docs/rpc.md, "Views the client trusts"): never a
 * view it cannot tie to a member of the group, always the group's own, a re-founded one included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectOptions } from '../../runtime/rpc/client.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { until } from '../support/until.js';
import { Cluster, Ledger, QUICK_DETECTION, validateLedger } from './support/cluster.js';
import { FakeGroup } from './support/fake-group.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

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

describe("client with a key: a view from an address of the view it knew (review36: covers 42ceb1a's findContact hunk, which only a keyed client needs)", () => {
  it('follows a group re-founded at those addresses when every seed is gone', async () => {
    // Chaos seed 3516 (`--amnesia`): every replica the client was given as a seed was replaced,
    // the replacements lost their majority and re-founded at their own addresses, and a keyless
    // client, taking a re-founded view only from a seed, never found the group again.
    cluster = await Cluster.of(3, { key: KEY });
    const client = await cluster.client({
      ...QUICK_DETECTION,
      autoReissue: true,
      key: KEY,
      insecure: false,
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
    const group = refound(cluster, moved, KEY);
    await until(
      () => group.view.members.includes(client.contactMember ?? ''),
      10_000,
      'a contact of the re-founded group',
    );
    expect(await client.invoke('ledger', 'append', ['again'], { timeoutMs: 2000 })).toBe(1);
    expect(client.view?.members).toStrictEqual(group.view.members);
  });
});
