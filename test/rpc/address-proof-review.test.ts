// helper-122's review of b965315 (keyless address proof): each test here showed a way the rule
// still let a forged source address draw more than 3 times its bytes, or slowed a legitimate
// client (each failed on b965315; docs/rpc.md "Cookies without a key").
import { afterEach, describe, expect, it } from 'vitest';
import type { IdlFile } from '../../idl/model.js';
import { createValidator, type RequestValidator } from '../../idl/validate.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { Ordered, Query, Service } from '../../runtime/rpc/decorators.js';
import {
  type ClientPacket,
  decodeClientPacket,
  encodeClientPacket,
  encodeHello,
  HELLO_AMPLIFICATION,
} from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import {
  CLUSTER_COOKIE_SECRET,
  Cluster,
  cookieHead,
  Ledger,
  m,
  rawClient,
  validateLedger,
} from './support/cluster.js';

const EP = { node: 0x0606, inc: 6 };

let cluster: Cluster<Ledger> | undefined;
let peekCluster: Cluster<object> | undefined;
afterEach(async () => {
  await cluster?.close();
  await peekCluster?.close();
  cluster = undefined;
  peekCluster = undefined;
});

async function nAndRaw(n: number, from = '10.6.6.6:6') {
  const c = await Cluster.of(n);
  cluster = c;
  return { c, ...rawClient(c, from) };
}

/** Three replicas of `make()` in group `name` (kept for `afterEach`), in one view. */
async function three<T extends object>(
  make: () => T,
  validate: RequestValidator,
  name: string,
): Promise<Cluster<T>> {
  const c = new Cluster(make, { cookieSecret: CLUSTER_COOKIE_SECRET, validate }, name);
  peekCluster = c as Cluster<object>;
  for (let i = 0; i < 3; i++) c.add();
  await c.settle();
  return c;
}

describe('review34: forged source addresses', () => {
  it('one forged hello the view fits draws a view push at every later view change (over 3x in total)', async () => {
    const { c, gid, sendRaw, kinds, received, sent } = await nAndRaw(3);
    // A 3-member view is about 150 bytes: a 70-byte hello (padded) is answered with it.
    const hello = encodeHello({ kind: 'hello', viewId: 0 }, 70, (q) => encodeClientPacket(q, gid, EP));
    sendRaw(c.nodes[0]!.member.address, hello);
    await c.settle();
    expect(kinds()).toEqual(['view']);
    // The group then changes, as groups do: members join (and the view grows).
    for (let i = 0; i < 4; i++) {
      c.add();
      await c.settle();
    }
    const k = kinds();
    console.log(
      `forged hello ${sent()} bytes drew ${k.length} packets (${k.join(',')}), ${received()} bytes`,
    );
    expect(received()).toBeLessThanOrEqual(HELLO_AMPLIFICATION * sent());
  });
});

describe('review34: forged hellos, many addresses', () => {
  it('1,000 forged hellos (one per victim port) make each view change push 1,000 views, each over 3x its hello', async () => {
    const c = await Cluster.of(3);
    cluster = c;
    const gid = groupIdOf(c.group.name);
    const hello = encodeHello({ kind: 'hello', viewId: 0 }, 70, (q) => encodeClientPacket(q, gid, EP));
    let received = 0;
    const ports = 1_000;
    for (let i = 0; i < ports; i++) {
      const from = `10.6.6.6:${10_000 + i}`;
      c.net.listen(from, (b) => {
        received += b.length;
      });
      c.net.route(from, c.nodes[0]!.member.address, hello);
    }
    await c.settle();
    const sent = ports * hello.length;
    const answered = received;
    // Views change (here: two members join, as a host of the attacker's own may join and leave).
    for (let i = 0; i < 2; i++) {
      c.add();
      await c.settle();
    }
    const pushed = received - answered;
    console.log(
      `${ports} forged hellos, ${sent} bytes: answered ${answered} bytes, then 2 view changes pushed ${pushed} more (${(received / sent).toFixed(1)}x in all)`,
    );
    expect(received).toBeLessThanOrEqual(HELLO_AMPLIFICATION * sent);
  });
});

