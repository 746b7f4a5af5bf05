import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { type Transport, TransportError, UDP_MAX_PAYLOAD, udp } from '../../runtime/transport/index.js';
import { loopbackMulticastWorks, multicastScenario } from './fixtures/multicast-scenario.js';
import { multicastInNetns } from './fixtures/netns.js';
import { collect, str, text, waitFor } from './helpers.js';

const open: Transport[] = [];
async function make(options: Parameters<typeof udp>[0] = {}): Promise<Transport> {
  const t = await udp(options);
  open.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('udp transport', () => {
  it('sends and receives in both directions with from = the sender address', async () => {
    const [a, b] = [await make(), await make()];
    const [gotA, gotB] = [collect(a), collect(b)];
    expect(a.address).toMatch(/^127\.0\.0\.1:\d+$/);
    a.send(b.address, text('ping'));
    await waitFor(() => gotB.length === 1, 'ping at b');
    expect(gotB[0]!.from).toBe(a.address);
    expect(str(gotB[0]!.bytes)).toBe('ping');
    b.send(gotB[0]!.from, text('pong'));
    await waitFor(() => gotA.length === 1, 'pong at a');
    expect(gotA[0]).toEqual({ bytes: text('pong'), from: b.address });
    expect(a.stats()).toEqual({ sent: 1, received: 1, dropped: 0 });
  }, 5_000);

  it('reports the address it is bound at as an IP, and every address it receives at on the wildcard', async () => {
    // Members compare addresses: a seed list is resolved to IPs and packets come from IPs, so an
    // address written as a name (`localhost:p`) never knew itself for a seed (review7).
    const named = await make({ host: 'localhost' });
    expect(named.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(named.aliases).toBeUndefined();
    const wild = await make({ host: '0.0.0.0' });
    const port = wild.address.split(':')[1];
    expect(wild.address).toBe(`0.0.0.0:${port}`);
    expect(wild.aliases).toContain(`127.0.0.1:${port}`);
  });

  it('fan-out multicast reaches every peer but itself', async () => {
    const ts = [await make(), await make(), await make(), await make()];
    const got = ts.map(collect);
    const all = ts.map((t) => t.address);
    for (const t of ts) t.setPeers(all);
    ts[0]!.multicast(text('hello'));
    await waitFor(() => got.slice(1).every((g) => g.length === 1), 'fan-out at every peer');
    for (const g of got.slice(1)) expect(g[0]).toEqual({ bytes: text('hello'), from: ts[0]!.address });
    // A unicast marker to the sender, sent after the others heard it, bounds the wait for a
    // (wrong) self-delivery.
    ts[1]!.send(ts[0]!.address, text('marker'));
    await waitFor(() => got[0]!.length === 1, 'marker at sender');
    expect(str(got[0]![0]!.bytes)).toBe('marker');
    expect(ts[0]!.stats().sent).toBe(3);
  }, 5_000);

  it('IP multicast reaches the other members and suppresses its own echo', async () => {
    const probe = await loopbackMulticastWorks();
    if (probe.ok) {
      if (process.env.TROUPE_TEST_NETNS !== '1') {
        await multicastScenario();
        return;
      }
    }
    // Loopback multicast is unavailable here (or TROUPE_TEST_NETNS=1 forces this path):
    // run the same scenario in a private network namespace, and fail loudly if we cannot.
    try {
      expect(await multicastInNetns()).toContain('multicast scenario ok');
    } catch (e) {
      throw new Error(
        `IP multicast could not be exercised: loopback probe said "${probe.reason}", and the network ` +
          `namespace fallback failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }, 14_000);

  it('drops and counts oversized datagrams instead of throwing', async () => {
    const [a, b] = [await make(), await make({ maxDatagram: 1_000 })];
    const gotA = collect(a);
    expect(a.maxDatagram).toBe(65_000);
    expect(b.maxDatagram).toBe(1_000);
    b.send(a.address, new Uint8Array(1_001));
    b.setPeers([a.address]);
    b.multicast(new Uint8Array(5_000));
    expect(b.stats()).toEqual({ sent: 0, received: 0, dropped: 2 });
    a.send(b.address, new Uint8Array(65_001));
    expect(a.stats().dropped).toBe(1);
    b.send(a.address, new Uint8Array(1_000).fill(7));
    await waitFor(() => gotA.length === 1, 'max-size datagram');
    expect(gotA[0]!.bytes).toEqual(new Uint8Array(1_000).fill(7));
  }, 5_000);

  it('carries a datagram of exactly maxDatagram and caps the option at 65,507', async () => {
    const a = await make({ maxDatagram: 1_000_000 });
    const b = await make();
    const gotB = collect(b);
    expect(a.maxDatagram).toBe(UDP_MAX_PAYLOAD);
    a.send(b.address, new Uint8Array(UDP_MAX_PAYLOAD).fill(1));
    await waitFor(() => gotB.length === 1, '65,507-byte datagram');
    expect(gotB[0]!.bytes.length).toBe(UDP_MAX_PAYLOAD);
  }, 5_000);

  it('counts send errors and bad addresses without crashing', async () => {
    const a = await make();
    a.send('not-an-address', text('x'));
    a.send('127.0.0.1:99999', text('x'));
    a.send('256.1.1.1:5000', text('x'));
    await waitFor(() => a.stats().dropped === 3, 'three drops');
  }, 5_000);

  it('rejects with TransportError TRANSPORT_BIND when the port is taken', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    try {
      const err = await udp({ port: holder.address().port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).code).toBe('TRANSPORT_BIND');
    } finally {
      holder.close();
    }
  }, 5_000);

  it('close is idempotent and later sends are counted drops', async () => {
    const a = await udp({ mode: 'multicast', multicastGroup: '239.255.200.1', multicastPort: 0 });
    await Promise.all([a.close(), a.close()]);
    await a.close();
    a.send('127.0.0.1:9', text('late'));
    a.multicast(text('late'));
    expect(a.stats().dropped).toBe(2);
  }, 5_000);
});
