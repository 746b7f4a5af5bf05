// A dist receiver (`troupe dist receive`, or `troupe serve --receive-dir` beside a replica) fed
// hostile Announces over real UDP, without a key: any host can send one. Before session 25's
// review, an Announce of 2^40 chunks threw a RangeError out of the afdp layer and one of 2^52
// bytes made the part file throw EFBIG; the driver rethrew either from the socket's handler and
// the process ended (with a replica beside it, the replica too). A sink that fails (a full disk,
// no such directory) ended it the same way.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AfdpKind } from '../../runtime/bulk/afdp.js';
import { type Receiver, startReceiver } from '../../runtime/distrib/receiver.js';
import { udp } from '../../runtime/transport/udp.js';
import { decodePacket, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';
import { until } from '../support/until.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A forged Announce `[1, xfer, size, chunk, count]` from an invented sender. */
function announce(xfer: number, size: number, chunk: number, count: number): Uint8Array {
  return encodePacket({
    type: PacketType.Discovery,
    flags: Flags.Unicast,
    groupId: groupIdOf('fleet'),
    sender: { node: 0x77, inc: 1 },
    headers: [[AfdpKind.Announce, xfer, size, chunk, count]],
    payload: new Uint8Array(32),
  });
}

async function rig(dir: string) {
  const problems: string[] = [];
  const receiver: Receiver = startReceiver({
    dir,
    group: 'fleet',
    transport: await udp({ host: '127.0.0.1' }),
    onProblem: (line) => problems.push(line),
  });
  const raw: Socket = createSocket('udp4');
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
  const joins: number[] = [];
  raw.on('message', (b) => {
    try {
      const h = decodePacket(new Uint8Array(b)).headers[0] as unknown[];
      if (h[0] === AfdpKind.Join) joins.push(h[1] as number);
    } catch {
      // not a Join
    }
  });
  cleanup.push(async () => {
    raw.close();
    await receiver.close();
  });
  const send = (p: Uint8Array) => raw.send(p, Number(receiver.address.split(':')[1]), '127.0.0.1');
  return { problems, joins, send };
}

describe('a dist receiver under forged Announces', () => {
  it('refuses absurd sizes and goes on: it still joins a sane transfer', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'troupe-recv-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const r = await rig(dir);
    r.send(announce(1, 2 ** 40, 1, 2 ** 40)); // a byte per chunk: a 1 TiB array
    r.send(announce(2, 2 ** 52, 2 ** 52, 1)); // a part file no file system holds
    r.send(announce(3, 1_000, 1_000, 1));
    await until(() => r.joins.includes(3), 3_000, 'a Join for the sane transfer');
    expect(r.joins).toEqual([3]);
    // Nothing of the refused ones is left in the directory (the sane one's part file only).
    expect((await readdir(dir)).length).toBeLessThanOrEqual(1);
  });

  it('a sink that fails ends the transfer, not the process', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'troupe-recv-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    const file = path.join(root, 'not-a-dir');
    await writeFile(file, 'x');
    const r = await rig(path.join(file, 'sub')); // ENOTDIR at the part file
    r.send(announce(4, 1_000, 1_000, 1));
    await until(() => r.problems.length > 0, 3_000, 'the failure reported');
    expect(r.problems[0]).toMatch(/could not keep the transfer: ENOTDIR/);
    expect(r.joins).toEqual([]);
  });
});

describe('a dist receiver under a forged catalog', () => {
  it('hashes a file it holds once per Announce, however often the catalog names it', async () => {
    // review37: what a receiver holds is read from the Announce's catalog, and every entry's file
    // was hashed whole (synchronously) before its size was compared: one 48 KiB Announce naming
    // a file the receiver holds 1,533 times, size 0, hashed it 1,533 times. A 2 MB file held the
    // receiver's process (and a replica beside it, `troupe serve --receive-dir`) for seconds per
    // datagram, keyless from any address, and more with a larger file.
    const dir = await mkdtemp(path.join(tmpdir(), 'troupe-recv-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'release.bin'), Buffer.alloc(2 << 20, 7));
    const entries: string[] = [];
    for (let json = '[]'; json.length < 48 * 1024 - 64; json = `[${entries.join(',')}]`)
      entries.push('{"path":"release.bin","size":0}');
    entries.pop();
    const manifest = Buffer.from(`[${entries.join(',')}]`, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(manifest.length);
    const head = Buffer.concat([Buffer.from('TRDIST1\n', 'latin1'), len, manifest]);
    const r = await rig(dir);
    const packet = encodePacket({
      type: PacketType.Discovery,
      flags: Flags.Unicast,
      groupId: groupIdOf('fleet'),
      sender: { node: 0x77, inc: 1 },
      headers: [[AfdpKind.Announce, 5, head.length, 1_000, Math.ceil(head.length / 1_000)]],
      payload: Buffer.concat([Buffer.alloc(32), head]),
    });
    const t0 = performance.now();
    r.send(packet);
    await until(() => r.joins.includes(5), 60_000, 'the Join');
    const ms = performance.now() - t0;
    console.log(`${entries.length} entries naming a 2 MB file: Join after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1_000);
  }, 70_000);
});
