// Without a key, a client `hello` may come from a forged source address, and a member answered
// every hello with its whole view: 34 bytes drew 122 for 3 members, 1,706 for 64 (50 times), at
// any rate, towards whoever the forger named (FINDINGS 166's review, session 32). A member now
// answers a keyless hello with at most 3 times its bytes (QUIC's bound for an address not yet
// validated): a larger view gets a `pad` notice, and the client says hello again, padded.
import { afterEach, describe, expect, it } from 'vitest';
import { ClientLink } from '../../runtime/rpc/client-link.js';
import { connect } from '../../runtime/rpc/index.js';
import {
  type ClientPacket,
  COOKIE_BYTES,
  decodeClientPacket,
  encodeClientPacket,
  encodeHello,
  HELLO_AMPLIFICATION,
  HELLO_MIN_BYTES,
  type ViewPacket,
} from '../../runtime/rpc/protocol.js';
import { encodePacket, groupIdOf } from '../../runtime/wire/packet.js';
import { keylessBank, rawSocket, TestScope } from '../support/keyless-bank.js';
import { until } from '../support/until.js';

const EP = { node: 7, inc: 1 };

/** A member id and address for each of `n` members (ids as the stack writes them). */
function bigView(n: number): { members: string[]; addresses: string[] } {
  const members = Array.from({ length: n }, (_, i) => `${(0x0a000000 + i).toString(16).padStart(8, '0')}.1`);
  const addresses = members.map((_, i) => `10.0.${i >> 8}.${i & 255}:47000`);
  return { members, addresses };
}

