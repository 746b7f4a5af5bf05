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
import { DecodeError } from '../../runtime/wire/errors.js';
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
  it('drops what the client settled, and nothing it did not, however many calls come later', () => {
    const t = new OutcomeTable();
    t.request('c:1', 0);
    t.record('c:1', committed(1, 0));
    for (let i = 3; i <= 2000; i++) {
      t.request(`c:${i}`, 1); // c:2 stays unsettled: the watermark stops below it
      t.record(`c:${i}`, committed(i, 0));
    }
    expect(t.get('c:1')).toStrictEqual({ status: 'expired' });
    expect(t.get('c:2')).toBeUndefined();
    expect(t.get('c:3')?.status).toBe('committed');
    t.request('c:2001', 2000);
    expect(t.get('c:1999')).toStrictEqual({ status: 'expired' });
    expect(t.size).toBe(0);
  });

  it('ignores order time entirely: outcomes recorded hours apart stay', () => {
    const t = new OutcomeTable();
    t.request('a:1', 0);
    t.record('a:1', committed(1, 0));
    t.request('b:1', 0);
    t.record('b:1', committed(1, 10 * 3_600_000));
    expect(t.get('a:1')?.status).toBe('committed');
  });

  it('caps one session at perClient outcomes above its watermark (a client that never settles)', () => {
    const t = new OutcomeTable({ perClient: 3 });
    for (let i = 1; i <= 5; i++) {
      t.request(`c:${i}`, 0);
      t.record(`c:${i}`, committed(i, 0));
    }
    expect(t.get('c:2')).toStrictEqual({ status: 'expired' });
    expect(t.get('c:3')?.status).toBe('committed');
    expect(t.size).toBe(3);
  });

  it('ends a session once sessionRequests requests were applied after its last one', () => {
    const t = new OutcomeTable({ sessionRequests: 16 });
    t.request('gone:1', 0);
    t.record('gone:1', committed(1, 0));
    for (let i = 1; i <= 16; i++) t.request(`live:${i}`, i - 1);
    expect(t.get('gone:1')?.status).toBe('committed'); // 16 later: still within the bound
    for (let i = 17; i <= 40; i++) t.request(`live:${i}`, i - 1);
    expect(t.get('gone:1')).toBeUndefined();
    expect(t.sessions).toBe(1);
  });

  it('forgets the least recently active session past maxClients', () => {
    const t = new OutcomeTable({ maxClients: 2 });
    t.request('a:1', 0);
    t.record('a:1', committed(1, 0));
    t.request('b:1', 0);
    t.record('b:1', committed(1, 1));
    t.request('a:2', 0);
    t.request('c:1', 0);
    expect(t.get('b:1')).toBeUndefined();
    expect(t.get('a:1')?.status).toBe('committed');
  });

  it('round-trips through snapshot/restore, and refuses a malformed snapshot with a DecodeError', () => {
    const t = new OutcomeTable({ perClient: 2 });
    for (let i = 1; i <= 3; i++) {
      t.request(`c:${i}`, 0);
      t.record(`c:${i}`, committed(`v${i}`, i));
    }
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
    expect(u.snapshot()).toStrictEqual(t.snapshot());
    for (const bad of [null, [1, 2], [0, 0, [['c', -1, 0, []]]], [0, 0, [['c', 0, 0, [[1, [7, 1, 1]]]]]]])
      expect(() => u.restore(bad as never)).toThrow(DecodeError);
    expect(u.get('c:3')?.status).toBe('committed'); // unchanged by the refused ones
  });

  it('a request the client settled is refused as expired when it comes again, never run again', async () => {
    const cluster = await Cluster.of(2);
    const client = await cluster.client();
    const first = `${client.clientId}:1`;
    expect(await client.invoke('ledger', 'append', ['e0'], { requestId: first })).toBe(1);
    // The next call carries a watermark past it: the group drops its outcome.
    await client.invoke('ledger', 'append', ['e1']);
    const err = await client
      .invoke('ledger', 'append', ['e0'], { requestId: first })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTCOME_EXPIRED', requestId: first });
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.instance.runs).toBe(2);
    await cluster.close();
  });
});

describe('client protocol decoding', () => {
  const gid = groupIdOf('g');
  const sender = { node: 1, inc: 0 };

  it('round-trips every packet kind', () => {
    const packets = [
      { kind: 'call', id: 'c:1', service: 's', method: 'm', args: encodeValue([1]), mode: 'all' },
      {
        kind: 'call',
        id: 'c:1',
        service: 's',
        method: 'm',
        args: encodeValue([1]),
        mode: 'first',
        to: 'x',
        settled: 9,
        issue: 3,
      },
      {
        kind: 'call',
        id: 'c:12',
        service: 's',
        method: 'm',
        args: encodeValue([1]),
        mode: 'first',
        to: 'x',
        settled: 11,
        keep: [2, 7],
        issue: 3,
      },
      { kind: 'outcome?', id: 'c:1' },
      { kind: 'outcome?', id: 'c:1', fence: ['m2'] },
      { kind: 'outcome?', id: 'c:1', fence: ['m2'], q: 17 },
      { kind: 'outcome?', id: 'c:1', q: 17, upTo: 2 },
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
        fenced: [],
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
        fenced: ['m2'],
      },
      {
        kind: 'outcome',
        id: 'c:1',
        member: 'm1',
        status: 'pending',
        viewId: 3,
        members: ['m1'],
        result: undefined,
        orderedIn: 3,
        fenced: [],
        q: 17,
      },
      {
        kind: 'outcome',
        id: 'c:1',
        member: 'm1',
        status: 'not-found',
        viewId: 3,
        members: ['m1'],
        result: undefined,
        orderedIn: undefined,
        fenced: [],
        q: 17,
        fencedUpTo: 2,
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

  it('refuses an outcome query number that is not a non-negative integer', () => {
    for (const q of [-1, 1.5, 'x'] as never[]) {
      const bad = encodeClientPacket({ kind: 'outcome?', id: 'c:1', q }, gid, sender);
      expect(() => decodeClientPacket(bad, gid)).toThrow(ClientPacketDrop);
    }
  });

  it('refuses request ids that are not clientId:counter', () => {
    const bad = encodeClientPacket({ kind: 'outcome?', id: 'no-counter' }, gid, sender);
    expect(() => decodeClientPacket(bad, gid)).toThrow(ClientPacketDrop);
  });
});
