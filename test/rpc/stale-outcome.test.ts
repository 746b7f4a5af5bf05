/**
 * An outcome answer is true when the member makes it: `pending` and `not-found` may stop being
 * true a moment later. A late or duplicated copy of an answer to an earlier query must not be
 * taken as the answer to a later one (RPC seed 100022395, test/sim/FINDINGS.md item 58: a
 * straggling `not-found`, made before the client's reissue reached the member, was read as the
 * final answer to a query asked after that reissue was ordered).
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

it('a late copy of an earlier not-found does not answer a later outcome query', async () => {
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
  // Asked now, the contact has never heard of it.
  expect((await client.outcome(id)).status).toBe('not-found');
  expect(answer).toBeDefined();
  // The held call packet arrives: the request is ordered and applied (its reply still lost).
  const heldCall = held!;

  net.drop = (_from, _to, bytes) => {
    const { p, ids } = kinds(bytes);
    return ids.includes(id) && (p.kind === 'reply' || p.kind === 'replies' || p.kind === 'accepted');
  };
  net.route(heldCall.from, heldCall.to, heldCall.bytes);
  await cluster.settle();
  expect(cluster.nodes.map((n) => n.replica.outcome(id).status)).toEqual([
    'committed',
    'committed',
    'committed',
  ]);
  // A query asked now, with a copy of the old answer arriving first: the client must wait for
  // its own answer, which says committed.
  const asked = client.outcome(id);
  net.route(answer!.from, answer!.to, answer!.bytes);
  const o = await asked;
  expect(o.status).toBe('committed');
  expect(o.value).toBe(1);
  expect(client.stats().staleOutcomes).toBeGreaterThan(0);
});
