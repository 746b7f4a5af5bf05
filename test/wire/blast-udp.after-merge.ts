// NOT YET IN CI (vitest picks up *.test.ts only). Status, measured on the shared 2-CPU VM:
// forged 0 and no recorded member-protocol packet accepted held in every run; the calls/s
// assertion fails: 16.5 calls/s before, 1.3 during, even when every datagram is random bytes
// (TROUPE_BLAST_RATE=0: 27.6 before, 38.8 "during"). Random bytes are refused at the fixed
// header, so the cost is this harness: it reads Group.stats() and Replica.stats() around every
// blasted datagram in the members' own process. To finish: move the blaster and the counting
// out of the members' process (member processes reporting com/replica counters), then
// git mv test/wire/blast-udp.after-merge.ts test/wire/blast-udp.test.ts.
//
// A live hostile blast over real UDP on loopback, with a group key: a raw socket sends about
// 1,500 datagrams a second at the replicas of a bank group for 3 s (recorded authentic packets
// replayed, to their receiver and to other members; recorded packets with one byte altered;
// forged packets without a tag of every type; random bytes) while a client keeps calling.
// Asserted: no forged packet accepted, no recorded member-protocol packet accepted, no view
// change, the replicas agree, and calls per second during the blast at least half the rate before.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { connect, joinReplica, type Replica, type TroupeClient } from '../../runtime/rpc/index.js';
import type { Transport } from '../../runtime/transport/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { decodeFixedHeader, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { bytes, header, mutate, rng } from '../fuzz/gen.js';
import { until } from '../support/until.js';

const KEY = 'blast test group key, 32 bytes or more';
// Suspicion after 3 s: the blaster and the three members share this process's CPU.
const FAST = {
  gms: { heartbeatMs: 50, suspectMs: 3_000, partitionMs: 9_000, bootstrapMs: 200, joinRetryMs: 50 },
};
/** Datagrams per second (TROUPE_BLAST_RATE overrides, e.g. 0 to measure the harness alone). */
const RATE = Number(process.env.TROUPE_BLAST_RATE ?? 1_500);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const key = (b: Uint8Array) => Buffer.from(b).toString('base64');

let groups: Group[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
  clients = [];
});

/** Everything a member's transport sent, and what it accepted from the blaster. */
interface Watch {
  sent: { to: string | null; bytes: Uint8Array }[];
  blast: { seen: number; accepted: number; forged: number; stackOrAddressed: number };
}

const DROPS = ['malformed', 'foreign', 'misdirected', 'unauthenticated', 'replayed'] as const;

/**
 * A UDP transport that records what it sends, and for every packet it receives, whether the
 * member accepted it: `com` counted it `received` (Stack, Discovery), or the replica dropped it
 * under none of its reasons (Client).
 */
async function watched(
  legit: () => Set<string>,
  member: () => { group?: Group; replica?: Replica<Bank> },
  blaster: () => string,
): Promise<{ transport: Transport; watch: Watch }> {
  const t = await udp({ host: '127.0.0.1' });
  const watch: Watch = {
    sent: [],
    blast: { seen: 0, accepted: 0, forged: 0, stackOrAddressed: 0 },
  };
  const counts = () => {
    const { group, replica } = member();
    const com = (group?.stats().com ?? {}) as Record<string, number>;
    const r = (replica?.stats() ?? {}) as unknown as Record<string, number>;
    return { received: com.received ?? 0, drops: DROPS.reduce((n, k) => n + (r[k] ?? 0), 0) };
  };
  const transport: Transport = {
    get address() {
      return t.address;
    },
    get maxDatagram() {
      return t.maxDatagram;
    },
    multicast: (b) => {
      if (watch.sent.length < 20_000) watch.sent.push({ to: null, bytes: b.slice() });
      t.multicast(b);
    },
    send: (to, b) => {
      if (watch.sent.length < 20_000) watch.sent.push({ to, bytes: b.slice() });
      t.send(to, b);
    },
    setPeers: (a) => t.setPeers(a),
    onPacket: (h) =>
      t.onPacket((b, from) => {
        if (from !== blaster()) {
          h(b, from);
          return;
        }
        // Counters are read only around the blaster's packets: reading them is not free.
        const before = counts();
        h(b, from);
        const after = counts();
        let ok: boolean;
        if (b[2] === PacketType.Client) {
          let valid = true;
          try {
            decodeFixedHeader(b);
          } catch {
            valid = false;
          }
          ok = valid && after.drops === before.drops;
        } else ok = after.received > before.received;
        watch.blast.seen++;
        if (!ok) return;
        watch.blast.accepted++;
        if (!legit().has(key(b))) watch.blast.forged++;
        if (b[2] === PacketType.Stack || (b[3]! & Flags.Addressed) !== 0) watch.blast.stackOrAddressed++;
      }),
    stats: () => t.stats(),
    close: () => t.close(),
  };
  return { transport, watch };
}

