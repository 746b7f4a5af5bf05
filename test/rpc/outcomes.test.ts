import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { OutcomeTable } from '../../runtime/rpc/outcomes.js';
import {
  type ClientPacket,
  ClientPacketDrop,
  decodeClientPacket,
  encodeClientPacket,
} from '../../runtime/rpc/protocol.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster } from './support/cluster.js';

const ok = (v: unknown) => ({ ok: true as const, value: encodeValue(v) });
const committed = (v: unknown, at: number) => ({
  status: 'committed' as const,
  result: ok(v),
  viewId: 1,
  at,
});

describe('outcome table bounds', () => {
  it('keeps the last N per client; older ids are expired, never unknown', () => {
    const t = new OutcomeTable({ perClient: 3 });
    for (let i = 1; i <= 5; i++) t.record(`c:${i}`, committed(i, 0));
    expect(t.get('c:1')).toStrictEqual({ status: 'expired' });
    expect(t.get('c:2')).toStrictEqual({ status: 'expired' });
    expect(t.get('c:3')?.status).toBe('committed');
    expect(t.get('c:6')).toBeUndefined();
    expect(t.size).toBe(3);
  });

  it('drops outcomes older than maxAgeMs of order time', () => {
    const t = new OutcomeTable({ maxAgeMs: 1000 });
    t.record('a:1', committed(1, 0));
    t.record('b:1', committed(1, 900));
    t.record('b:2', committed(2, 1200)); // sweep at 1200: a:1 is 1200 old
    expect(t.get('a:1')).toStrictEqual({ status: 'expired' });
    expect(t.get('b:1')?.status).toBe('committed');
  });

  it('forgets the least recently active client past maxClients', () => {
    const t = new OutcomeTable({ maxClients: 2 });
    t.record('a:1', committed(1, 0));
    t.record('b:1', committed(1, 1));
    t.record('a:2', committed(2, 2));
    t.record('c:1', committed(1, 3));
    expect(t.get('b:1')).toBeUndefined();
    expect(t.get('a:1')?.status).toBe('committed');
  });

  it('round-trips through snapshot/restore', () => {
    const t = new OutcomeTable({ perClient: 2 });
    for (let i = 1; i <= 3; i++) t.record(`c:${i}`, committed(`v${i}`, i));
    t.record('d:1', { status: 'interrupted', viewId: 4, at: 5 });
    t.record('e:1', {
      status: 'committed',
      result: { ok: false, error: { name: 'E', message: 'm', code: 'X' } },
      viewId: 2,
      at: 6,
    });
    const u = new OutcomeTable({ perClient: 2 });
    u.restore(t.snapshot());
    for (const id of ['c:1', 'c:2', 'c:3', 'd:1', 'e:1', 'f:1']) expect(u.get(id)).toStrictEqual(t.get(id));
  });

  it('a reissue older than the retained outcomes is refused, not run again', async () => {
    const cluster = await Cluster.of(2, { outcomes: { perClient: 2 } });
    const client = await cluster.client();
    for (let i = 0; i < 4; i++) await client.invoke('ledger', 'append', [`e${i}`]);
    const err = await client
      .invoke('ledger', 'append', ['e0'], { requestId: `${client.clientId}:1` })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTCOME_EXPIRED', requestId: `${client.clientId}:1` });
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.instance.runs).toBe(4);
    await cluster.close();
  });
});

describe('client protocol decoding', () => {
  const gid = groupIdOf('g');
  const sender = { node: 1, inc: 0 };

  it('round-trips every packet kind', () => {
    const packets = [
      { kind: 'call', id: 'c:1', service: 's', method: 'm', args: encodeValue([1]), mode: 'all' },
      { kind: 'outcome?', id: 'c:1' },
      { kind: 'hello', viewId: 3 },
      { kind: 'reply', id: 'c:1', member: 'm1', viewId: 3, members: ['m1'], result: ok(5) },
      { kind: 'accepted', id: 'c:1', viewId: 3, members: ['m1', 'm2'], ordered: true },
      {
        kind: 'reject',
        id: 'c:1',
        member: 'm1',
        result: { ok: false, error: { name: 'E', message: 'x', code: 'C', details: { a: 1 } } },
      },
      {
        kind: 'outcome',
        id: 'c:1',
        member: 'm1',
        status: 'committed',
        viewId: 3,
        members: ['m1'],
        result: ok(1),
        orderedIn: 2,
      },
      {
        kind: 'outcome',
        id: 'c:1',
        member: 'm1',
        status: 'not-found',
        viewId: 3,
        members: [],
        result: undefined,
        orderedIn: undefined,
      },
      { kind: 'view', member: 'm1', viewId: 3, members: ['m1'], addresses: ['a:1'] },
    ] satisfies ClientPacket[];
    for (const p of packets)
      expect(decodeClientPacket(encodeClientPacket(p, gid, sender), gid).packet).toStrictEqual(p);
  });

  it('refuses random mutations with ClientPacketDrop only', () => {
    const random = seededRandom(42);
    const base = encodeClientPacket(
      { kind: 'reply', id: 'c:1', member: 'm1', viewId: 3, members: ['m1'], result: ok({ a: [1, 'x'] }) },
      gid,
      sender,
    );
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const b = base.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
      try {
        decodeClientPacket(random() < 0.1 ? b.subarray(0, Math.floor(random() * b.length)) : b, gid);
      } catch (e) {
        expect(e).toBeInstanceOf(ClientPacketDrop);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(10_000);
  });

  it('refuses request ids that are not clientId:counter', () => {
    const bad = encodeClientPacket({ kind: 'outcome?', id: 'no-counter' }, gid, sender);
    expect(() => decodeClientPacket(bad, gid)).toThrow(ClientPacketDrop);
  });
});
