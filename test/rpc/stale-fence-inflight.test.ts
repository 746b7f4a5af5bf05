// Sweep finding (sim RPC seed 114900084, test/sim/FINDINGS.md item 177): applying a fence of a
// request made the contact forget the fence of it that it had cast itself and not yet seen
// applied, whatever the applied fence covered. A paused member applied its own older fence (of a
// lower issue) while its newer one was in flight, and the client's next outcome query made it
// cast the newer one again: two copies of one fence in the order, byte-identical when cast in
// the same millisecond, which the simulator's no-duplicates checker reports.
import { afterEach, expect, it } from 'vitest';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { encodeClientPacket } from '../../runtime/rpc/protocol.js';
import type { QoS } from '../../runtime/stack/types.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { until } from '../support/until.js';
import { Cluster, cookieHead, type Ledger } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

it('a fence of a lower issue applied does not make the contact cast its own, in flight, again', async () => {
  const c = await Cluster.of(2);
  cluster = c;
  const [a, b] = c.nodes as [NonNullable<(typeof c.nodes)[0]>, NonNullable<(typeof c.nodes)[0]>];
  const gid = groupIdOf(c.group.name);
  const from = '10.9.9.9:1';
  c.net.listen(from, () => {});
  const id = 'zz:5';
  const ask = (to: string, q: number, upTo: number) =>
    c.net.route(
      from,
      to,
      encodeClientPacket(
        { kind: 'outcome?', id, q, upTo },
        gid,
        { node: 99, inc: 1 },
        undefined,
        undefined,
        cookieHead(from),
      ),
    );
  // The fences of `id` that a hands to the group: the issue each covers.
  const fences: number[] = [];
  /** The highest issue of `id` a replica refuses (its outcome table's fence). */
  const fenced = (n: (typeof c.nodes)[0]) =>
    (n!.replica as unknown as { outcomes: { fenced(id: string): number } }).outcomes.fenced(id);
  const cast = a.member.cast.bind(a.member);
  a.member.cast = (payload: Uint8Array, qos?: QoS) => {
    const m = decodeGroupMsg(payload);
    if (m.kind === 'fence' && m.id === id) fences.push(m.upTo);
    cast(payload, qos);
  };
  // a fences issues up to 2; its cast is held back (in flight).
  c.group.holdCasts(a.member, true);
  ask(a.member.address, 1, 2);
  await until(() => fences.length === 1, 5_000, 'a casts its fence');
  // b, asked about issue 1 only (an earlier query of the client's), fences up to 1: applied at a.
  ask(b.member.address, 2, 1);
  await until(() => fenced(a) === 1, 5_000, 'b’s fence applied at a');
  // The client asks a again (well within recastMs): a's fence up to 2 is still in flight.
  ask(a.member.address, 3, 2);
  await c.net.settle();
  c.group.holdCasts(a.member, false);
  await c.settle();
  expect(fences).toStrictEqual([2]);
  for (const n of c.nodes) expect(fenced(n)).toBe(2);
});
