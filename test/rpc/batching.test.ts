// Issue 13 on the RPC path: a member's replies to one client leave in one packet per turn (an
// `accepted` answered in the same turn is not sent), and the client's retransmission timeout
// follows the round trip it observes, so a group slower than `retransmitMs` gets no duplicates.
import { afterEach, describe, expect, it } from 'vitest';
import { type ClientPacket, decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger } from './support/cluster.js';

/** A loaded machine must not make the contact look failed: not what is tested. */
const CALM = { contactTimeoutMs: 2_000 };
/**
 * No loss here, so no copy of a call needs sending again. With the 20 ms floor a loaded machine
 * (a round trip past 20 ms) made the client resend, and the packet counts below saw the copy.
 */
const ONCE = { ...CALM, retransmitMs: 2_000 };

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function packets(c: Cluster<Ledger>, from: string, to: string): ClientPacket[] {
  const gid = groupIdOf(c.group.name);
  return c.net.log
    .filter((p) => p.from === from && p.to === to)
    .map((p) => decodeClientPacket(p.bytes, gid).packet);
}

describe('replies batched per client', () => {
  it('many calls at once: the contact answers them in few packets, with no separate accepted', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(ONCE);
    const n = 40;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => client.invoke('ledger', 'append', [`e${i}`])),
    );
    expect(new Set(results).size).toBe(n);
    await cluster.settle();
    const contact = cluster.nodes[0]!.member.address;
    const sent = packets(cluster, contact, client.address).filter((p) => p.kind !== 'view');
    const answered = sent.flatMap((p) =>
      p.kind === 'replies' ? p.replies.map((r) => r.id) : p.kind === 'reply' ? [p.id] : [],
    );
    // Every call answered once, most of them inside `replies` packets.
    expect(new Set(answered).size).toBe(n);
    expect(sent.some((p) => p.kind === 'replies')).toBe(true);
    // One packet per call before batching would be 2n (`accepted`, then `reply`).
    expect(sent.length).toBeLessThan(n / 2);
    expect(sent.filter((p) => p.kind === 'accepted')).toHaveLength(0);
    for (const node of cluster.nodes) expect(node.instance.runs).toBe(n);
  });

  it('a call alone still gets a plain reply', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(ONCE);
    expect(await client.invoke('ledger', 'append', ['a'])).toBe(1);
    await cluster.settle();
    const contact = cluster.nodes[0]!.member.address;
    const kinds = packets(cluster, contact, client.address).map((p) => p.kind);
    expect(kinds.filter((k) => k !== 'view')).toStrictEqual(['reply']);
  });

  it('all mode: each member batches its own replies; every entry arrives', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(ONCE);
    const rs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.invoke('ledger', 'append', [`e${i}`], { reply: 'all' })),
    );
    for (const r of rs as { entries: { status: string }[] }[])
      expect(r.entries.map((e) => e.status)).toStrictEqual(['ok', 'ok', 'ok']);
    await cluster.settle();
    for (const node of cluster.nodes)
      expect(packets(cluster, node.member.address, client.address).some((p) => p.kind === 'replies')).toBe(
        true,
      );
  });
});

describe('calls batched per contact', () => {
  it('calls started in one turn go in one packet, and the contact orders them in one cast', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(ONCE);
    const contact = cluster.nodes[0]!;
    const n = 40;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => client.invoke('ledger', 'append', [`e${i}`])),
    );
    expect(new Set(results).size).toBe(n);
    await cluster.settle();
    const sent = packets(cluster, client.address, contact.member.address).filter((p) => p.kind !== 'hello');
    expect(sent.map((p) => p.kind)).toStrictEqual(['calls']);
    expect(sent[0]!.kind === 'calls' && sent[0]!.calls.map((c) => c.id)).toHaveLength(n);
    // One cast for the whole packet: the contact had nothing of its own in the order.
    expect(contact.replica.stats()).toMatchObject({ requestCasts: 1, requestsCast: n });
    for (const node of cluster.nodes) expect(node.instance.runs).toBe(n);
    // Applied in the packet's order at every replica.
    expect(results).toStrictEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('calls that arrive while the contact has a cast in the order wait for it and go as one batch', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(ONCE);
    const contact = cluster.nodes[0]!;
    const first = client.invoke('ledger', 'append', ['a']);
    // Next turn: the first call's packet has gone; these reach the contact in a second packet.
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 10 }, (_, i) => client.invoke('ledger', 'append', [`b${i}`]));
    await Promise.all([first, ...rest]);
    await cluster.settle();
    const { requestCasts, requestsCast } = contact.replica.stats();
    expect(requestsCast).toBe(11);
    expect(requestCasts).toBeLessThanOrEqual(3);
  });
});

describe('retransmission timeout', () => {
  it('follows the observed round trip: a group slower than retransmitMs gets no duplicate calls', async () => {
    cluster = await Cluster.of(3);
    // retransmitMs 20; every call takes about 60 ms to apply.
    const client = await cluster.client(CALM);
    const calls = 16;
    for (let i = 0; i < calls; i++) await client.invoke('ledger', 'slowAppend', [`e${i}`, 60]);
    // The first calls teach the client the round trip (each of them is sent again at 20 ms);
    // after that none is.
    expect(client.stats().rtoMs).toBeGreaterThan(60);
    expect(client.stats().retransmits).toBeLessThan(calls / 2);
    await cluster.settle();
    for (const node of cluster.nodes) expect(node.instance.runs).toBe(calls);
  });

  it('still recovers a lost call at the floor when the group is fast', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(CALM);
    for (let i = 0; i < 5; i++) await client.invoke('ledger', 'append', [`warm${i}`]);
    // The timeout stays within the 16x cap of the floor (20 ms): the client does not wait long.
    expect(client.stats().rtoMs).toBeLessThanOrEqual(16 * 20);
    let lost = false;
    cluster.net.drop = (_from, to) => {
      if (lost || to === client.address) return false;
      lost = true; // the next call packet
      return true;
    };
    const t0 = Date.now();
    expect(await client.invoke('ledger', 'append', ['x'])).toBe(6);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(client.stats().retransmits).toBeGreaterThan(0);
  });
});
