/**
 * The group's history in the view a member tells a client (docs/rpc.md, "When the whole group
 * loses its majority"; test/sim/FINDINGS.md item 224): asked for by the client's hello (`wants`),
 * sent only then, and read back whole in both the keyed and the keyless form.
 */
import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../runtime/rpc/codec.js';
import {
  type ClientPacket,
  decodeClientPacket,
  encodeClientPacket,
  WANTS_HISTORY,
} from '../../runtime/rpc/protocol.js';
import { DecodeError } from '../../runtime/wire/errors.js';
import { Cluster, cookieHead, rawClient } from './support/cluster.js';

const GID = 7;
const EP = { node: 1, inc: 1 };
const roundTrip = (p: ClientPacket) => decodeClientPacket(encodeClientPacket(p, GID, EP), GID).packet;

describe('the history field', () => {
  it('a keyed hello that wants it: 6 fields, no nonce', () => {
    expect(roundTrip({ kind: 'hello', viewId: 3, maxDatagram: 1_400, wants: WANTS_HISTORY })).toStrictEqual({
      kind: 'hello',
      viewId: 3,
      maxDatagram: 1_400,
      padding: 0,
      wants: WANTS_HISTORY,
    });
  });

  it('a keyless hello that wants it keeps its nonce', () => {
    const nonce = 2 ** 52 + 11;
    expect(roundTrip({ kind: 'hello', viewId: 0, maxDatagram: 1_400, nonce, wants: 1 })).toMatchObject({
      nonce,
      wants: 1,
    });
  });

  it('a keyed view with a history: no cookie, no echo', () => {
    const history = 2 ** 32 + 12345;
    const v = roundTrip({
      kind: 'view',
      member: 'a.1',
      viewId: 4,
      members: ['a.1'],
      addresses: ['h:1'],
      history,
    });
    expect(v).toStrictEqual({
      kind: 'view',
      member: 'a.1',
      viewId: 4,
      members: ['a.1'],
      addresses: ['h:1'],
      maxDatagram: 0,
      history,
    });
  });

  it('a keyless view with a history keeps its cookie and echo', () => {
    const cookie = new Uint8Array(8).fill(5);
    const v = roundTrip({
      kind: 'view',
      member: 'a.1',
      viewId: 4,
      members: ['a.1'],
      addresses: ['h:1'],
      maxDatagram: 1_400,
      cookie,
      echo: 2 ** 52 + 1,
      history: 9,
    });
    expect(v).toMatchObject({ cookie, echo: 2 ** 52 + 1, history: 9 });
  });

  it('a call with a history and no kept counters: 11 fields, read back without keep', () => {
    const p: ClientPacket = {
      kind: 'call',
      id: 'ab:3',
      service: 's',
      method: 'm',
      args: new Uint8Array([1]),
      mode: 'first',
      issue: 5,
      history: 2 ** 33 + 7,
    };
    expect(roundTrip(p)).toStrictEqual(p);
    expect(roundTrip({ ...p, keep: [1, 2] })).toStrictEqual({ ...p, keep: [1, 2] });
  });

  it('refuses a history that is not a non-negative integer', () => {
    for (const history of [-1, 1.5])
      expect(() =>
        roundTrip({ kind: 'view', member: 'a.1', viewId: 4, members: ['a.1'], addresses: ['h:1'], history }),
      ).toThrow(DecodeError);
  });
});

describe('a member tells the history', () => {
  it('only to a client whose hello asked for it, and the same from every member', async () => {
    const c = await Cluster.of(3);
    const { send, got, gid, from } = rawClient(c);
    const history = c.group.history;
    send(c.nodes[0]!.member.address, { kind: 'hello', viewId: 0, maxDatagram: 1_400 }, cookieHead(from));
    for (const n of c.nodes)
      send(
        n.member.address,
        { kind: 'hello', viewId: 0, maxDatagram: 1_400, wants: WANTS_HISTORY },
        cookieHead(from),
      );
    await c.settle();
    const views = got.map((b) => decodeClientPacket(b, gid).packet);
    expect(views.map((v) => v.kind)).toStrictEqual(['view', 'view', 'view', 'view']);
    expect(views[0]).not.toHaveProperty('history');
    expect(views.slice(1).map((v) => (v.kind === 'view' ? v.history : undefined))).toStrictEqual([
      history,
      history,
      history,
    ]);
  });
});

describe('a call first sent into another history', () => {
  it('is not ordered: the member counts it and tells its view; one of its own history runs', async () => {
    const c = await Cluster.of(3);
    const { send, got, gid, from } = rawClient(c);
    const to = c.nodes[0]!.member;
    const args = encodeValue(['x']);
    const call = (id: string, history: number): ClientPacket => ({
      kind: 'call',
      id,
      service: 'ledger',
      method: 'append',
      args,
      mode: 'first',
      to: to.self,
      issue: 1,
      history,
    });
    send(
      to.address,
      { kind: 'hello', viewId: 0, maxDatagram: 1_400, wants: WANTS_HISTORY },
      cookieHead(from),
    );
    await c.settle();
    got.length = 0;
    send(to.address, call('ab:1', c.group.history + 1), cookieHead(from));
    await c.settle();
    expect(c.nodes.map((n) => n.instance.entries)).toStrictEqual([[], [], []]);
    expect(c.nodes[0]!.replica.stats().otherHistory).toBe(1);
    const told = got.map((b) => decodeClientPacket(b, gid).packet);
    expect(told).toMatchObject([{ kind: 'view', history: c.group.history }]);
    send(to.address, call('ab:2', c.group.history), cookieHead(from));
    await c.settle();
    expect(c.nodes.map((n) => n.instance.entries)).toStrictEqual([['x'], ['x'], ['x']]);
  });
});
