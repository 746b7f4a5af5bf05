/**
 * Outcome retention follows client sessions (docs/rpc.md, "Outcome table and retention"): it
 * depends on what each client settled, never on a member's clock or on how many calls came later.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FailoverError } from '../../runtime/rpc/errors.js';
import { Cluster, type Ledger } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const HOURS_2 = 2 * 60 * 60_000;

describe('outcome retention: client sessions', () => {
  it('a contact whose clock runs 2 h ahead cannot make a committed call run again', async () => {
    let skew = 0;
    cluster = await Cluster.of(3, { clock: () => Date.now() + skew });
    const a = await cluster.client();
    const b = await cluster.client();
    const id = `${a.clientId}:5`;
    expect(await a.invoke('ledger', 'append', ['x'], { requestId: id })).toBe(1);
    skew = HOURS_2; // the contact ordering b's call is 2 h ahead: order time jumps 2 h
    expect(await b.invoke('ledger', 'append', ['y'])).toBe(2);
    skew = 0;
    // A retransmission of a's committed call (same id) gets the recorded reply; nothing runs.
    expect(await a.invoke('ledger', 'append', ['x'], { requestId: id })).toBe(1);
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.instance.entries).toStrictEqual(['x', 'y']);
  });

  it('4 calls failed over unordered, then 279 more: outcome() says not-found (never expired), reissue runs each once', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client();
    const contact = cluster.nodes.find((n) => n.member.self === client.contactMember)!;
    cluster.group.holdCasts(contact.member, true); // the contact casts; the order never sees it
    const lost = Array.from({ length: 4 }, (_, i) => client.invoke('ledger', 'append', [`lost${i}`]));
    await new Promise((r) => setTimeout(r, 30));
    cluster.group.crash(contact.member);
    const failures = (await Promise.all(lost.map((p) => p.catch((e: unknown) => e)))) as FailoverError[];
    for (const f of failures) expect(f).toBeInstanceOf(FailoverError);
    await client.ready();
    for (let i = 0; i < 279; i++) await client.invoke('ledger', 'append', [`later${i}`]);
    for (const f of failures) {
      const o = await client.outcome(f.requestId);
      expect(o).toMatchObject({ status: 'not-found', settled: true });
      expect(typeof (await client.reissue(f.requestId))).toBe('number');
    }
    await cluster.settle();
    for (const n of cluster.live) {
      expect(n.instance.runs).toBe(283);
      expect(n.instance.entries.filter((e) => e.startsWith('lost'))).toHaveLength(4);
    }
  });
});

describe('fencing a contact that is alive but cut off from the client', () => {
  it('outcome() settles not-found in about a round trip, not at the deadline; the late cast is refused, the reissue runs once', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client();
    const contact = cluster.nodes.find((n) => n.member.self === client.contactMember)!;
    cluster.group.holdCasts(contact.member, true); // it casts the call; the order has not seen it yet
    const call = client.invoke('ledger', 'append', ['x']).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    const a = contact.member.address;
    cluster.net.drop = (from, to) =>
      (from === a && to === client.address) || (from === client.address && to === a);
    const err = (await call) as FailoverError;
    expect(err).toBeInstanceOf(FailoverError);
    const started = Date.now();
    const o = await client.outcome(err.requestId, { timeoutMs: 3000 });
    const took = Date.now() - started;
    expect(o).toMatchObject({ status: 'not-found', settled: true });
    expect(took).toBeLessThan(1000); // the deadline is 3 s; a fence costs one ordered cast
    cluster.group.holdCasts(contact.member, false); // its stale cast reaches the order now: refused
    expect(await client.reissue(err.requestId)).toBe(1);
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.instance.entries).toStrictEqual(['x']);
    expect(contact.replica.stats().fenced).toBe(1);
  });
});
