/**
 * Client sessions past `maxClients` (FINDINGS 113). A session can hold no outcome and still guard
 * exactly-once: it holds a fence (its client was told `not-found`, final), or only a floor while
 * its client waits on a handler call (applying that call settled the client's earlier requests;
 * the handler's outcome comes later). The table once ended such sessions first, whatever their
 * recency: a late copy of the fenced issue then ran, and a duplicate of a settled call ran a
 * second time. Each test here failed so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TroupeClient } from '../../runtime/rpc/client.js';
import { TimeoutError } from '../../runtime/rpc/errors.js';
import { OutcomeTable } from '../../runtime/rpc/outcomes.js';
import { decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger, QUICK_DETECTION, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const gid = groupIdOf('ledger');
const ok1 = {
  status: 'committed' as const,
  result: { ok: true as const, value: new Uint8Array([1]) },
  viewId: 1,
  at: 0,
};
const clientsOf = (t: OutcomeTable) => t.snapshot()[2].map(([c]) => c);

it('table: a fence-only session is pushed out first past maxClients, and its fenced request is then runnable', () => {
  const t = new OutcomeTable({ maxClients: 3 });
  const ok = { ok: true as const, value: new Uint8Array([1]) };
  // Two ordinary clients, each holding the outcome of its last call.
  for (const c of ['a', 'b']) {
    t.request(`${c}:1`, 0);
    t.record(`${c}:1`, { status: 'committed', result: ok, viewId: 1, at: 0 });
  }
  // The victim's request v:5 was fenced (its client was told not-found, final).
  t.fence('v:5', 3);
  expect(t.refuses('v:5', 3)).toBe(true);
  // One more client arrives (a fresh process, another call): 4 sessions > maxClients.
  t.request('d:1', 0);
  t.record('d:1', { status: 'committed', result: ok, viewId: 1, at: 0 });
  expect(t.refuses('v:5', 3) || t.get('v:5')?.status === 'expired').toBe(true);
});

it('replicas: a late copy of a request the client was told will never run, runs after one more client calls', async () => {
  cluster = await Cluster.of(3, { outcomes: { maxClients: 4 } });
  // Three other clients, each one call: three sessions holding an outcome.
  for (let i = 0; i < 3; i++) {
    const other = await cluster.client();
    await other.invoke('ledger', 'append', [`o${i}`]);
  }
  const victim: TroupeClient = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
  const id = `${victim.clientId}:7`;
  // The victim's call packets of `id` are held in the network (a straggler).
  let held: { from: string; to: string; bytes: Uint8Array } | undefined;
  cluster.net.drop = (from, to, bytes) => {
    const p = decodeClientPacket(bytes, gid).packet;
    const calls = p.kind === 'calls' ? p.calls : p.kind === 'call' ? [p] : [];
    if (!calls.some((c) => c.id === id)) return false;
    held ??= { from, to, bytes: bytes.slice() };
    return true;
  };
  await expect(
    victim.invoke('ledger', 'append', ['victim'], { requestId: id, timeoutMs: 300 }),
  ).rejects.toBeInstanceOf(TimeoutError);
  // The documented promise: never ran, and no copy sent before can run any more.
  expect(await victim.outcome(id)).toMatchObject({ status: 'not-found', settled: true });
  await cluster.settle();
  // One more client makes one call: 5 sessions past maxClients 4.
  const late = await cluster.client();
  await late.invoke('ledger', 'append', ['late']);
  await cluster.settle();
  // The straggling first packet reaches its contact now.
  cluster.net.drop = () => false;
  cluster.net.route(held!.from, held!.to, held!.bytes);
  await cluster.settle();
  const statuses = cluster.nodes.map((n) => n.replica.outcome(id).status);
  const entries = cluster.nodes.map((n) => n.instance.entries.includes('victim'));
  expect({ statuses, entries }).toEqual({
    statuses: ['not-found', 'not-found', 'not-found'],
    entries: [false, false, false],
  });
});

it('replicas: an active client whose only applied request is a pending handler call is pushed out first, and a duplicate of its settled call runs again', async () => {
  cluster = await Cluster.of(3, { outcomes: { maxClients: 4 } });
  for (let i = 0; i < 2; i++) {
    const other = await cluster.client();
    await other.invoke('ledger', 'append', [`o${i}`]);
  }
  const victim = await cluster.client();
  // Capture the call packet of the victim's first call (a duplicate of it will straggle).
  let dup: { from: string; to: string; bytes: Uint8Array } | undefined;
  const y = victim.newRequestId();
  cluster.net.drop = (from, to, bytes) => {
    const p = decodeClientPacket(bytes, gid).packet;
    const calls = p.kind === 'calls' ? p.calls : p.kind === 'call' ? [p] : [];
    if (calls.some((c) => c.id === y)) dup ??= { from, to, bytes: bytes.slice() };
    return false;
  };
  expect(await victim.invoke('ledger', 'append', ['y'], { requestId: y })).toBe(3);
  // Its next call is a long handler call: applying it settles y (its watermark passes y, whose
  // outcome is dropped) and records nothing yet, so the session holds no outcome while it runs.
  const report = victim.invoke('ledger', 'report', [600]);
  await sleep(100);
  await cluster.settle();
  // Two more clients call once each: 5 sessions past maxClients 4. The victim's session, the
  // only one holding no outcome, goes first although its client is waiting on a call.
  for (let i = 0; i < 2; i++) {
    const late = await cluster.client();
    await late.invoke('ledger', 'append', [`l${i}`]);
  }
  await cluster.settle();
  // The duplicate of y's call packet reaches its contact (a UDP duplicate, a delayed retransmission).
  cluster.net.route(dup!.from, dup!.to, dup!.bytes);
  await cluster.settle();
  await report;
  const ys = cluster.nodes.map((n) => n.instance.entries.filter((e) => e === 'y').length);
  expect(ys).toEqual([1, 1, 1]);
});

describe('a client session classified queried', () => {
  it('a new client whose first request is a pending handler call, then a fence on another counter, outlives a query flood', () => {
    const t = new OutcomeTable({ maxClients: 10 });
    // Client h: its first request h:1 is a @Handler call, applied (request()), no outcome yet.
    t.request('h:1', 0);
    // Its concurrent call h:2 was lost; the client asks outcome(h:2): fenced (not-found, final).
    t.fence('h:2', 1);
    expect(t.refuses('h:2', 1)).toBe(true);
    // A flood of outcome queries about invented clients (maxClients/2 = 5 of them suffice).
    for (let i = 0; i < 5; i++) t.fence(`flood${i}:1`, 1);
    // A request of it was applied: its session is a client's, not ended by the flood, and its
    // fence stands (it was ended, and a late copy of h:2 ran, while floor 0 and fences only
    // read as a session an outcome query made).
    expect(clientsOf(t)).toContain('h');
    expect(t.refuses('h:2', 1)).toBe(true);
  });

  it('the same client with its first request already recorded keeps its fence through the flood', () => {
    const t = new OutcomeTable({ maxClients: 10 });
    t.request('h:1', 0);
    t.record('h:1', ok1);
    t.fence('h:2', 1);
    for (let i = 0; i < 50; i++) t.fence(`flood${i}:1`, 1);
    expect(t.refuses('h:2', 1)).toBe(true);
  });
});

/** Random histories with many clients: a copy restored at random points must stay identical. */
describe('restore reproduces the live LRU orders (clients and queried)', () => {
  it('random histories, many clients, small maxClients', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const r = seededRandom(seed);
      const int = (n: number) => Math.floor(r() * n);
      const limits = { perClient: 1 + int(4), maxClients: 1 + int(8), sessionRequests: 5 + int(200) };
      const live = new OutcomeTable(limits);
      let copy = new OutcomeTable(limits);
      let hasCopy = false;
      const nClients = 3 + int(25);
      for (let step = 0; step < 400; step++) {
        const id = `c${int(nClients)}:${1 + int(6)}`;
        const op = int(12);
        const both = hasCopy ? [live, copy] : [live];
        if (op < 3) {
          const settled = r() < 0.4 ? undefined : r() < 0.5 ? 0 : int(6);
          const keep = r() < 0.2 ? [1 + int(6)] : undefined;
          for (const t of both) t.request(id, settled, keep);
        } else if (op < 6) {
          for (const t of both) t.record(id, { ...ok1, at: step });
        } else if (op < 10) {
          const upTo = 1 + int(3);
          for (const t of both) t.fence(id, upTo);
        } else {
          copy = new OutcomeTable(limits);
          copy.restore(structuredClone(live.snapshot()));
          hasCopy = true;
        }
        if (hasCopy) {
          const a = JSON.stringify(live.snapshot());
          const b = JSON.stringify(copy.snapshot());
          if (a !== b) expect(b, `seed ${seed} step ${step}`).toBe(a);
        }
      }
    }
  });
});