describe('review34: forged cookie notices (off-path, no request id needed)', () => {
  /**
   * A keyless client with the library's retransmitMs (100) and heartbeatMs (250) calls while an off-path attacker sends
   * `perTick` forged cookie notices every `everyMs` ms in its contact's name: the client keeps the
   * forged cookie (CookieJar.take replaces it, news or not), so every attempt carries a wrong one.
   */
  async function underForgedNotices(everyMs: number, perTick: number, kind: 'cookie' | 'view' = 'cookie') {
    const c = await Cluster.of(3);
    cluster = c;
    const gid = groupIdOf(c.group.name);
    const client = await c.client({ retransmitMs: 100, heartbeatMs: 250 }); // the library's defaults
    await client.invoke('ledger', 'append', ['before']);
    const contact = (client as unknown as { membership: { contact: { address: string } } }).membership
      .contact;
    const clientAddr = '192.168.0.1:5000';
    // An off-path attacker knows the client's address, the contact's, and the group's name: a
    // notice names no request, so it needs nothing else (request ids are random).
    let forged = 0;
    let forgedBytes = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) {
        const cookie = Uint8Array.from({ length: 8 }, () => (Math.random() * 256) | 0);
        // A view the client does not trust (it names a member at another address): the jar takes
        // its cookie before the view is judged.
        const p: ClientPacket =
          kind === 'cookie'
            ? { kind: 'cookie', cookie }
            : { kind: 'view', member: 'x', viewId: 0, members: ['x'], addresses: ['1.2.3.4:5'], cookie };
        const bogus = encodeClientPacket(p, gid, EP);
        forged++;
        forgedBytes += bogus.length;
        c.net.route(contact.address, clientAddr, bogus);
      }
    }, everyMs);
    try {
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      const n0 = forged;
      const b0 = forgedBytes;
      const outcome = await client.invoke('ledger', 'append', ['during'], { timeoutMs: 3_000 }).then(
        () => 'done',
        (e: Error) => `${e.name}: ${e.message}`,
      );
      const ms = Math.round(performance.now() - started);
      console.log(`${forged - n0} forged notices (${forgedBytes - b0} bytes) in ${ms} ms: ${outcome}`);
      return outcome;
    } finally {
      clearInterval(timer);
    }
  }

  it("forged cookie notices, 200 a second (8 KB/s) in the contact's name, keep a keyless client from completing a call", async () => {
    expect(await underForgedNotices(5, 1)).toBe('done');
  }, 20_000);

  it('one forged notice, sent once: how long the next call waits', async () => {
    const c = await Cluster.of(3);
    cluster = c;
    const gid = groupIdOf(c.group.name);
    const client = await c.client({ retransmitMs: 100, heartbeatMs: 250 });
    await client.invoke('ledger', 'append', ['before']);
    const contact = (client as unknown as { membership: { contact: { address: string } } }).membership
      .contact;
    // Long after the last cookie news (the jar's gap is retransmitMs).
    await new Promise((r) => setTimeout(r, 150));
    const bogus = encodeClientPacket({ kind: 'cookie', cookie: new Uint8Array(8).fill(9) }, gid, EP);
    c.net.route(contact.address, '192.168.0.1:5000', bogus);
    await c.net.settle();
    const started = performance.now();
    await client.invoke('ledger', 'append', ['after']);
    const ms = Math.round(performance.now() - started);
    console.log(`one forged notice: the next call took ${ms} ms`);
    expect(ms).toBeLessThan(50);
  }, 20_000);

  it('so do forged views the client does not even trust, 500 a second (their cookie is taken before the view is judged)', async () => {
    expect(await underForgedNotices(2, 1, 'view')).toBe('done');
  }, 20_000);
});

/** A service with an unordered query that answers later (an accepted goes before its reply). */
@Service('peek')
class Peek {
  n = 0;
  @Ordered()
  add(): number {
    return ++this.n;
  }
  /** Ordered, answering later with a 2,000-byte result (the accepted goes first). */
  @Ordered()
  async big(ms: number): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    return 'y'.repeat(2_000);
  }
  @Query()
  async slowCount(ms: number): Promise<number> {
    await new Promise((r) => setTimeout(r, ms));
    return this.n;
  }
  snapshot(): number {
    return this.n;
  }
  restore(n: number): void {
    this.n = n;
  }
}
const validatePeek = createValidator(
  {
    package: 'peek',
    version: 1,
    types: [],
    errors: [],
    services: [
      {
        name: 'peek',
        methods: [
          m('add', 'ordered', []),
          m('big', 'ordered', [{ name: 'ms', type: { kind: 'prim', name: 'f64' }, optional: false }]),
          m('slowCount', 'query', [{ name: 'ms', type: { kind: 'prim', name: 'f64' }, optional: false }]),
        ],
      },
    ],
  } as IdlFile,
  'peek',
);

