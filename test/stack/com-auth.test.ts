// With a group key, only a sender's newest packet may move its address at a receiver: an
// authentic packet the sender sent to another member, replayed from elsewhere, fills a gap in
// this receiver's window (so it verifies and is no replay here) but must not redirect traffic.
// And the handshake: a sender is accepted only after answering a challenge, which sets its
// window's base and its clock's offset (skews of hours tolerated; nothing recorded before it
// accepted).
import { describe, expect, it } from 'vitest';
import { com } from '../../runtime/layers/com.js';
import { memberId } from '../../runtime/stack/member.js';
import type { Effect, LayerContext } from '../../runtime/stack/types.js';
import { ANSWERS_PER_SEC, PacketAuth } from '../../runtime/wire/auth.js';
import { decodeFixedHeader, Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

const KEY = 'k'.repeat(32);
const X = { node: 7, inc: 1 };
const SELF = memberId({ node: 9, inc: 1 });

const HOUR = 3_600_000;

function receiver(opts: { clock?: () => number; handshake?: boolean } = {}) {
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
  const layer = com.create(ctx, { key: KEY, ...opts });
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
  const transmits = () => out.filter((e) => e.kind === 'transmit') as { to: string; bytes: Uint8Array }[];
  return { layer, addressOfX, transmits, stats: () => layer.stats!() };
}
type Receiver = ReturnType<typeof receiver>;

let xSigner = new PacketAuth(KEY, { handshake: true });
/** X's packet: point to point to SELF (the tag names it), or a cast (`to` null). */
const fromX = (to: { node: number; inc: number } | null = { node: 9, inc: 1 }) =>
  xSigner.encode(
    {
      type: PacketType.Stack,
      flags: to ? Flags.Unicast : 0,
      groupId: groupIdOf('g'),
      sender: X,
      headers: [],
      payload: new Uint8Array(),
    },
    to ?? undefined,
  );
/** X's first packet reaches `z`, `z` challenges X, X answers: X is now known at `z`. */
function shake(z: Receiver): void {
  const n = z.transmits().length;
  z.layer.receive!(fromX(), '10.0.0.7:5000');
  const challenge = z.transmits()[n];
  expect(challenge?.to).toBe('10.0.0.7:5000');
  const answer = xSigner.handshake(challenge!.bytes, decodeFixedHeader(challenge!.bytes), X, groupIdOf('g'));
  z.layer.receive!(answer!, '10.0.0.7:5000');
  expect(z.stats()).toMatchObject({ hsLearnt: z.stats().hsLearnt, unknownSender: expect.any(Number) });
}

describe("com with a group key: who may move a sender's address", () => {
  it('an older authentic packet replayed from another address does not redirect traffic', () => {
    const z = receiver();
    shake(z);
    const toY = fromX(); // X to Y, captured
    const toZ = fromX(); // X to Z
    z.layer.receive!(toZ, '10.0.0.7:5000');
    z.layer.receive!(toY, '6.6.6.6:1234'); // verifies (a gap here), is no replay, but is older
    expect(z.addressOfX()).toBe('10.0.0.7:5000');
    expect(z.stats()).toMatchObject({ staleAddress: 1, replayed: 0, unauthenticated: 0 });
  });

  it('the newest packet from a new address moves it (the member moved)', () => {
    const z = receiver();
    shake(z);
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    z.layer.receive!(fromX(), '10.0.0.77:5000');
    expect(z.addressOfX()).toBe('10.0.0.77:5000');
  });
});

describe('com with a group key: the handshake', () => {
  it('a sender with its clock 3 h ahead is accepted after the handshake; without it, refused as stale', () => {
    xSigner = new PacketAuth(KEY, { handshake: true, clock: () => Date.now() + 3 * HOUR });
    const old = receiver({ handshake: false });
    old.layer.receive!(fromX(), '10.0.0.7:5000');
    expect(old.stats()).toMatchObject({ stale: 1, received: 0 });
    const z = receiver();
    shake(z);
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    z.layer.receive!(fromX(null), '10.0.0.7:5000');
    expect(z.stats()).toMatchObject({ received: 2, stale: 0, unknownSender: 1, hsLearnt: 1 });
  });

  it('a sender hours behind, whose clock then jumps by 2 h, is challenged again and accepted', () => {
    let skew = -5 * HOUR;
    xSigner = new PacketAuth(KEY, { handshake: true, clock: () => Date.now() + skew });
    const z = receiver();
    shake(z);
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    skew += 2 * HOUR;
    z.layer.receive!(fromX(), '10.0.0.7:5000'); // stale against the learnt offset: challenged
    const challenge = z.transmits().at(-1)!;
    const answer = xSigner.handshake(challenge.bytes, decodeFixedHeader(challenge.bytes), X, groupIdOf('g'));
    z.layer.receive!(answer!, '10.0.0.7:5000');
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    expect(z.stats()).toMatchObject({ received: 2, stale: 1, hsLearnt: 2 });
  });

  it('packets recorded before the handshake (casts, point to point) are refused, at any age', () => {
    xSigner = new PacketAuth(KEY, { handshake: true });
    const recorded = [fromX(null), fromX(), fromX(null)];
    const z = receiver();
    shake(z);
    for (const r of recorded) z.layer.receive!(r, '6.6.6.6:1234');
    expect(z.stats()).toMatchObject({ received: 0, replayed: 3 });
    z.layer.receive!(fromX(null), '10.0.0.7:5000');
    expect(z.stats()).toMatchObject({ received: 1 });
  });

  it('a replayed answer teaches nothing; a replayed challenge is answered at a bounded rate', () => {
    const at = Date.now();
    xSigner = new PacketAuth(KEY, { handshake: true, clock: () => at });
    const z = receiver();
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    const challenge = z.transmits().at(-1)!;
    const answer = xSigner.handshake(challenge.bytes, decodeFixedHeader(challenge.bytes), X, groupIdOf('g'))!;
    z.layer.receive!(answer, '10.0.0.7:5000');
    const restarted = receiver(); // never challenged X: the answer answers nothing here
    restarted.layer.receive!(answer, '6.6.6.6:1234');
    expect(restarted.stats()).toMatchObject({ hsLearnt: 0, hsRefused: 1 });
    z.layer.receive!(answer, '6.6.6.6:1234'); // its challenge is spent
    expect(z.stats()).toMatchObject({ hsLearnt: 1, hsRefused: 1 });
    let answers = 0;
    for (let i = 0; i < 3 * ANSWERS_PER_SEC; i++)
      if (xSigner.handshake(challenge.bytes, decodeFixedHeader(challenge.bytes), X, groupIdOf('g')))
        answers++;
    expect(answers).toBeGreaterThan(0);
    expect(answers).toBe(ANSWERS_PER_SEC - 1); // one token went to the first answer
  });

  it('a challenge is addressed: one replayed to another endpoint does not verify there', () => {
    xSigner = new PacketAuth(KEY, { handshake: true });
    const z = receiver();
    z.layer.receive!(fromX(), '10.0.0.7:5000');
    const challenge = z.transmits().at(-1)!;
    const other = { node: 8, inc: 1 };
    expect(() =>
      xSigner.handshake(challenge.bytes, decodeFixedHeader(challenge.bytes), other, groupIdOf('g')),
    ).toThrow(/does not verify/);
  });
});
