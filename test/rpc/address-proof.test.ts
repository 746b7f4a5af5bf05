// Without a key a client packet's source address may be forged, and a member answers towards it:
// a 36-byte `outcome?` for a committed 300-entry `statement` call drew the 6,757-byte recorded
// result, as often as it was sent, and a forged call of a read method its reply, from every
// member in `all` mode (FINDINGS 192). Each member now gives each client address a cookie (in its
// views); a call is served only when it carries it, and an outcome query without it is answered
// within 3 times its bytes (runtime/rpc/address-proof.ts, docs/rpc.md "Cookies without a key").
import { afterEach, describe, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { AddressProof, addressCookie, CookieJar } from '../../runtime/rpc/address-proof.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import {
  COOKIE_PERIOD_MS,
  decodeClientPacket,
  encodeClientPacket,
  HELLO_AMPLIFICATION,
} from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { keylessBank, rawSocket, TestScope } from '../support/keyless-bank.js';
import { until } from '../support/until.js';
import { Cluster, cookieHead, type Ledger, rawClient } from './support/cluster.js';

const EP = { node: 0x0606, inc: 6 };

describe('AddressProof and CookieJar', () => {
  it('a cookie proves the address it was made for, and no other, for one period more', () => {
    const p = new AddressProof(new Uint8Array(16).fill(7));
    const t = 5 * COOKIE_PERIOD_MS + 1;
    const c = p.cookieFor('1.2.3.4:5', t);
    expect(c).toStrictEqual(addressCookie(new Uint8Array(16).fill(7), '1.2.3.4:5', 5));
    expect(p.proves('1.2.3.4:5', c, t)).toBe(true);
    expect(p.proves('1.2.3.4:6', c, t)).toBe(false);
    expect(p.proves('1.2.3.4:5', undefined, t)).toBe(false);
    expect(p.proves('1.2.3.4:5', new Uint8Array(8), t)).toBe(false);
    expect(new AddressProof(new Uint8Array(16).fill(8)).proves('1.2.3.4:5', c, t)).toBe(false);
    // Taken through the next period, not after it: seen once, an address is not proved for ever.
    expect(p.proves('1.2.3.4:5', c, t + COOKIE_PERIOD_MS)).toBe(true);
    expect(p.proves('1.2.3.4:5', c, t + 2 * COOKIE_PERIOD_MS)).toBe(false);
    expect(p.cookieFor('1.2.3.4:5', t + COOKIE_PERIOD_MS)).not.toStrictEqual(c);
  });

  it('costs no HMAC per packet of wrong cookies from one address, past the first', () => {
    // The previous period's cookie was computed afresh for every packet that failed the
    // current one: a flood of wrong cookies from one address was an HMAC per packet.
    let macs = 0;
    const counting: typeof addressCookie = (secret, addr, period) => {
      macs++;
      return addressCookie(secret, addr, period);
    };
    const secret = new Uint8Array(16).fill(7);
    const p = new AddressProof(secret, counting);
    const t = 5 * COOKIE_PERIOD_MS + 1;
    for (let i = 0; i < 100; i++) expect(p.proves('1.2.3.4:5', new Uint8Array(8).fill(i), t)).toBe(false);
    expect(macs).toBe(2); // this period's and the one before, once each
    // Into the next period: this period's cookies are the previous ones, not made again.
    const old = p.cookieFor('1.2.3.4:5', t);
    macs = 0;
    expect(p.proves('1.2.3.4:5', old, t + COOKIE_PERIOD_MS)).toBe(true);
    expect(macs).toBe(1);
    // A period skipped: the cookies before it prove nothing and the cache holds none of them.
    expect(p.proves('1.2.3.4:5', old, t + 3 * COOKIE_PERIOD_MS)).toBe(false);
    expect(p.proves('1.2.3.4:5', addressCookie(secret, '1.2.3.4:5', 7), t + 3 * COOKIE_PERIOD_MS)).toBe(true);
  });

  it("a jar takes a view's cookie always, a notice's only where it holds none", () => {
    const jar = new CookieJar();
    const a = new Uint8Array(8).fill(1);
    const b = new Uint8Array(8).fill(2);
    expect(jar.wants('m:1', 0)).toBe(true);
    expect(jar.fromNotice('m:1', a, 0)).toBe(true); // none held: taken, and what waits goes again
    expect(jar.fromNotice('m:1', b, 1)).toBe(false); // a notice (anyone may forge one) replaces nothing
    expect(jar.get('m:1')).toStrictEqual(a);
    jar.fromView('m:1', b, 2); // the member's view: its cookie now
    expect(jar.get('m:1')).toStrictEqual(b);
    // Asked for again once half a period old, while the member still takes it.
    expect(jar.wants('m:1', 2 + COOKIE_PERIOD_MS / 2 - 1)).toBe(false);
    expect(jar.wants('m:1', 2 + COOKIE_PERIOD_MS / 2)).toBe(true);
  });
});

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Three replicas on the fake network and a hand-made client at `from` that keeps what it gets. */
async function threeAndRaw(from = '10.6.6.6:6') {
  const c = await Cluster.of(3);
  cluster = c;
  return { c, ...rawClient(c, from) };
}

