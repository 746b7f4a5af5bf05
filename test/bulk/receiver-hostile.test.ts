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
