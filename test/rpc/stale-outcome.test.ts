/**
 * Late packets around an outcome query. A settled `not-found` stays true however late a call
 * packet of the request arrives: the group fenced the issue it carries (test/sim/FINDINGS.md
 * item 60: that packet used to commit the request after the client was told it never would).
 * And an outcome answer is true when the member makes it: `pending` and `not-found` may stop
 * being true a moment later, so a late or duplicated copy of an answer to an earlier query is
 * not taken as the answer to a later one (RPC seed 100022395, FINDINGS item 58: a straggling
 * `not-found`, made before the client's reissue reached the member, was read as the final
 * answer to a query asked after that reissue was ordered).
 */
import { afterEach, expect, it } from 'vitest';
import { TimeoutError } from '../../runtime/rpc/errors.js';
import { decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger, QUICK_DETECTION } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const gid = groupIdOf('ledger');

it('a call packet arriving after a settled not-found is refused; the reissue runs once, and a late not-found does not answer a later query', async () => {
  cluster = await Cluster.of(3);
  const net = cluster.net;
  const client = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
  const kinds = (bytes: Uint8Array) => {
    const p = decodeClientPacket(bytes, gid).packet;
    return { p, ids: p.kind === 'calls' ? p.calls.map((c) => c.id) : 'id' in p ? [p.id] : [] };
  };
  // The call's first packet is held back (delivered later, a straggler), its resends and every
  // reply lost: the call times out at the client.
  const id = `${client.clientId}:7`;
  let held: { from: string; to: string; bytes: Uint8Array } | undefined;
  let answer: { from: string; to: string; bytes: Uint8Array } | undefined;
  net.drop = (from, to, bytes) => {
    const { p, ids } = kinds(bytes);
    if (!ids.includes(id)) return false;
    if (p.kind === 'call' || p.kind === 'calls') {
      held ??= { from, to, bytes: bytes.slice() };
      return true;
    }
    if (p.kind === 'outcome' && p.status === 'not-found') answer ??= { from, to, bytes: bytes.slice() };
    return p.kind === 'reply' || p.kind === 'replies' || p.kind === 'accepted';
  };
  const call = client.invoke('ledger', 'append', ['late'], { timeoutMs: 400, requestId: id });
  await expect(call).rejects.toBeInstanceOf(TimeoutError);
  // Asked now, no member has heard of it: final once the group fenced issue 1.
  const notFound = await client.outcome(id);
  expect(notFound).toMatchObject({ status: 'not-found', settled: true });
  expect(answer).toBeDefined();

  // The held call packet (issue 1) arrives: its contact orders it, and every replica refuses it.
  const heldCall = held!;
  net.drop = () => false;
  net.route(heldCall.from, heldCall.to, heldCall.bytes);
  await cluster.settle();
  expect(cluster.nodes.map((n) => n.replica.outcome(id).status)).toEqual([
    'not-found',
    'not-found',
    'not-found',
  ]);
  expect(cluster.nodes.map((n) => n.replica.stats().fenced)).toEqual([1, 1, 1]);
  expect(cluster.nodes.map((n) => n.instance.runs)).toEqual([0, 0, 0]);

  // The reissue (issue 2) runs, once; its replies are lost, so the client does not know.
  net.drop = (_from, _to, bytes) => {
    const { p, ids } = kinds(bytes);
    return ids.includes(id) && (p.kind === 'reply' || p.kind === 'replies' || p.kind === 'accepted');
  };
  await expect(client.reissue(id, { timeoutMs: 400 })).rejects.toBeInstanceOf(TimeoutError);
  expect(cluster.nodes.map((n) => n.instance.runs)).toEqual([1, 1, 1]);
  net.drop = () => false;

  // A query asked now, with a copy of the old not-found arriving first: the client waits for
  // its own answer, which says committed.
  const asked = client.outcome(id);
  net.route(answer!.from, answer!.to, answer!.bytes);
  const o = await asked;
  expect(o.status).toBe('committed');
  expect(o.value).toBe(1);
  expect(client.stats().staleOutcomes).toBeGreaterThan(0);
});

it('an outcome() still asking when a reissue settles the id answers with that result, not expired (FINDINGS 70)', async () => {
  // Found by session 19's review. outcome() read the client's memory of settled answers only
  // when it started. Here the reissue's reply settles the id meanwhile, the next call's
  // watermark lets the group drop the outcome, and outcome()'s next answer was `expired`.
  cluster = await Cluster.of(3);
  const client = await cluster.client({ timeoutMs: 5_000 });
  const id = `${client.clientId}:7`;
  const about = (b: Uint8Array) => {
    const p = decodeClientPacket(b, gid).packet;
    const ids =
      p.kind === 'calls'
        ? p.calls.map((c) => c.id)
        : p.kind === 'replies'
          ? p.replies.map((r) => r.id)
          : 'id' in p
            ? [p.id]
            : [];
    return ids.includes(id) ? p.kind : undefined;
  };
  let dropReplies = true;
  let dropOutcomes = true;
  cluster.net.drop = (_from, _to, bytes) => {
    const k = about(bytes);
    if (k === 'outcome') return dropOutcomes;
    return dropReplies && (k === 'reply' || k === 'replies' || k === 'accepted');
  };
  // The call runs, its replies are lost: it times out.
  await expect(
    client.invoke('ledger', 'append', ['x'], { requestId: id, timeoutMs: 300 }),
  ).rejects.toBeInstanceOf(TimeoutError);
  // Recovery in parallel: reissue, and ask outcome().
  const reissued = client.reissue(id, { timeoutMs: 3_000 });
  const asked = client.outcome(id, { timeoutMs: 3_000 });
  await new Promise((r) => setTimeout(r, 100));
  dropReplies = false;
  const value = await reissued;
  // The next call's watermark covers the id: every replica drops its outcome.
  await client.invoke('ledger', 'append', ['y']);
  await cluster.settle();
  expect(cluster.nodes.map((n) => n.replica.outcome(id).status)).toEqual(['expired', 'expired', 'expired']);
  dropOutcomes = false;
  const o = await asked;
  expect(o).toMatchObject({ status: 'committed', settled: true, value });
});