describe('review34: a legitimate keyless client slowed', () => {
  it('an all-mode query whose reply from one member was lost: the retransmission to that member is refused for want of a cookie', async () => {
    const c = await three(() => new Peek(), validatePeek, 'peek');
    const gid = groupIdOf(c.group.name);
    const client = await c.client({ retransmitMs: 100, heartbeatMs: 250 });
    await client.invoke('peek', 'add', []);
    const b = c.nodes[1]!;
    const clientAddr = '192.168.0.1:5000';
    // The first reply b sends the client is lost (one datagram).
    let lost = false;
    c.net.drop = (from, to, bytes) => {
      if (lost || from !== b.member.address || to !== clientAddr) return false;
      if (decodeClientPacket(bytes, gid).packet.kind !== 'reply') return false;
      lost = true;
      return true;
    };
    const started = performance.now();
    await client.invoke('peek', 'slowCount', [5], { reply: 'all' });
    const ms = Math.round(performance.now() - started);
    const toB = c.net.log.filter((e) => e.from === clientAddr && e.to === b.member.address).length;
    console.log(
      `all-mode query with one lost reply took ${ms} ms; b's cookie notices ${b.replica.stats().cookieNotices}; packets to b ${toB}`,
    );
    expect(lost).toBe(true);
    // The client's retransmission to b (a call, mode first, to b) carried no cookie: b refused it,
    // and the client sent it again only at its next, doubled, retransmission.
    expect(b.replica.stats().cookieNotices ?? 0).toBe(0); // passes before b965315 (199 ms there)
  }, 20_000);
});

describe('review34: refusal notices', () => {
  it("a 24-byte forged client packet of another group draws no refusal over 3 times its bytes (the keyless group's name)", async () => {
    // A plausible deployment name; nothing bounds a group name's length.
    const name = 'payments-ledger-production-eu-west-1';
    const c = await three(() => new Ledger(), validateLedger, name);
    const from = '10.6.6.6:6';
    const got: Uint8Array[] = [];
    c.net.listen(from, (b) => got.push(b));
    // The fixed header alone (a real client packet's first 20 bytes, group 7, and a body of 0 bytes).
    const forged = new Uint8Array(24);
    const real = encodeClientPacket({ kind: 'hello', viewId: 0 }, 7, EP);
    forged.set(real.subarray(0, 20));
    new DataView(forged.buffer).setUint32(20, 0);
    c.net.route(from, c.nodes[0]!.member.address, forged);
    await c.settle();
    console.log(`a ${forged.length}-byte foreign packet drew ${got.map((b) => b.length).join(', ')} bytes`);
    // No refusal (82 bytes): more than 3 times the packet. A client's hello is larger, and draws one.
    expect(got).toHaveLength(0);
    const hello = encodeHello({ kind: 'hello', viewId: 0 }, 200, (q) => encodeClientPacket(q, 7, EP));
    c.net.route(from, c.nodes[0]!.member.address, hello);
    await c.settle();
    expect(got).toHaveLength(1);
    expect(got[0]!.length).toBeLessThanOrEqual(HELLO_AMPLIFICATION * hello.length);
  });
});

describe('review34: what an unproven packet still puts in the order', () => {
  it('a forged outcome? (no cookie) with upTo still makes the contact cast a fence into the total order', async () => {
    const c = await Cluster.of(3);
    cluster = c;
    const gid = groupIdOf(c.group.name);
    const from = '10.6.6.6:6';
    c.net.listen(from, () => {});
    // 50 forged 40-byte queries, each about another request id: 50 ordered casts, applied by all.
    for (let i = 1; i <= 50; i++)
      c.net.route(
        from,
        c.nodes[0]!.member.address,
        encodeClientPacket({ kind: 'outcome?', id: `f${i}:1`, upTo: 1 }, gid, EP),
      );
    await c.settle();
    const fenced = c.nodes.map(
      (n) =>
        [...Array(50).keys()].filter(
          (i) =>
            (n.replica as unknown as { outcomes: { fenced(id: string): number } }).outcomes.fenced(
              `f${i + 1}:1`,
            ) > 0,
        ).length,
    );
    console.log(`fences applied per replica from 50 unproven queries: ${fenced.join(', ')}`);
    expect(fenced).toEqual([0, 0, 0]);
  });
});