describe('a member answering a keyless hello (ClientLink)', () => {
  function link(
    n: number,
    keyed: boolean,
  ): {
    link: ClientLink;
    sent: Array<{ to: string; bytes: Uint8Array }>;
    group: { view: { id: number; members: string[]; addresses: string[] } };
  } {
    const sent: Array<{ to: string; bytes: Uint8Array }> = [];
    const { members, addresses } = bigView(n);
    const group = {
      self: members[0]!,
      view: { id: 5, members, addresses },
      maxDatagram: 65_000,
      sendRaw: (to: string, bytes: Uint8Array) => sent.push({ to, bytes }),
    };
    const l = new ClientLink({
      group: () => group as never,
      groupId: () => 1,
      endpoint: () => EP,
      // Only its presence matters here: a keyed member verified the hello before it got here.
      auth: () => (keyed ? ({ encode: (packet: never) => encodePacket(packet) } as never) : undefined),
      clock: () => 0,
      observe: () => ({ event: () => {} }) as never,
      guard: (fn) => fn(),
      cookieSecret: () => new Uint8Array(16),
    });
    return { link: l, sent, group };
  }
  const read = (b: Uint8Array) => decodeClientPacket(b, 1).packet;

  it('answers a hello too small for its view with a pad notice no larger than the hello', () => {
    const { link: l, sent } = link(64, false);
    l.hello(
      '6.6.6.6:6',
      { kind: 'hello', viewId: 0, maxDatagram: 1_400 },
      34,
      l.proven('6.6.6.6:6', undefined),
    );
    expect(sent).toHaveLength(1);
    const notice = read(sent[0]!.bytes);
    expect(notice.kind).toBe('pad');
    expect(sent[0]!.bytes.length).toBeLessThanOrEqual(34);
    expect(l.padded).toBe(1);
    // Padded to what the notice asked: the view, within 3 times the hello.
    const need = (notice as Extract<ClientPacket, { kind: 'pad' }>).need;
    l.hello(
      '6.6.6.6:6',
      { kind: 'hello', viewId: 0, maxDatagram: 1_400 },
      need,
      l.proven('6.6.6.6:6', undefined),
    );
    expect(sent).toHaveLength(2);
    const view = read(sent[1]!.bytes) as ViewPacket;
    expect(view.kind).toBe('view');
    expect(view.members).toHaveLength(64);
    expect(sent[1]!.bytes.length).toBeLessThanOrEqual(HELLO_AMPLIFICATION * need);
    expect(sent[1]!.bytes.length).toBeGreaterThan(HELLO_AMPLIFICATION * (need - 1));
  });

  it('echoes a hello its own nonce or none, and a push the last proven hello’s', () => {
    const { link: l, sent, group } = link(3, false);
    const at = '6.6.6.6:6';
    l.touch(at);
    l.hello(at, { kind: 'hello', viewId: 0, maxDatagram: 1_400, nonce: 2 ** 52 + 7 }, HELLO_MIN_BYTES, true);
    expect((read(sent[0]!.bytes) as ViewPacket).echo).toBe(2 ** 52 + 7);
    // A client of an earlier release at that address says no nonce: its answer echoes none (it
    // would refuse an 8-field view), not the nonce kept from the last one.
    l.hello(at, { kind: 'hello', viewId: 0, maxDatagram: 1_400 }, HELLO_MIN_BYTES, true);
    expect((read(sent[1]!.bytes) as ViewPacket).echo).toBeUndefined();
    group.view = { ...group.view, id: 6 };
    l.pushView(30_000);
    expect((read(sent[2]!.bytes) as ViewPacket).echo).toBe(2 ** 52 + 7);
  });

  it('draws at most 3 times its bytes in all, view pushes included (helper-119)', () => {
    // The hello also made its (possibly forged) source address one of the member's clients
    // (Contact.onPacket touches it first), and the next view change pushed it the whole view.
    const { link: l, sent, group } = link(64, false);
    const victim = '6.6.6.6:6';
    l.touch(victim);
    l.hello(victim, { kind: 'hello', viewId: 0 }, 34, l.proven(victim, undefined));
    expect(read(sent[0]!.bytes).kind).toBe('pad');
    group.view = { ...group.view, id: 6 }; // a view change (Replica.onView → pushView)
    l.pushView(30_000);
    const toVictim = sent.filter((s) => s.to === victim).reduce((n, s) => n + s.bytes.length, 0);
    expect(toVictim).toBeLessThanOrEqual(3 * 34);
  });

  it('answers a small view whole, and a keyed member any hello whole', () => {
    const small = link(3, false);
    small.link.hello(
      '6.6.6.6:6',
      { kind: 'hello', viewId: 0, maxDatagram: 1_400 },
      HELLO_MIN_BYTES,
      small.link.proven('6.6.6.6:6', undefined),
    );
    expect(read(small.sent[0]!.bytes).kind).toBe('view');
    const keyed = link(64, true);
    keyed.link.hello(
      '6.6.6.6:6',
      { kind: 'hello', viewId: 0, maxDatagram: 1_400 },
      34,
      keyed.link.proven('6.6.6.6:6', undefined),
    );
    expect(read(keyed.sent[0]!.bytes).kind).toBe('view');
    expect(keyed.link.padded).toBe(0);
  });
});

describe('encodeHello', () => {
  it('pads a hello to the bytes asked, and the member reads it as the same hello', () => {
    const encode = (p: ClientPacket) => encodeClientPacket(p, 1, EP);
    const plain = encode({ kind: 'hello', viewId: 3, maxDatagram: 1_400 });
    const p = (b: Uint8Array) => decodeClientPacket(b, 1).packet as Extract<ClientPacket, { kind: 'hello' }>;
    for (const min of [0, plain.length, plain.length + 1, plain.length + 2, 200, 300, 4_000]) {
      const bytes = encodeHello({ kind: 'hello', viewId: 3, maxDatagram: 1_400 }, min, encode);
      expect(bytes.length).toBeGreaterThanOrEqual(min);
      expect(bytes.length).toBeLessThanOrEqual(Math.max(plain.length, min + 3));
      if (min > plain.length) expect(p(bytes).padding).toBeGreaterThan(0);
      expect(p(bytes)).toMatchObject({ kind: 'hello', viewId: 3, maxDatagram: 1_400 });
    }
  });
});

const scope = new TestScope();
afterEach(() => scope.reset());