const call = (id: string, method: string, args: unknown[], mode: 'first' | 'all' = 'first') => ({
  kind: 'call' as const,
  id,
  service: 'ledger',
  method,
  args: encodeValue(args),
  mode,
});

describe('a keyless member serves a call only from an address that proved itself', () => {
  it('a call without the cookie is not cast nor answered: a notice smaller than the call comes back', async () => {
    const { c, send, kinds, received, sent } = await threeAndRaw();
    const a = c.nodes[0]!;
    send(a.member.address, call('ff:1', 'append', ['forged']));
    send(a.member.address, {
      kind: 'calls',
      calls: [call('ff:2', 'append', ['x']), call('ff:3', 'size', [], 'all')],
    });
    await c.settle();
    expect(kinds()).toEqual(['cookie', 'cookie']);
    expect(received()).toBeLessThan(sent());
    for (const n of c.nodes) expect(n.instance.entries).toEqual([]);
    expect(a.replica.stats()).toMatchObject({ requestsCast: 0, cookieNotices: 2 });
  });

  it('with the cookie the same call is cast, applied everywhere and answered', async () => {
    const { c, send, got, kinds, from } = await threeAndRaw();
    const a = c.nodes[0]!;
    send(a.member.address, call('ff:1', 'append', ['proven']), cookieHead(from));
    await c.settle();
    for (const n of c.nodes) expect(n.instance.entries).toEqual(['proven']);
    expect(kinds()).toContain('reply');
    expect(got.length).toBeGreaterThan(0);
    // Another member's cookie (or another address's) proves nothing here.
    const other = cookieHead(from).cookie.map((b) => b ^ 0xff); // another secret's, in effect
    send(a.member.address, call('ff:2', 'append', ['other']), { cookie: other });
    send(a.member.address, call('ff:3', 'append', ['other']), cookieHead('10.6.6.6:7'));
    await c.settle();
    for (const n of c.nodes) expect(n.instance.entries).toEqual(['proven']);
    expect(kinds().filter((k) => k === 'cookie')).toHaveLength(2);
  });

  it('an all-mode query from a forged address draws nothing from the other members', async () => {
    const { c, send, got } = await threeAndRaw();
    send(c.nodes[0]!.member.address, call('ff:1', 'size', [], 'all'));
    await c.settle();
    // Only the contact's notice: the query was not forwarded, so no member answered it.
    expect(got).toHaveLength(1);
    expect(c.nodes.map((n) => n.replica.stats().cookieNotices)).toEqual([1, 0, 0]);
  });

  it('an address that proved nothing is told no view at the next view change', async () => {
    const { c, send, kinds } = await threeAndRaw();
    send(c.nodes[0]!.member.address, call('ff:1', 'append', ['x']));
    send(c.nodes[0]!.member.address, { kind: 'outcome?', id: 'ff:1' });
    // A hello without the cookie is answered (its view fits 3 times it), and no more than that.
    send(c.nodes[0]!.member.address, { kind: 'hello', viewId: 0, maxDatagram: 1_400, padding: 200 });
    await c.settle();
    expect(kinds()).toEqual(['cookie', 'outcome', 'view']);
    const before = kinds().length;
    c.add();
    await c.settle();
    expect(kinds().slice(before)).toEqual([]);
  });

  it('an outcome query without the cookie is answered within 3 times its bytes, else with a notice', async () => {
    const { c, send, got, kinds, from } = await threeAndRaw();
    const a = c.nodes[0]!;
    // A refusal recorded with a 2,000-character reason: a large committed outcome.
    send(a.member.address, call('ff:1', 'refuse', ['y'.repeat(2_000)]), cookieHead(from));
    await c.settle();
    got.length = 0;
    // A small answer (not-found) fits 3 times the query; the committed one (2 KB) does not. The
    // queries are padded as a client pads them without a cookie.
    const q1 = send(a.member.address, { kind: 'outcome?', id: 'ff:9' }, { pad: 150 });
    const q2 = send(a.member.address, { kind: 'outcome?', id: 'ff:1' }, { pad: 150 });
    await c.settle();
    expect(kinds()).toEqual(['outcome', 'cookie']);
    expect(got[0]!.length).toBeLessThanOrEqual(HELLO_AMPLIFICATION * q1);
    expect(got[1]!.length).toBeLessThanOrEqual(q2);
    send(a.member.address, { kind: 'outcome?', id: 'ff:1' }, cookieHead(from));
    await c.settle();
    expect(kinds()[2]).toBe('outcome');
    expect(got[2]!.length).toBeGreaterThan(2_000);
  });

  it('every view a keyless member sends carries its cookie for the address it goes to', async () => {
    const { c, send, got, from } = await threeAndRaw();
    const gid = groupIdOf(c.group.name);
    send(c.nodes[1]!.member.address, { kind: 'hello', viewId: 0, maxDatagram: 1_400, padding: 200 });
    await c.settle();
    const view = decodeClientPacket(got[0]!, gid).packet;
    expect(view).toMatchObject({ kind: 'view', cookie: cookieHead(from).cookie });
  });
});

