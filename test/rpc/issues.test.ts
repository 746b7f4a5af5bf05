/**
 * Issues and fencing (docs/rpc.md): late call packets of issues the client gave up on never run
 * after a settled `not-found`, whatever else happened to the request id. Each case was found by
 * a review of the first version (test/sim/FINDINGS.md item 63) and holds a call packet back in
 * the network, then lets it through after the answer.
 */
import { afterEach, expect, it } from 'vitest';
import type { TroupeClient } from '../../runtime/rpc/client.js';
import { TimeoutError } from '../../runtime/rpc/errors.js';
import { type ClientPacket, decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger, QUICK_DETECTION, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const gid = groupIdOf('ledger');
type Held = { from: string; to: string; bytes: Uint8Array };

/** The packet, and the issue it carries for `id` if it is a call of `id`. */
function callIssue(
  bytes: Uint8Array,
  id: string,
): { p: ClientPacket; issue: number | undefined; about: boolean } {
  const p = decodeClientPacket(bytes, gid).packet;
  const calls = p.kind === 'calls' ? p.calls : p.kind === 'call' ? [p] : [];
  const about = calls.some((c) => c.id === id) || ('id' in p && p.id === id);
  return { p, issue: calls.find((c) => c.id === id)?.issue, about };
}

/** Holds every issue's first call packet of `id` and drops the rest, and drops answers to it. */
function holdCalls(c: Cluster<Ledger>, id: string, held: Map<number, Held>) {
  c.net.drop = (from, to, bytes) => {
    const { p, issue, about } = callIssue(bytes, id);
    if (!about) return false;
    if (issue !== undefined) {
      if (!held.has(issue)) held.set(issue, { from, to, bytes: bytes.slice() });
      return true;
    }
    return p.kind === 'reply' || p.kind === 'replies' || p.kind === 'accepted';
  };
}

/** A call of `id` that times out (its packets held or lost). */
async function timesOut(client: TroupeClient, id: string): Promise<void> {
  const call = client.invoke('ledger', 'append', [id], { timeoutMs: 300, requestId: id });
  await expect(call).rejects.toBeInstanceOf(TimeoutError);
}

const statuses = (c: Cluster<Ledger>, id: string) => c.nodes.map((n) => n.replica.outcome(id).status);
const runs = (c: Cluster<Ledger>) => c.nodes.map((n) => n.instance.runs);

it('an id the client forgot and calls again: its new issue is above the old ones, so the fence covers a late old copy', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000, remember: 1 });
  const id = `${client.clientId}:7`;
  const held = new Map<number, Held>();
  holdCalls(cluster, id, held);
  await timesOut(client, id);
  await expect(client.reissue(id, { timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
  const [, second] = [...held.keys()];
  // Another failed call pushes `id` out of the client's memory (remember: 1).
  const drop = cluster.net.drop;
  cluster.net.drop = (f, t, b) => callIssue(b, `${client.clientId}:9`).issue !== undefined || drop(f, t, b);
  await timesOut(client, `${client.clientId}:9`);
  // The caller tries the id again under its own control, and asks.
  await timesOut(client, id);
  expect(await client.outcome(id)).toMatchObject({ status: 'not-found', settled: true });
  // The second issue's held packet arrives: refused.
  cluster.net.drop = () => false;
  const h = held.get(second!)!;
  cluster.net.route(h.from, h.to, h.bytes);
  await cluster.settle();
  expect(statuses(cluster, id)).toEqual(['not-found', 'not-found', 'not-found']);
  expect(runs(cluster)).toEqual([0, 0, 0]);
});

it('the accepted of a late copy of an earlier issue does not answer a reissue, which then runs once', async () => {
  for (const reply of ['none', 'all'] as const) {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
    const id = `${client.clientId}:7`;
    const held = new Map<number, Held>();
    holdCalls(cluster, id, held);
    await timesOut(client, id);
    expect(await client.outcome(id)).toMatchObject({ status: 'not-found', settled: true });
    const [first] = [...held.keys()];
    // The reissue's packets are held too; the first issue's packet arrives and is ordered: its
    // contact says `accepted` (of that issue), and every replica refuses the copy.
    let settled = false;
    const re = client.reissue(id, { reply, timeoutMs: 3_000 }).then((v) => {
      settled = true;
      return v;
    });
    await new Promise((r) => setTimeout(r, 50));
    cluster.net.drop = (_f, _t, b) => {
      const { issue } = callIssue(b, id);
      return issue !== undefined && issue !== first;
    };
    const h = held.get(first!)!;
    cluster.net.route(h.from, h.to, h.bytes);
    await cluster.settle();
    expect(runs(cluster)).toEqual([0, 0, 0]);
    expect(settled).toBe(false);
    expect(client.stats().stray).toBeGreaterThan(0);
    // The reissue's packets get through now: it runs, once, and the call ends with its answer.
    cluster.net.drop = () => false;
    const value = await re;
    await cluster.settle();
    expect(runs(cluster)).toEqual([1, 1, 1]);
    expect(statuses(cluster, id)).toEqual(['committed', 'committed', 'committed']);
    if (reply === 'all')
      expect((value as { entries: { status: string }[] }).entries.map((e) => e.status)).toEqual([
        'ok',
        'ok',
        'ok',
      ]);
    await cluster.close();
    cluster = undefined;
  }
});

it('a fence pushed out by the perClient cap leaves its request expired, not runnable', async () => {
  cluster = await Cluster.of(3, { outcomes: { perClient: 1 } });
  const client = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
  const a = `${client.clientId}:7`;
  const b = `${client.clientId}:8`;
  const held = new Map<string, Held>();
  cluster.net.drop = (from, to, bytes) => {
    for (const id of [a, b]) {
      const { p, issue, about } = callIssue(bytes, id);
      if (!about) continue;
      if (issue !== undefined) {
        if (!held.has(id)) held.set(id, { from, to, bytes: bytes.slice() });
        return true;
      }
      return p.kind === 'reply' || p.kind === 'replies' || p.kind === 'accepted';
    }
    return false;
  };
  await Promise.all([a, b].map((id) => timesOut(client, id)));
  expect(await client.outcome(a)).toMatchObject({ status: 'not-found', settled: true });
  expect(await client.outcome(b)).toMatchObject({ status: 'not-found', settled: true });
  // b's fence pushed a's out: a's late packet is answered expired, never run.
  cluster.net.drop = () => false;
  const h = held.get(a)!;
  cluster.net.route(h.from, h.to, h.bytes);
  await cluster.settle();
  expect(statuses(cluster, a)).toEqual(['expired', 'expired', 'expired']);
  expect(runs(cluster)).toEqual([0, 0, 0]);
});

it('an id called again with other arguments while its earlier copy waits in the apply queue: every replica applies each copy as cast (FINDINGS 66)', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client({ timeoutMs: 5_000 });
  const id = client.newRequestId();
  // An async method keeps the apply queue busy: the first copy is delivered, not applied.
  const slow = client.invoke('ledger', 'slowAppend', ['s', 300]);
  await sleep(20);
  const first = client.invoke('ledger', 'append', ['a'], { requestId: id, timeoutMs: 60 });
  await expect(first).rejects.toBeInstanceOf(TimeoutError);
  // The contact casts the new issue beside the queued copy; it kept the new arguments decoded.
  const second = client.invoke('ledger', 'append', ['b'], { requestId: id, timeoutMs: 3_000 });
  await slow;
  expect(await second).toBe(2);
  await cluster.settle();
  expect(cluster.nodes.map((n) => n.instance.entries.join(','))).toEqual(['s,a', 's,a', 's,a']);
  expect(new Set(cluster.nodes.map((n) => n.replica.digest())).size).toBe(1);
});