describe('keyless hellos over real UDP', () => {
  it('a 3-member group answers an unpadded hello with a notice, and a client calls without one', async () => {
    const { seeds, replicas } = await keylessBank(scope, 3);
    const padded = () => replicas.map((r) => r.stats().hellosPadded);
    // The group's own client (keylessBank connects one) said hello padded: no notice.
    expect(padded()).toEqual([0, 0, 0]);

    // A forger's hello as an earlier release sent it (2 fields, ~30 bytes), source address its own
    // here (a forger would write the victim's): the answer is a notice, no larger than the hello.
    const gid = groupIdOf('bank');
    const forger = await rawSocket(scope);
    const bare = encodeClientPacket({ kind: 'hello', viewId: 0 }, gid, { node: 0x0606, inc: 6 });
    forger.send(seeds[0]!, bare);
    await until(() => forger.got.length >= 1, 5_000, 'an answer to the bare hello');
    const answer = decodeClientPacket(forger.got[0]!.bytes, gid).packet;
    expect(answer.kind).toBe('pad');
    expect(forger.got[0]!.bytes.length).toBeLessThanOrEqual(bare.length);
    expect(padded()).toEqual([1, 0, 0]);

    // A real client's hellos are padded from the first: it gets the view and calls at once.
    const client = await connect({ group: 'bank', seeds, insecure: true });
    scope.closers.push(() => client.close());
    await client.ready(3);
    expect(await client.invoke('bank', 'deposit', ['a', 5])).toBe(5);
    expect(padded()).toEqual([1, 0, 0]);
  }, 30_000);

  it('a client reaches a member whose view needs a padded hello, doubling its hello per notice', async () => {
    // A member of a 64-member view, played over a real socket: a notice for a short hello, the
    // view for one of at least a third of it.
    const gid = groupIdOf('bank');
    const member = await rawSocket(scope);
    const { members, addresses } = bigView(63);
    const view: ViewPacket = {
      kind: 'view',
      member: '0b000000.1',
      viewId: 9,
      members: ['0b000000.1', ...members],
      addresses: [member.address, ...addresses],
      maxDatagram: 65_000,
      // A keyless member's view: its cookie, and the echo of the hello's nonce (set per answer).
      cookie: new Uint8Array(COOKIE_BYTES),
      echo: 2 ** 52,
    };
    const ep = { node: 0x0b000000, inc: 1 };
    const viewBytes = encodeClientPacket(view, gid, ep);
    const need = Math.ceil(viewBytes.length / HELLO_AMPLIFICATION);
    const hellos: number[] = [];
    member.s.on('message', (bytes, r) => {
      const p = decodeClientPacket(bytes, gid).packet;
      if (p.kind !== 'hello') return;
      hellos.push(bytes.length);
      const to = `${r.address}:${r.port}`;
      const answer = encodeClientPacket({ ...view, echo: p.nonce ?? 0 }, gid, ep);
      expect(answer.length).toBe(viewBytes.length); // every nonce takes 5 bytes
      member.send(to, bytes.length >= need ? answer : encodeClientPacket({ kind: 'pad', need }, gid, ep));
    });
    const client = await connect({ group: 'bank', seeds: [member.address], insecure: true });
    scope.closers.push(() => client.close());
    await client.ready();
    expect(client.view?.members).toHaveLength(64);
    expect(viewBytes.length).toBeGreaterThan(1_700);
    // 200, 400 (each too small, answered with a notice), then what the notice asked (a padded
    // packet may come out a byte or two over: the headers of the bytes that hold the padding grow).
    expect(hellos).toHaveLength(3 + hellos.slice(3).length);
    const want = [HELLO_MIN_BYTES, 2 * HELLO_MIN_BYTES, need];
    for (const [i, w] of want.entries()) {
      expect(hellos[i]).toBeGreaterThanOrEqual(w);
      expect(hellos[i]).toBeLessThanOrEqual(w + 3);
    }
    // Its heartbeats stay padded for the view it heard (a third of it and a little more).
    await until(() => hellos.length >= 5, 5_000, 'two heartbeats');
    for (const h of hellos.slice(3)) {
      expect(h).toBeGreaterThanOrEqual(need);
      expect(h).toBeLessThanOrEqual(need + 40);
    }
  }, 20_000);
});