describe('review34: answers by another member than the contact', () => {
  it("a first-mode call whose contact's answers are lost: the outcome queries to the other members draw notices (a large result)", async () => {
    const c = await three(() => new Peek(), validatePeek, 'peek');
    const gid = groupIdOf(c.group.name);
    const client = await c.client({ retransmitMs: 100, heartbeatMs: 250 });
    await client.invoke('peek', 'add', []);
    const a = c.nodes[0]!;
    const clientAddr = '192.168.0.1:5000';
    // Every answer the contact sends the client is lost (one bad path); views and accepted pass.
    c.net.drop = (from, to, bytes) => {
      if (from !== a.member.address || to !== clientAddr) return false;
      const k = decodeClientPacket(bytes, gid).packet.kind;
      return k === 'reply' || k === 'replies' || k === 'outcome';
    };
    const started = performance.now();
    // Accepted at once, answered 20 ms later with 2,000 bytes: a committed outcome over 600 bytes.
    const outcome = await client.invoke('peek', 'big', [20]).then(
      (v) => `ok ${(v as string).length}`,
      (e: Error) => e.name,
    );
    const ms = Math.round(performance.now() - started);
    const notices = c.nodes.map((n) => n.replica.stats().cookieNotices ?? 0);
    console.log(
      `answered by another member after ${ms} ms (${outcome}); cookie notices ${notices.join(', ')}`,
    );
    expect(outcome).toBe('ok 2000');
    // Before b965315: answered by the first other member asked, in about 400 ms, no notice.
    expect(notices).toEqual([0, 0, 0]);
    expect(ms).toBeLessThan(1_500);
  }, 20_000);
});

describe('review34: what the comments promise of a notice', () => {
  it('a cookie notice is never larger than the packet it answers: a bare outcome? gets none', async () => {
    const { c, send, got, kinds, from } = await nAndRaw(3);
    const a = c.nodes[0]!;
    send(
      a.member.address,
      {
        kind: 'call',
        id: 'ff:1',
        service: 'ledger',
        method: 'refuse',
        args: encodeValue(['y'.repeat(2_000)]),
        mode: 'first',
      },
      cookieHead(from),
    );
    await c.settle();
    got.length = 0;
    // A bare query is smaller than a notice: it gets none.
    const bytes = send(a.member.address, { kind: 'outcome?', id: 'ff:1' });
    await c.settle();
    expect(got).toEqual([]);
    // One a few bytes larger (as a client's are: padded, or with a stale cookie) gets the notice.
    const padded = send(a.member.address, { kind: 'outcome?', id: 'ff:1' }, { pad: 10 });
    await c.settle();
    console.log(
      `a ${bytes}-byte outcome? drew nothing, a ${padded}-byte one a ${got[0]?.length}-byte ${kinds()[0]}`,
    );
    expect(kinds()).toEqual(['cookie']);
    expect(got[0]!.length).toBeLessThanOrEqual(padded);
  });
});

describe('review34: what an unproven hello still changes for a proven client', () => {
  it("forged hellos in a client's name saying 1,200-byte datagrams turn its 2 KB results into REPLY_TOO_LARGE errors", async () => {
    const c = await three(() => new Peek(), validatePeek, 'peek');
    const gid = groupIdOf(c.group.name);
    const client = await c.client({ retransmitMs: 100, heartbeatMs: 250 });
    expect(((await client.invoke('peek', 'big', [1])) as string).length).toBe(2_000);
    const contact = c.nodes[0]!.member.address;
    const clientAddr = '192.168.0.1:5000';
    // Off-path: a bare hello (no cookie, 34 bytes) from the client's address, every 5 ms.
    const forged = encodeClientPacket({ kind: 'hello', viewId: 0, maxDatagram: 1_200 }, gid, EP);
    const timer = setInterval(() => c.net.route(clientAddr, contact, forged), 5);
    try {
      await new Promise((r) => setTimeout(r, 50));
      const outcome = await client.invoke('peek', 'big', [1]).then(
        (v) => `ok ${(v as string).length}`,
        (e: Error & { code?: string }) => `${e.name} ${e.code}`,
      );
      console.log(`with forged ${forged.length}-byte hellos: ${outcome}`);
      expect(outcome).toBe('ok 2000');
    } finally {
      clearInterval(timer);
    }
  }, 20_000);
});

