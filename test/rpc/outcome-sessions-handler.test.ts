/**
 * A client session that guards exactly-once while it looks like one an outcome query made
 * (fences only, floor 0, no outcome): a fresh client whose first request is a pending @Handler
 * call and which is then told `not-found` (final) about another request of its own. It was ended
 * by maxClients/2 later sessions of the queried kind (other clients that each lost a call and
 * asked about it), and with it its fence: the straggling copy then ran although its client was
 * told it never would (FINDINGS 113, review of 96c484e). A session now records that a request
 * of its client was applied. Floor 0 needs a client that numbers its ids from 1.
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

it.each([
  ['ids numbered from 1 (floor 0): classified queried', true],
  ["the client's own numbering (control: floor > 0)", false],
])(
  '%s: a client waiting on its first (handler) call, told not-found final about another, keeps its fence through later queried sessions',
  async (_n, fromOne) => {
    cluster = await Cluster.of(3, { outcomes: { maxClients: 4 } });
    const held = new Map<string, { from: string; to: string; bytes: Uint8Array }>();
    const drop = new Set<string>();
    cluster.net.drop = (from, to, bytes) => {
      const p = decodeClientPacket(bytes, gid).packet;
      const calls = p.kind === 'calls' ? p.calls : p.kind === 'call' ? [p] : [];
      const hit = calls.find((c) => drop.has(c.id));
      if (!hit) return false;
      if (!held.has(hit.id)) held.set(hit.id, { from, to, bytes: bytes.slice() });
      return true;
    };
    const victim = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
    // Its first request: a long handler call (applied, no outcome until it completes).
    // (Its ids are its own choice, `requestId`, numbered from 1: its watermark stays 0. With the
    // client's own numbering the first watermark is `first counter - 1` and the floor is > 0.)
    const report = victim.invoke(
      'ledger',
      'report',
      [2_500],
      fromOne ? { requestId: `${victim.clientId}:1` } : {},
    );
    await cluster.settle();
    // Its next call is lost on the way; it asks and is told not-found, final (fenced).
    const id = fromOne ? `${victim.clientId}:7` : victim.newRequestId();
    drop.add(id);
    await expect(
      victim.invoke('ledger', 'append', ['victim'], { requestId: id, timeoutMs: 300 }),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(await victim.outcome(id)).toMatchObject({ status: 'not-found', settled: true });
    await cluster.settle();
    // Two other fresh clients (maxClients/2) each lose their first call and ask about it.
    for (let i = 0; i < 2; i++) {
      const other = await cluster.client({ ...QUICK_DETECTION, timeoutMs: 5_000 });
      const oid = `${other.clientId}:3`;
      drop.add(oid);
      await expect(
        other.invoke('ledger', 'append', [`o${i}`], { requestId: oid, timeoutMs: 300 }),
      ).rejects.toBeInstanceOf(TimeoutError);
      expect(await other.outcome(oid)).toMatchObject({ status: 'not-found', settled: true });
      await cluster.settle();
    }
    // The straggling copy of the victim's call reaches its contact.
    drop.clear();
    const h = held.get(id)!;
    cluster.net.route(h.from, h.to, h.bytes);
    await cluster.settle();
    await report;
    const entries = cluster.nodes.map((n) => n.instance.entries.includes('victim'));
    const statuses = cluster.nodes.map((n) => n.replica.outcome(id).status);
    expect({ statuses, entries }).toEqual({
      statuses: ['not-found', 'not-found', 'not-found'],
      entries: [false, false, false],
    });
  },
);
