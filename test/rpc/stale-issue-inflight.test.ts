// Sweep finding (sim seed 99600101, see the commit message): applying a copy of an earlier issue
// of a request forgets that this contact has a later issue's cast in flight, so the client's next
// retransmission of that later issue is cast again: two copies of one issue in the order (the
// second answered from the table), byte-identical when cast in the same millisecond, which the
// simulator's no-duplicates checker reports.
import { afterEach, describe, expect, it } from 'vitest';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { encodeClientPacket } from '../../runtime/rpc/protocol.js';
import type { ReplicaOptions } from '../../runtime/rpc/replica.js';
import type { QoS } from '../../runtime/stack/types.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { until } from '../support/until.js';
import { Cluster, cookieHead, type Ledger, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/**
 * Two replicas (`c`, also kept for `afterEach`), a fake client at 10.9.9.9:1 whose `call(issue)`
 * sends that issue of `call` (default: zz:5, `append('x')`) to `a`, and the issues of every
 * request cast of it that `a` hands to the group.
 */
async function twoReplicas(
  call: { id: string; method: string; args: unknown[] } = { id: 'zz:5', method: 'append', args: ['x'] },
  options: Partial<ReplicaOptions> = {},
) {
  const c = await Cluster.of(2, options);
  cluster = c;
  const [a, b] = c.nodes as [NonNullable<(typeof c.nodes)[0]>, NonNullable<(typeof c.nodes)[0]>];
  const gid = groupIdOf(c.group.name);
  const from = '10.9.9.9:1';
  c.net.listen(from, () => {});
  const send = (to: string, packet: Parameters<typeof encodeClientPacket>[0]) =>
    c.net.route(
      from,
      to,
      encodeClientPacket(packet, gid, { node: 99, inc: 1 }, undefined, undefined, cookieHead(from)),
    );
  const args = encodeValue(call.args);
  const callIssue = (issue: number) =>
    send(a.member.address, {
      kind: 'call',
      id: call.id,
      service: 'ledger',
      method: call.method,
      args,
      mode: 'first',
      to: a.member.self,
      issue,
    });
  // Every request cast of the call that a hands to the group, alone or in a batch.
  const casts: number[] = [];
  const cast = a.member.cast.bind(a.member);
  a.member.cast = (payload: Uint8Array, qos?: QoS) => {
    const m = decodeGroupMsg(payload);
    const parts = m.kind === 'requests' ? m.parts.map((p) => decodeGroupMsg(p)) : [m];
    for (const r of parts) if (r.kind === 'request' && r.id === call.id) casts.push(r.issue);
    cast(payload, qos);
  };
  /** Issue 1 cast at `a`, held back while `b`, asked about it, fences it; then ordered (the fence
   * refuses it when applied). */
  const castFencedIssue1 = async () => {
    c.group.holdCasts(a.member, true);
    callIssue(1);
    await until(() => casts.length === 1, 5_000, 'issue 1 cast');
    send(b.member.address, { kind: 'outcome?', id: call.id, q: 1, upTo: 1 });
    await c.net.settle();
    c.group.holdCasts(a.member, false);
    await c.net.settle();
  };
  /** The client sends issue 2 twice more (within recastMs), then `a`'s casts go and all settles. */
  const retransmitIssue2 = async () => {
    callIssue(2);
    callIssue(2);
    await c.net.settle();
    c.group.holdCasts(a.member, false);
    await c.settle();
  };
  return { c, a, b, call: callIssue, casts, castFencedIssue1, retransmitIssue2 };
}

describe('replica: a refused copy of an earlier issue', () => {
  it('does not make the contact cast its later issue, still in flight, a second time', async () => {
    const { c: cluster, a, b, call, casts, castFencedIssue1, retransmitIssue2 } = await twoReplicas();
    // An async call holds both replicas' apply queues while the rest is ordered behind it.
    const client = await cluster.client();
    const slow = client.invoke('ledger', 'slowAppend', ['s', 300]);
    await until(() => a.instance.runs === 1 && b.instance.runs === 1, 5_000, 'slowAppend running');
    await castFencedIssue1();
    // Issue 2 at a: cast (held back, so still in flight) while issue 1's copy waits to be applied.
    cluster.group.holdCasts(a.member, true);
    call(2);
    await until(() => casts.length === 2, 5_000, 'issue 2 cast');
    await slow;
    await Promise.all(cluster.nodes.map((n) => n.replica.idle()));
    // The client retransmits issue 2 twice (within recastMs): its cast is still in flight.
    await retransmitIssue2();
    expect(casts).toStrictEqual([1, 2]);
    for (const n of cluster.nodes) {
      expect(n.instance.entries).toStrictEqual(['s', 'x']);
      // (Not `deduplicated`: the real client's slow call may be cast again by another contact
      // under load, 1 in a run at load 12; zz:5's casts are counted above.)
      expect(n.replica.stats()).toMatchObject({ fenced: 1 });
    }
  });

  it('keeps a later issue, delivered behind the refused copy, known as in the order', async () => {
    const { c: cluster, a, b, call, casts, castFencedIssue1 } = await twoReplicas();
    // The order: slow s1, issue 1's copy (fenced first at b), slow s2, issue 2's copy.
    const client = await cluster.client();
    const s1 = client.invoke('ledger', 'slowAppend', ['s1', 300]);
    await until(() => a.instance.runs === 1 && b.instance.runs === 1, 5_000, 's1 running');
    await castFencedIssue1();
    const s2 = client.invoke('ledger', 'slowAppend', ['s2', 300]);
    await cluster.net.settle();
    call(2);
    await until(() => casts.length === 2, 5_000, 'issue 2 cast');
    await cluster.net.settle();
    // s1 ends, issue 1's copy is refused, s2 runs: issue 2's copy is still queued behind it.
    await s1;
    await until(() => a.instance.runs === 2, 5_000, 's2 running at a');
    call(2);
    await cluster.net.settle();
    expect(casts).toStrictEqual([1, 2]);
    await s2;
    await cluster.settle();
    expect(casts).toStrictEqual([1, 2]);
    for (const n of cluster.nodes) {
      expect(n.instance.entries).toStrictEqual(['s1', 's2', 'x']);
      // (Not `deduplicated`: the real client's slow call may be cast again by another contact
      // under load, 1 in a run at load 12; zz:5's casts are counted above.)
      expect(n.replica.stats()).toMatchObject({ fenced: 1 });
    }
  });

  it('nor does its own delivered copy of the earlier issue (the delivery path)', async () => {
    // RPC seed 99610138: the contact recast issue 2 after recastMs while issue 1's cast was
    // still being ordered; issue 1's copy came back (and ran, async) and its delivery dropped
    // the marker of issue 2's cast, so the next retransmission cast issue 2 again.
    const {
      c: cluster,
      a,
      call,
      casts,
      retransmitIssue2,
    } = await twoReplicas({ id: 'zz:6', method: 'slowAppend', args: ['y', 2_000] }, { recastMs: 300 });
    cluster.group.holdCasts(a.member, true);
    call(1);
    await until(() => casts.length === 1, 5_000, 'issue 1 cast');
    await sleep(350);
    // Past recastMs: issue 2 is submitted, and waits in the batcher behind issue 1's cast.
    call(2);
    await cluster.net.settle();
    // Issue 1 is ordered; issue 2's cast, made when issue 1 comes back, is held (in flight).
    cluster.group.holdCasts(a.member, false);
    cluster.group.holdCasts(a.member, true);
    await until(() => casts.length === 2, 5_000, 'issue 2 cast');
    await until(() => a.instance.runs === 1, 5_000, 'issue 1 running');
    // Retransmissions of issue 2 (well within recastMs of its cast) while issue 1 runs.
    await retransmitIssue2();
    expect(casts).toStrictEqual([1, 2]);
  });
});
