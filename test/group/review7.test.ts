// Review of 48e87a7 ("only seeds vote a group into being") and 42d0ffc (a keyless stranger's
// first address is kept). Each case failed on 8dd1c3c: the first and the last were regressions
// of those commits, the second the case 48e87a7 meant to fix, missed for wildcard-bound members.
// A seed's vote counts only if the address the founder sees (the Join's source address, or its
// own transport address or aliases) is in the seed list. Now the driver resolves seed names to
// IPs, transports report their bound IP and, on the wildcard, every address they receive at
// (aliases), and a keyless stranger's address is kept only from its unicasts. Real deployments
// write addresses differently; this in-memory network lets a
// transport say one address (`claimed`, its transport.address) and send from another (`real`,
// what receivers see), and resolves names as DNS would.
import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import type { Transport } from '../../runtime/transport/types.js';
import { Net } from './address-net.js';

const KEY = 'ab'.repeat(32);

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(200).catch(() => {})));
  groups = [];
});

/** joinGroup with a key (or insecure); the result: the group, or the error's code. */
function join(
  transport: Transport,
  seeds: string[],
  joinTimeoutMs = 5_000,
  insecure = false,
): Promise<Group | string> {
  const security = insecure ? { insecure: true as const } : { key: KEY };
  return joinGroup('bank', { seeds, transport, ...security, joinTimeoutMs }).then(
    (g) => {
      groups.push(g);
      return g;
    },
    (e: unknown) => (e as { code?: string }).code ?? String(e),
  );
}

const size = (r: Group | string) => (typeof r === 'string' ? r : r.view?.members.length);

describe('review7: founding with seeds written otherwise than the transport addresses', () => {
  it('seeds given as host names (as the README passes one `seeds` to joinReplica and connect)', async () => {
    // README: `joinReplica(new Bank(), 'bank', { seeds, ... })` beside `connect({ group: 'bank',
    // seeds })`, whose seeds are `localhost:7001,…` (connect resolves names; joinGroup does not).
    // Joins to `localhost:7002` reach 127.0.0.1:7002 (dgram resolves the name), but the votes
    // come from 127.0.0.1:700x, which is no seed as written, and the founder's own
    // 127.0.0.1:7001 is none either: no vote counts, the group is never founded (before
    // 48e87a7 the three found it as usual).
    const net = new Net();
    const seeds = ['localhost:7001', 'localhost:7002', 'localhost:7003'];
    for (const p of [7001, 7002, 7003]) net.alias(`localhost:${p}`, `127.0.0.1:${p}`);
    const results = await Promise.all(
      [7001, 7002, 7003].map((p) => join(net.attach(`127.0.0.1:${p}`), seeds)),
    );
    expect(results.map(size)).toEqual([3, 3, 3]);
  });

  it('a wildcard-bound replica added later, with the same port as its only seed, never founds alone', async () => {
    // The case 48e87a7 fixed (FINDINGS 24), in the usual container layout: every replica binds
    // 0.0.0.0:7001 on its own host. The new replica's seed is the running member 10.0.0.1:7001;
    // its own address 0.0.0.0:7001 shares the seed's port, so isSeed() takes it for a seed, its
    // own vote counts, the quorum of one seed is 1, and if it does not hear the seed within
    // bootstrapMs it founds a second group beside the running one (the weaker lineage's
    // deliveries are discarded when they meet).
    const net = new Net();
    const seed = await join(net.attach('10.0.0.1:7001'), ['10.0.0.1:7001']);
    expect(size(seed)).toBe(1);
    const later = net.attach('10.0.0.4:7001', '0.0.0.0:7001');
    net.block('10.0.0.4:7001', '10.0.0.1:7001'); // its seed's answers are late: 3 s
    const joining = join(later, ['10.0.0.1:7001'], 10_000);
    await new Promise((r) => setTimeout(r, 3_000));
    net.heal();
    const r = await joining;
    // Expected: it joins the running group (a view of 2); on main it founded its own (1).
    expect(size(r)).toBe(2);
  });
});

describe('review7: a keyless joiner keeps the first address it heard a member at (42d0ffc)', () => {
  it('IP multicast, wildcard-bound member: its heartbeat before its Here does not lock the joiner out', async () => {
    // Without a key com now keeps a stranger's first address. In multicast mode a joiner hears
    // the group's heartbeats (casts to the multicast group) before it is a member, and a
    // wildcard-bound member's multicasts leave from the multicast interface (10.0.0.1 here)
    // while its unicast to the joiner's seed address leaves from 127.0.0.1. If a heartbeat
    // reaches the joiner before the member's Here (here: the unicast path is 150 ms slower; on
    // one host, any Join whose Here loses the race with a heartbeat), the joiner's com keeps
    // 10.0.0.1:7001 for the member and drops its Here and Install (addressMismatch) for good:
    // the join never completes. FAILS on main (JOIN_TIMEOUT) and on 42d0ffc (where the joiner,
    // hearing no Here, founded a second group); passes on 229cd72, where the address moved.
    const net = new Net();
    for (const p of [7001, 7002]) net.alias(`10.0.0.1:${p}`, `127.0.0.1:${p}`); // both reach the socket
    const seeds = ['127.0.0.1:7001'];
    const member = await join(
      net.attach('127.0.0.1:7001', '0.0.0.0:7001', '10.0.0.1:7001'),
      seeds,
      5_000,
      true,
    );
    expect(size(member)).toBe(1);
    net.delay.set('127.0.0.1:7001>127.0.0.1:7002', 150);
    const joiner = await join(
      net.attach('127.0.0.1:7002', '0.0.0.0:7002', '10.0.0.1:7002'),
      seeds,
      5_000,
      true,
    );
    expect(size(joiner)).toBe(2);
  });
});
