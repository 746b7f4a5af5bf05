import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import type { Delivery } from '../../runtime/group/types.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { Transport } from '../../runtime/transport/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
});

async function transports(n: number) {
  return Promise.all(Array.from({ length: n }, () => udp({ host: '127.0.0.1' })));
}

describe('Group over real UDP sockets (one process)', () => {
  it('three members form one view and deliver totally ordered casts in the same order', async () => {
    const ts = await transports(3);
    const seeds = ts.map((t) => t.address);
    groups = await Promise.all(
      ts.map((transport) => joinGroup('g1', { seeds, transport, layers: FAST, ...TEST_SECURITY })),
    );
    await until(() => groups.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
    const logs = groups.map(() => [] as Delivery[]);
    groups.forEach((g, i) => {
      g.on('deliver', (d) => logs[i]!.push(d));
    });
    for (let k = 0; k < 100; k++) groups[k % 3]!.cast(enc.encode(`m${k}`));
    await until(() => logs.every((l) => l.length === 100), 5_000, '100 deliveries at each member');
    const orders = logs.map((l) => l.map((d) => dec.decode(d.payload)).join(','));
    expect(orders[1]).toBe(orders[0]);
    expect(orders[2]).toBe(orders[0]);
    expect(logs[0]!.map((d) => d.gseq)).toEqual([...logs[0]!.keys()].map((i) => logs[0]![0]!.gseq! + i));
  });

  it('a joiner receives the state at its join point, then every later message', async () => {
    const ts = await transports(3);
    const seeds = ts.slice(0, 2).map((t) => t.address);
    const states = [0, 0, 0];
    const provider = (i: number) => ({
      snapshot: () => enc.encode(String(states[i])),
      restore: (b: Uint8Array) => {
        states[i] = Number(dec.decode(b));
      },
    });
    const apply = (i: number) => (d: Delivery) => {
      states[i]! += Number(dec.decode(d.payload));
    };
    const first = await Promise.all(
      [0, 1].map((i) =>
        joinGroup('g2', { seeds, transport: ts[i]!, layers: FAST, state: provider(i), ...TEST_SECURITY }),
      ),
    );
    groups.push(...first);
    first.forEach((g, i) => {
      g.on('deliver', apply(i));
    });
    await until(() => first.every((g) => g.view?.members.length === 2), 5_000, 'a 2-member view');
    for (let k = 1; k <= 50; k++) first[k % 2]!.cast(enc.encode(String(k)));
    await until(() => states[0] === 1275 && states[1] === 1275, 5_000, 'the first 50 applied');
    const joiner = await joinGroup('g2', {
      seeds,
      transport: ts[2]!,
      layers: FAST,
      state: provider(2),
      ...TEST_SECURITY,
    });
    groups.push(joiner);
    joiner.on('deliver', apply(2));
    expect(states[2]).toBe(1275);
    for (let k = 51; k <= 60; k++) groups[k % 3]!.cast(enc.encode(String(k)));
    const total = (60 * 61) / 2;
    await until(() => states.every((s) => s === total), 5_000, 'all 60 applied everywhere');
  });

  it('survivors install a view without a member that stops, and keep ordering', async () => {
    const ts = await transports(3);
    const seeds = ts.map((t) => t.address);
    groups = await Promise.all(
      ts.map((transport) => joinGroup('g3', { seeds, transport, layers: FAST, insecure: true })),
    );
    await until(() => groups.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
    const victim = groups.pop()!;
    await ts[2]!.close(); // silent from now on, like a crashed process
    await until(() => groups.every((g) => g.view?.members.length === 2), 5_000, 'a view without the victim');
    expect(groups[0]!.view!.members).not.toContain(victim.self);
    const got: string[] = [];
    groups[1]!.on('deliver', (d) => got.push(dec.decode(d.payload)));
    groups[0]!.cast(enc.encode('after'));
    await until(() => got.includes('after'), 2_000, 'delivery after the view change');
  });

  it('large casts cut into fragments arrive whole everywhere under loss, heartbeats between their repairs', async () => {
    // Once the view is formed each member drops a fifth of what it receives, so fragments are
    // repaired by nak while the sender's heartbeats (every 5 ms; unreliable, so outside its
    // reliable stream) keep arriving in between. Before FINDINGS 40 such a heartbeat made frag
    // drop the cast in progress at that member, which then never delivered it.
    let lossOn = false;
    const lossy = (t: Transport, seed: number): Transport => {
      const drop = seededRandom(seed);
      return {
        get address() {
          return t.address;
        },
        get maxDatagram() {
          return t.maxDatagram;
        },
        multicast: (b) => t.multicast(b),
        send: (to, b) => t.send(to, b),
        setPeers: (a) => t.setPeers(a),
        onPacket: (h) => t.onPacket((b, from) => (lossOn && drop() < 0.2 ? undefined : h(b, from))),
        stats: () => t.stats(),
        close: () => t.close(),
      };
    };
    const ts = await transports(3);
    const seeds = ts.map((t) => t.address);
    // Datagrams of a few fragments each, so a loss falls inside a cast, not around it.
    const layers = {
      ...FAST,
      gms: { ...FAST.gms, heartbeatMs: 5 },
      frag: { fragSize: 1_024 },
      pack: { maxBytes: 4_096 },
    };
    groups = await Promise.all(
      ts.map((t, i) => joinGroup('g4', { seeds, transport: lossy(t, i + 1), layers, ...TEST_SECURITY })),
    );
    await until(() => groups.every((g) => g.view?.members.length === 3), 10_000, 'a 3-member view');
    lossOn = true;
    const logs = groups.map(() => [] as string[]);
    groups.forEach((g, i) => {
      g.on('deliver', (d) => {
        if (d.gseq !== undefined) logs[i]!.push(`${d.payload.length}:${d.payload[0]}:${d.payload.at(-1)}`);
      });
    });
    const N = 24;
    for (let k = 0; k < N; k++) {
      const payload = new Uint8Array(20_000 + k * 997).fill(k);
      groups[k % 2]!.cast(payload);
      // Spread over several heartbeats, so repairs and heartbeats interleave.
      await new Promise((r) => setTimeout(r, 25));
    }
    await until(() => logs.every((l) => l.length === N), 20_000, `${N} large casts at each member`);
    expect(logs[1]).toEqual(logs[0]);
    expect(logs[2]).toEqual(logs[0]);
    expect(groups.every((g) => (g.stats().frag?.abandoned ?? 0) === 0)).toBe(true);
  }, 40_000);

  it('a whole group leaving at once is gone at once, the last one out with every cast', async () => {
    // Default timings (suspectMs 1,000). Before, no view of nobody could be installed and every
    // member waited out its leave timer, 3 × suspectMs; the coordinator now stays alone and
    // leaves last.
    const ts = await transports(3);
    const seeds = ts.map((t) => t.address);
    const made = await Promise.all(
      ts.map((transport) => joinGroup('bye', { seeds, transport, ...TEST_SECURITY })),
    );
    groups = made;
    await until(() => made.every((g) => g.view?.members.length === 3), 8_000, 'a 3-member view');
    const logs = made.map(() => [] as string[]);
    made.forEach((g, i) => {
      g.on('deliver', (d) => logs[i]!.push(dec.decode(d.payload)));
    });
    for (let k = 0; k < 30; k++) made[k % 3]!.cast(enc.encode(`last${k}`));
    const started = performance.now();
    const took = await Promise.all(
      made.map(async (g) => {
        await g.leave();
        return performance.now() - started;
      }),
    );
    groups = [];
    // leave() resolves when the member has left, or after its 5 s timeout.
    for (const ms of took) expect(ms).toBeLessThan(1_000);
    // The last one out delivers every cast; a member that left before it delivers a prefix of
    // the same order (a leaver takes part in the flush, but the Install that drops it ends it
    // before the view's unordered tail is delivered).
    const longest = logs.reduce((a, b) => (b.length > a.length ? b : a));
    expect([...longest].sort()).toEqual(Array.from({ length: 30 }, (_, k) => `last${k}`).sort());
    for (const log of logs) expect(log).toEqual(longest.slice(0, log.length));
  });
});

describe('Group over UDP with small datagrams', () => {
  it('udp({ maxDatagram: 1400 }): a burst of casts is packed to fit, delivered alike', async () => {
    // pack batched up to 60,000 bytes whatever the transport's datagram: its packets were dropped
    // at the sender (over maxDatagram), again at every nak resend, and the group delivered
    // nothing more (20 concurrent deposits wedged a bank group for good; session 25's review).
    const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1', maxDatagram: 1_400 })));
    const seeds = ts.map((t) => t.address);
    groups = await Promise.all(
      ts.map((transport) => joinGroup('g-small', { seeds, transport, layers: FAST, ...TEST_SECURITY })),
    );
    await until(() => groups.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
    const logs = groups.map(() => [] as string[]);
    groups.forEach((g, i) => {
      g.on('deliver', (d) => logs[i]!.push(dec.decode(d.payload)));
    });
    for (let k = 0; k < 60; k++) groups[k % 3]!.cast(enc.encode(`m${k}:${'x'.repeat(200)}`));
    await until(() => logs.every((l) => l.length === 60), 5_000, '60 deliveries at each member');
    expect(logs[1]).toEqual(logs[0]);
    expect(logs[2]).toEqual(logs[0]);
    expect(groups.every((g) => g.stats().transport!.dropped === 0)).toBe(true);
  });
});