describe('review34: the client as a reflector towards a member', () => {
  it("one forged 40-byte notice in a member's name makes a client resend every call waiting on it there", async () => {
    const c = await Cluster.of(3);
    cluster = c;
    const gid = groupIdOf(c.group.name);
    // Retransmissions far apart, so that none falls in the window measured below.
    const client = await c.client({ retransmitMs: 5_000, heartbeatMs: 250, contactTimeoutMs: 10_000 });
    await client.invoke('ledger', 'append', ['x']);
    const a = c.nodes[0]!;
    const clientAddr = '192.168.0.1:5000';
    // The contact is slow to order (its casts held, as in a long flush): 50 calls of 1 KB wait unaccepted.
    c.group.holdCasts(a.member, true);
    const pending = Array.from({ length: 50 }, (_, i) =>
      client.invoke('ledger', 'append', [`${i}`.padEnd(1_000, '.')], { timeoutMs: 5_000 }).catch(() => {}),
    );
    await c.net.settle();
    await new Promise((r) => setTimeout(r, 150));
    const before = c.net.log.length;
    const bogus = encodeClientPacket({ kind: 'cookie', cookie: new Uint8Array(8).fill(3) }, gid, EP);
    c.net.route(a.member.address, clientAddr, bogus);
    await c.net.settle();
    const resent = c.net.log
      .slice(before + 1)
      .filter((e) => e.from === clientAddr && e.to === a.member.address)
      .reduce((n, e) => n + e.bytes.length, 0);
    console.log(
      `one forged ${bogus.length}-byte notice: the client sent its contact ${resent} bytes at once`,
    );
    c.group.holdCasts(a.member, false);
    await Promise.all(pending);
    expect(resent).toBeLessThanOrEqual(HELLO_AMPLIFICATION * bogus.length);
  }, 20_000);
});

describe('review34: pre-existing, found on the way', () => {
  it("an all-mode query answered at once, one member's reply lost: the client asks outcome? (the query is taken as ordered) until its deadline", async () => {
    const c = await Cluster.of(3);
    cluster = c;
    const gid = groupIdOf(c.group.name);
    const client = await c.client({ retransmitMs: 100, heartbeatMs: 250, timeoutMs: 3_000 });
    await client.invoke('ledger', 'append', ['x']);
    const b = c.nodes[1]!;
    let lost = false;
    c.net.drop = (from, to, bytes) => {
      if (lost || from !== b.member.address || to !== '192.168.0.1:5000') return false;
      if (decodeClientPacket(bytes, gid).packet.kind !== 'reply') return false;
      lost = true;
      return true;
    };
    const started = performance.now();
    // The contact's `accepted` (unordered) is dropped at its turn end because its reply goes with
    // it (ClientLink.flush); the first reply then marks the call accepted as ordered
    // (client.ts addReply), so its retransmissions ask b `outcome?`: not-found, every time.
    await client.invoke('ledger', 'size', [], { reply: 'all' }).catch(() => {});
    const ms = Math.round(performance.now() - started);
    console.log(`all-mode query with one lost reply ended after ${ms} ms`);
    expect(ms).toBeLessThan(1_500);
  }, 20_000);
});

describe('review34: a cookie never expires', () => {
  it('a cookie learned once (one view seen at an address) does not prove that address 30 days later', async () => {
    let now = 1_000_000;
    const c = await Cluster.of(3, { clock: () => now });
    cluster = c;
    const gid = groupIdOf(c.group.name);
    const from = '10.6.6.6:6';
    c.net.listen(from, () => {});
    // Whoever held (or saw a view sent to) this address on day 0 keeps its cookie...
    const cookie = cookieHead(from, now);
    const call = (id: string, entry: string) =>
      c.net.route(
        from,
        c.nodes[0]!.member.address,
        encodeClientPacket(
          {
            kind: 'call',
            id,
            service: 'ledger',
            method: 'append',
            args: encodeValue([entry]),
            mode: 'first',
          },
          gid,
          EP,
          undefined,
          undefined,
          cookie,
        ),
      );
    call('ff:1', 'day 0');
    await c.settle();
    expect(c.nodes[0]!.instance.entries).toEqual(['day 0']);
    now += 30 * 24 * 3_600_000;
    // ...and on day 30, without receiving anything there, has no call from it served.
    call('ff:2', 'day 30');
    await c.settle();
    expect(c.nodes[0]!.instance.entries).toEqual(['day 0']);
  });
});
