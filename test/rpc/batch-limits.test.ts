// Batching meets the size limits: a contact batch over the group's maxMessage, and a client `calls`
// packet over its transport's datagram (both found by review of ac5de9f and 3f4248e; both failed then).
import { afterEach, describe, expect, it } from 'vitest';
import { TroupeError } from '../../runtime/errors.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { encodeGroupMsg } from '../../runtime/rpc/messages.js';
import { encodeClientPacket } from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, cookieHead, type Ledger } from './support/cluster.js';

const CALM = { contactTimeoutMs: 2_000 };

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/**
 * Gives a fake member the real Group's send check (runtime/group/group.ts checkSendable): a
 * cast above `maxMessage` (JoinOptions.maxMessage) throws MESSAGE_TOO_LARGE.
 */
function limitCasts(member: { cast: (p: Uint8Array, q?: never) => void }, maxMessage: number): void {
  const cast = member.cast.bind(member);
  member.cast = (payload: Uint8Array, qos?: never) => {
    if (payload.length > maxMessage)
      throw new TroupeError('MESSAGE_TOO_LARGE', `message of ${payload.length} bytes exceeds ${maxMessage}`);
    cast(payload, qos);
  };
}

describe('contact batch larger than the group maxMessage', () => {
  it('every replica still applies the same calls (the contact does not skip the delivered one)', async () => {
    cluster = await Cluster.of(3);
    const contact = cluster.nodes[0]!;
    // Each call's request (~1 KB) fits; a batch of 20 does not.
    const max = 4_096;
    for (const n of cluster.nodes) limitCasts(n.member as never, max);
    const client = await cluster.client({ ...CALM, timeoutMs: 1_500 });
    const big = 'x'.repeat(1_000);
    const first = client.invoke('ledger', 'append', ['first']).catch((e) => e);
    // Next turn: 'first' is being ordered; these 20 wait for it in the contact's batcher.
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 20 }, (_, i) =>
      client.invoke('ledger', 'append', [`${big}${i}`]).catch((e) => e),
    );
    await Promise.all([first, ...rest]);
    await cluster.settle();
    const entries = cluster.nodes.map((n) => n.instance.entries.length);
    // Same calls applied everywhere; the contact applied 'first' too.
    expect(contact.instance.entries).toContain('first');
    expect(new Set(entries).size).toBe(1);
    // And the calls that fit one by one are not lost for good (each fits maxMessage alone).
    expect(entries[0]).toBe(21);
  });
});

describe('client calls packet larger than its transport datagram', () => {
  it('calls that each fit the client transport still reach the group when started together', async () => {
    cluster = await Cluster.of(3);
    // A client transport that, like udp({ maxDatagram: 1400 }), drops what it cannot send whole.
    const base = cluster.net.transport('192.168.9.9:5000');
    let dropped = 0;
    const transport = {
      ...base,
      maxDatagram: 1_400,
      send(to: string, bytes: Uint8Array) {
        if (bytes.length > 1_400) {
          dropped++;
          return;
        }
        base.send(to, bytes);
      },
    };
    const client = await cluster.client({ ...CALM, transport, timeoutMs: 2_000 });
    // One call alone fits easily (~100 bytes).
    expect(await client.invoke('ledger', 'append', ['alone'])).toBe(1);
    const rs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => client.invoke('ledger', 'append', [`e${i}`]).catch((e) => e.code)),
    );
    expect(rs.filter((r) => typeof r !== 'number')).toStrictEqual([]);
    expect(dropped).toBe(0);
  });
});

describe('forged and malformed batches', () => {
  it('a requests batch with foreign, garbage and nested parts: every replica applies the same valid part only', async () => {
    cluster = await Cluster.of(3);
    const [a, b] = cluster.nodes;
    const req = (id: string, contact: string, entry: string) =>
      encodeGroupMsg({
        kind: 'request',
        id,
        service: 'ledger',
        method: 'append',
        args: encodeValue([entry]),
        mode: 'none',
        client: '192.168.7.7:1',
        contact,
        ts: 1,
        settled: undefined,
        issue: 0,
      });
    const ok = req('zz:1', a!.member.self, 'ok');
    const batch = encodeGroupMsg({
      kind: 'requests',
      parts: [
        ok,
        req('zz:2', b!.member.self, 'forged'),
        new Uint8Array([0xc1]),
        encodeGroupMsg({ kind: 'requests', parts: [ok] }),
        ok,
      ],
    });
    a!.member.cast(batch, { order: 'total', resilience: 'majority' });
    await cluster.settle();
    for (const n of cluster.nodes) {
      expect(n.instance.entries).toStrictEqual(['ok']);
      expect(n.replica.stats()).toMatchObject({ impersonated: 1, badGroupMessages: 2, internalErrors: 0 });
    }
  });

  it('duplicate ids in one calls packet: applied once', async () => {
    cluster = await Cluster.of(3);
    const a = cluster.nodes[0]!;
    const call = (entry: string) => ({
      kind: 'call' as const,
      id: 'dd:1',
      service: 'ledger',
      method: 'append',
      args: encodeValue([entry]),
      mode: 'first' as const,
      to: a.member.self,
    });
    const pkt = encodeClientPacket(
      { kind: 'calls', calls: [call('x'), call('y'), call('x')] },
      groupIdOf(cluster.group.name),
      { id: 'dd', counter: 0 } as never,
      undefined,
      undefined,
      cookieHead('192.168.7.8:1'),
    );
    cluster.net.route('192.168.7.8:1', a.member.address, pkt);
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.instance.entries).toStrictEqual(['x']);
  });
});

describe('a call too large for the group even alone', () => {
  it('fails at once with MESSAGE_TOO_LARGE and its contact answers not-found, not pending', async () => {
    cluster = await Cluster.of(3);
    for (const n of cluster.nodes) limitCasts(n.member as never, 4_096);
    const client = await cluster.client({ ...CALM, timeoutMs: 1_500 });
    const requestId = client.newRequestId();
    const started = Date.now();
    const e = await client.invoke('ledger', 'append', ['x'.repeat(5_000)], { requestId }).catch((x) => x);
    // Refused by the contact (a typed error), not left to time out after 1.5 s.
    expect((e as { code?: string }).code).toBe('MESSAGE_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(1_000);
    await cluster.settle();
    // Once, and once more per copy the client sent again before the refusal reached it (a loaded
    // machine's retransmission: 2 refusals in one run beside simulator and chaos runs).
    expect(cluster.nodes[0]!.replica.stats().requestsRefused).toBe(1 + client.stats().retransmits);
    // Nothing of it can be ordered: the contact no longer holds it as its cast in flight.
    expect((await client.outcome(requestId, { timeoutMs: 500 })).status).toBe('not-found');
    for (const n of cluster.nodes) expect(n.instance.entries).toStrictEqual([]);
  });
});