describe('hostile blast over real UDP, with a key', () => {
  it('no forged or replayed packet accepted, no view change, calls/s at least half the rate before', async () => {
    const raw = createSocket('udp4');
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
    const blasterAddress = `127.0.0.1:${raw.address().port}`;
    const legit = new Set<string>();
    const members: { group?: Group; replica?: Replica<Bank> }[] = [{}, {}, {}];
    const ws = await Promise.all(
      members.map((m) =>
        watched(
          () => legit,
          () => m,
          () => blasterAddress,
        ),
      ),
    );
    const seeds = ws.map((w) => w.transport.address);
    const made = await Promise.all(
      ws.map(({ transport }) =>
        joinReplica(new Bank(), 'bank', {
          seeds,
          transport,
          layers: FAST,
          key: KEY,
          validate: validateBankRequest,
        }),
      ),
    );
    made.forEach((m, i) => {
      Object.assign(members[i]!, m);
    });
    groups.push(...made.map((m) => m.group));
    await until(() => made.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const viewIds = made.map((m) => m.group.view!.id);

    // The client, with its sends recorded too (to replay them at its contact).
    const ct = await udp({ host: '127.0.0.1' });
    const clientSent: { to: string; bytes: Uint8Array }[] = [];
    const client = await connect({
      group: 'bank',
      seeds,
      key: KEY,
      // A loaded 2-CPU machine can starve a heartbeat; a failover is reissued (exactly once).
      contactTimeoutMs: 3_000,
      autoReissue: true,
      transport: {
        get address() {
          return ct.address;
        },
        get maxDatagram() {
          return ct.maxDatagram;
        },
        multicast: (b) => ct.multicast(b),
        send: (to, b) => {
          if (clientSent.length < 20_000) clientSent.push({ to, bytes: b.slice() });
          ct.send(to, b);
        },
        setPeers: (a) => ct.setPeers(a),
        onPacket: (h) => ct.onPacket(h),
        stats: () => ct.stats(),
        close: () => ct.close(),
      },
    });
    clients.push(client);
    const bank = BankClient.connect(client);
    let calls = 0;
    let running = true;
    const lanes = [0, 1, 2, 3].map(async (lane) => {
      while (running) {
        await bank.deposit(`acct${lane}`, 1);
        calls++;
      }
    });
    const rate = async (ms: number) => {
      const c0 = calls;
      const t0 = performance.now();
      await sleep(ms);
      return ((calls - c0) * 1000) / (performance.now() - t0);
    };
    const before = await rate(2_500);

    // What the blaster holds: every packet the members and the client sent so far.
    for (const w of ws) for (const s of w.watch.sent) legit.add(key(s.bytes));
    for (const s of clientSent) legit.add(key(s.bytes));
    const recorded = [
      ...ws.flatMap((w, i) => w.watch.sent.map((s) => ({ from: i, ...s }))),
      ...clientSent.map((s) => ({ from: -1, ...s })),
    ];
    const r = rng(99);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
    const gid = groupIdOf('bank');
    const datagram = (): Uint8Array => {
      const x = r();
      const rec = pick(recorded).bytes;
      if (x < 0.4) return rec; // replayed verbatim, to its receiver or another member
      if (x < 0.55) return mutate(r, rec);
      if (x < 0.9)
        return encodePacket({
          type: pick([PacketType.Stack, PacketType.Discovery, PacketType.Client]),
          flags: r() < 0.5 ? 2 : 0,
          groupId: gid,
          sender: { node: Math.floor(r() * 2 ** 32), inc: 1 + Math.floor(r() * 3) },
          headers: [header(r), header(r), [0]],
          payload: bytes(r, 200),
        });
      return bytes(r, 120);
    };
    const ports = seeds.map((s) => Number(s.split(':')[1]));
    // Made before the clock starts: the blaster shares this process with the members.
    const pool = Array.from({ length: 3_000 }, datagram);
    let blasted = 0;
    const start = performance.now();
    const blast = setInterval(() => {
      // 1,500 a second on average, whatever the timer's lateness.
      const due = Math.min(300, Math.floor(((performance.now() - start) * RATE) / 1000) - blasted);
      for (let i = 0; i < due; i++, blasted++)
        raw.send(pool[blasted % pool.length]!, pick(ports), '127.0.0.1');
    }, 10);
    let during: number;
    try {
      during = await rate(3_000);
    } finally {
      clearInterval(blast);
    }
    running = false;
    await Promise.all(lanes);
    raw.close();

    const seen = ws.reduce((n, w) => n + w.watch.blast.seen, 0);
    expect(blasted).toBeGreaterThan(1_500);
    expect(seen).toBeGreaterThan(1_000);
    // Nothing forged, and no member-protocol or addressed packet accepted from the blaster at all
    // (recorded ones included: those are replays, refused by their windows or their receiver). What remains: a recorded unaddressed Discovery or
    // client packet that a member never received (a beacon cast before the sender knew any peer,
    // a hello to a seed) is accepted once if replayed within the freshness bound: its first
    // delivery, counted here, as docs/protocol.md's threat model says.
    for (const w of ws) expect(w.watch.blast).toMatchObject({ forged: 0, stackOrAddressed: 0 });
    const firstDeliveries = ws.reduce((n, w) => n + w.watch.blast.accepted, 0);
    expect(made.map((m) => m.group.view!.id)).toEqual(viewIds);
    expect(during).toBeGreaterThanOrEqual(before / 2);
    const audit = await bank.audit();
    for (const e of audit.entries) expect(e).toMatchObject({ status: 'ok', value: { total: calls } });
    for (const m of made) expect(m.group.errors).toEqual([]);
    console.log(
      `blast: ${blasted} datagrams, ${seen} seen, ${firstDeliveries} first deliveries of recorded unaddressed ` +
        `discovery/client packets; calls/s before ${before.toFixed(0)}, during ${during.toFixed(0)}`,
    );
  }, 30_000);
});