describe('keyless clients over UDP', () => {
  const scope = new TestScope();
  afterEach(() => scope.reset());

  it('a forged outcome? for a 300-entry statement draws a notice, not the 6.7 KB result; a client gets it whole', async () => {
    const { seeds, replicas, client } = await keylessBank(scope, 3);
    const bank = BankClient.connect(client);
    for (let i = 0; i < 300; i++) await bank.deposit('acct', 1);
    const id = client.newRequestId();
    const statement = await bank.statement('acct', { requestId: id });
    expect(statement.entries).toHaveLength(300);
    const forger = await rawSocket(scope);
    const gid = groupIdOf('bank');
    let sent = 0;
    for (let i = 0; i < 5; i++) {
      const bytes = encodeClientPacket({ kind: 'outcome?', id }, gid, EP);
      sent += bytes.length;
      forger.send(seeds[0]!, bytes);
    }
    await until(() => forger.got.length >= 5, 5_000, 'five notices');
    await new Promise((r) => setTimeout(r, 200));
    expect(forger.got.map((g) => decodeClientPacket(g.bytes, gid).packet.kind)).toEqual(
      Array(5).fill('cookie'),
    );
    // Before: 5 × 6,757 bytes for 5 × 36.
    expect(forger.got.reduce((n, g) => n + g.bytes.length, 0)).toBeLessThanOrEqual(sent);
    expect(replicas[0]!.stats().cookieNotices).toBe(5);
    // The real client's own outcome query (with its cookie) still gets the recorded result.
    const outcome = await client.outcome(id);
    expect(outcome).toMatchObject({ status: 'committed' });
  }, 60_000);

  it('a client whose cookie went stale (the member restarted with a new secret) completes its calls', async () => {
    const { client } = await keylessBank(scope, 3);
    const bank = BankClient.connect(client);
    await bank.deposit('acct', 1);
    // Every cookie the client holds replaced by a wrong one, as after the members restarted.
    const jar = (client as unknown as { cookies: CookieJar }).cookies;
    for (const a of client.view!.addresses) jar.fromView(a, new Uint8Array(8), 0);
    const started = performance.now();
    await bank.deposit('acct', 1);
    expect(await bank.balance('acct')).toBe(2);
    expect(performance.now() - started).toBeLessThan(2_000);
  }, 60_000);
});
