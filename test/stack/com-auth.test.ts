// With a group key, only a sender's newest packet may move its address at a receiver: an
// authentic packet the sender sent to another member, replayed from elsewhere, fills a gap in
// this receiver's window (so it verifies and is no replay here) but must not redirect traffic.
import { describe, expect, it } from 'vitest';
import { com } from '../../runtime/layers/com.js';
import { memberId } from '../../runtime/stack/member.js';
import type { Effect, LayerContext } from '../../runtime/stack/types.js';
import { PacketAuth } from '../../runtime/wire/auth.js';
import { Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

const KEY = 'k'.repeat(32);
const X = { node: 7, inc: 1 };
const SELF = memberId({ node: 9, inc: 1 });

function receiver() {
  const out: Effect[] = [];
  const ctx = {
    self: SELF,
    groupName: 'g',
    now: () => 0,
    random: Math.random,
    passDown: () => {},
    passUp: () => {},
    emit: (e: Effect) => out.push(e),
    defer: (f: () => void) => f(),
    setTimer: () => {},
    clearTimer: () => {},
    trace: () => {},
  } as unknown as LayerContext;
  const layer = com.create(ctx, { key: KEY });
  layer.down({
    type: 'view',
    view: { id: 1, members: [memberId(X), SELF], addresses: ['10.0.0.7:5000', '10.0.0.9:5000'] },
  });
  /** Where a unicast to X goes now. */
  const addressOfX = () => {
    layer.down({
      type: 'send',
      to: memberId(X),
      msg: { headers: [], payload: new Uint8Array() },
      qos: { order: 'fifo' },
    });
    const t = out.filter((e) => e.kind === 'transmit').at(-1) as { to: string } | undefined;
    return t?.to;
  };
  return { layer, addressOfX, stats: () => layer.stats!() };
}

const xSigner = new PacketAuth(KEY);
const fromX = () =>
  xSigner.encode(
    {
      type: PacketType.Stack,
      flags: Flags.Unicast,
      groupId: groupIdOf('g'),
      sender: X,
      headers: [],
      payload: new Uint8Array(),
    },
    { node: 9, inc: 1 }, // SELF: a point-to-point packet names its receiver in the tag
  );

describe("com with a group key: who may move a sender's address", () => {
  it('an older authentic packet replayed from another address does not redirect traffic', () => {
    const z = receiver();
    const toY = fromX(); // counter 0: X to Y, captured
    const toZ = fromX(); // counter 1: X to Z
    z.layer.receive!(toZ, '10.0.0.7:5000');
    z.layer.receive!(toY, '6.6.6.6:1234'); // verifies (a gap here), is no replay, but is older
    expect(z.addressOfX()).toBe('10.0.0.7:5000');
    expect(z.stats()).toMatchObject({ staleAddress: 1, replayed: 0, unauthenticated: 0 });
  });

  it('the newest packet from a new address moves it (the member moved)', () => {
    const z = receiver();
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    z.layer.receive!(fromX(), '10.0.0.77:5000');
    expect(z.addressOfX()).toBe('10.0.0.77:5000');
  });
});
