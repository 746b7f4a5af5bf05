// Issue 13: a lone cast must not wait a turn of the event loop before the stack sees it; a burst
// still does (pacing), and a cast made from inside the member's own event handling (a delivery
// listener) still waits for the next turn instead of re-entering the core. The sequencer's
// Order for its own cast leaves in the same turn as the cast (pack).
import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import { MemoryHub, type MemoryTransport } from '../../runtime/transport/memory.js';
import { until } from '../support/until.js';

const te = new TextEncoder();
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(200).catch(() => {})));
  groups = [];
});

/** Counts the datagrams `t` sends that carry `marker` (insecure: payloads travel as they are);
 * `all` counts every datagram it sends. */
function carrying(t: MemoryTransport, marker: string, all?: { n: number }): () => number {
  const needle = Buffer.from(marker);
  let n = 0;
  const seen = (bytes: Uint8Array) => {
    if (all) all.n++;
    if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(needle)) n++;
  };
  const send = t.send.bind(t);
  const multicast = t.multicast.bind(t);
  t.send = (to, bytes) => {
    seen(bytes);
    send(to, bytes);
  };
  t.multicast = (bytes) => {
    seen(bytes);
    multicast(bytes);
  };
  return () => n;
}

async function members(hub: MemoryHub, name: string, n: number): Promise<[Group[], MemoryTransport[]]> {
  const addresses = Array.from({ length: n }, (_, i) => `${name}-${i}:1`);
  const transports = addresses.map((a) => hub.attach(a));
  const made = await Promise.all(
    transports.map((transport) => joinGroup(name, { seeds: addresses, transport, insecure: true })),
  );
  groups.push(...made);
  await until(() => made.every((g) => g.view?.members.length === n), 5_000, `a ${n}-member view`);
  return [made, transports];
}

async function pair(hub: MemoryHub, name: string): Promise<[Group, Group, MemoryTransport]> {
  const [made, transports] = await members(hub, name, 2);
  return [made[0]!, made[1]!, transports[0]!];
}

describe('Group.cast: turns of the event loop before a cast leaves', () => {
  it('a lone cast leaves in the turn it was made (pack flush only)', async () => {
    const [a, , ta] = await pair(new MemoryHub(), 'lone');
    const sent = carrying(ta, 'lone-cast-marker');
    // From a timer: outside any handling of the member's own events, as a client packet is.
    await new Promise<void>((r) =>
      setTimeout(() => {
        a.cast(te.encode('lone-cast-marker'));
        r();
      }, 1),
    );
    await nextTurn();
    expect(sent()).toBe(1);
  });

  it("the sequencer's own cast: its Order leaves in the same turn as the message", async () => {
    const [a, b] = await pair(new MemoryHub(), 'seqown');
    // The sequencer is the view's coordinator (rank 0).
    const [sequencer, other] = a.view!.members[0] === a.self ? [a, b] : [b, a];
    const got: string[] = [];
    other.on('deliver', (d) => got.push(new TextDecoder().decode(d.payload)));
    // A first cast: the other member learns where the sequencer's cast stream begins (a Sync
    // round trip, nak's random origins) before it delivers anything of it.
    sequencer.cast(te.encode('warm'));
    for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(got).toStrictEqual(['warm']);
    got.length = 0;
    await new Promise<void>((r) =>
      setTimeout(() => {
        sequencer.cast(te.encode('own'));
        r();
      }, 1),
    );
    // One turn: the flush sends the message and (its own copy back at the sequencer, stamped)
    // the Order; the in-process hub delivers both before the turn ends.
    await nextTurn();
    expect(got).toStrictEqual(['own']);
  });

  it("the sequencer's own cast and its Order travel in one datagram", async () => {
    const [made, transports] = await members(new MemoryHub(), 'seqpack', 3);
    const i = made.findIndex((g) => g.view!.members[0] === g.self);
    const sequencer = made[i]!;
    const all = { n: 0 };
    const marked = carrying(transports[i]!, 'seq-pack-marker', all);
    // A heartbeat or other timer's packet may share a turn with the cast now and then; the Order
    // is in every turn the cast is. Before, it always took a datagram of its own.
    let clean = false;
    for (let attempt = 0; attempt < 3 && !clean; attempt++) {
      all.n = 0;
      const before = marked();
      await new Promise<void>((r) =>
        setTimeout(() => {
          sequencer.cast(te.encode('seq-pack-marker'));
          r();
        }, 1),
      );
      await nextTurn();
      const withCast = marked() - before;
      expect(withCast).toBeGreaterThan(0);
      clean = all.n === withCast;
    }
    expect(clean).toBe(true);
  });

  it('a burst keeps its order, and casts from a delivery listener wait for the next turn', async () => {
    const [a, b] = await pair(new MemoryHub(), 'burst');
    const got: string[] = [];
    const td = new TextDecoder();
    b.on('deliver', (d) => got.push(td.decode(d.payload)));
    // A listener that casts on delivery: the cast is queued, not run inside the core's effects.
    a.on('deliver', (d) => {
      const s = td.decode(d.payload);
      if (s.startsWith('m') && Number(s.slice(1)) % 50 === 0) a.cast(te.encode(`echo-${s}`));
    });
    for (let i = 0; i < 200; i++) a.cast(te.encode(`m${i}`));
    await until(() => got.length === 204, 10_000, 'every cast and echo delivered');
    const plain = got.filter((s) => s.startsWith('m'));
    expect(plain).toStrictEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(got.filter((s) => s.startsWith('echo-')).sort()).toStrictEqual(
      ['echo-m0', 'echo-m100', 'echo-m150', 'echo-m50'].sort(),
    );
  });
});
