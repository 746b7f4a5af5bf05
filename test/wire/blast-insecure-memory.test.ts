// Without a key (insecure: true), forged datagrams from invented sender ids must not grow a
// member's memory without bound (issue 11: 4,000 forged 60 KB datagrams retained +347 MB). Three
// member processes over UDP; a raw socket sends 4,000 forged 60 KB nak Data packets, out of
// order, each from a new id, to one member; its RSS, nak's held bytes and the view are checked.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { ProcessHarness } from '../support/processes.js';

const MEMBER = 'test/group/fixtures/member.ts';
const FAST = {
  gms: { heartbeatMs: 50, suspectMs: 2_000, partitionMs: 6_000, bootstrapMs: 200, joinRetryMs: 50 },
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let procs = new ProcessHarness();
afterEach(async () => {
  await procs.stopAll();
  procs = new ProcessHarness();
});

describe('hostile blast without a key: memory', () => {
  it('4,000 forged 60 KB out-of-order datagrams from invented ids: member RSS bounded, no view change', async () => {
    const members = await Promise.all(
      [0, 1, 2].map((i) =>
        procs.start(MEMBER, { name: `member-${i}`, ready: 'ready', args: ['500'], readyTimeoutMs: 30_000 }),
      ),
    );
    const seeds = members.map((m) => m.events.find((e) => e.event === 'ready')!.address as string);
    await Promise.all(
      members.map((m) =>
        m.request({ cmd: 'join', group: 'mem', seeds, layers: FAST, insecure: true }, 'joined', 15_000),
      ),
    );
    await Promise.all(
      members.map((m) =>
        m.waitFor((e) => e.event === 'view' && (e.members as string[]).length === 3, 10_000),
      ),
    );
    const target = members[0]!;
    const stats = async () =>
      (await target.request({ cmd: 'stats' }, 'stats', 10_000)) as unknown as {
        rss: number;
        view: number;
        stats: Record<string, Record<string, number>>;
      };
    const before = await stats();
    const raw = createSocket('udp4');
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
    const port = Number(seeds[0]!.split(':')[1]);
    const payload = new Uint8Array(60_000);
    // nak:pack:com headers, bottom-most last: a cast Data with seq 1..7 (never 0: held out of order).
    for (let i = 0; i < 4_000; i++) {
      const bytes = encodePacket({
        type: PacketType.Stack,
        flags: 0,
        groupId: groupIdOf('mem'),
        sender: { node: 0x10000 + i, inc: 1 },
        headers: [[0], [1, 0, 1 + (i % 7)], [0]],
        payload,
      });
      raw.send(bytes, port, '127.0.0.1');
      if (i % 100 === 99) await sleep(25); // ~4,000 per second: do not just overflow the socket
    }
    await sleep(1_000);
    raw.close();
    const after = await stats();
    const nak = after.stats.nak!;
    const com = after.stats.com!;
    const growthMb = (after.rss - before.rss) / 1e6;
    console.log(
      `insecure blast: RSS +${growthMb.toFixed(1)} MB; nak held ${nak.pendingBytes} B in ${nak.inStreams} streams; ` +
        `com admitted ${(com.received ?? 0) - (before.stats.com!.received ?? 0)}, limited ${com.strangerLimited}`,
    );
    expect(nak.pendingBytes).toBeLessThanOrEqual(64 * 256 * 1024);
    expect(growthMb).toBeLessThan(100); // 4,000 × 60 KB retained would be +240 MB
    expect(after.view).toBe(before.view);
  }, 60_000);
});
