// A dist receiver's transfer under way and the Announces of other senders. Without a key anyone
// can announce, in its own name from its own address; before, any Announce of another transfer
// replaced the one under way: its part file was removed, the real sender's Data (of another
// transfer id) ignored, and the sender, which never announces to a joined receiver again,
// dropped the receiver as silent: one datagram aborted a push (session 25's review, FINDINGS
// 117's "left"; FINDINGS 131). A transfer is now kept while its sender is heard (within
// `deadMs`); another sender's Announce is ignored, counted and reported once a second.

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AfdpEvent, AfdpKind } from '../../runtime/bulk/afdp.js';
import { distMain } from '../../runtime/distrib/main.js';
import { build, type Receiver, startReceiver } from '../../runtime/distrib/receiver.js';
import { udp } from '../../runtime/transport/udp.js';
import { decodePacket, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';
import { until } from '../support/until.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** An Announce `[1, xfer, size, chunk, count]` in the name of sender `node`. */
function announce(node: number, xfer: number, size = 1_000, chunk = 1_000): Uint8Array {
  return encodePacket({
    type: PacketType.Discovery,
    flags: Flags.Unicast,
    groupId: groupIdOf('fleet'),
    sender: { node, inc: 1 },
    headers: [[AfdpKind.Announce, xfer, size, chunk, Math.max(1, Math.ceil(size / chunk))]],
    payload: new Uint8Array(32),
  });
}

describe('a dist receiver with a transfer under way, over real UDP without a key', () => {
  it('completes the push while a forger announces another transfer every 30 ms', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'troupe-announce-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    const src = path.join(root, 'src');
    const dir = path.join(root, 'dst');
    await mkdir(src);
    await mkdir(dir);
    const blob = randomBytes(2 * 1024 * 1024);
    await writeFile(path.join(src, 'big.bin'), blob);
    const problems: string[] = [];
    const placed: number[] = [];
    const receiver: Receiver = startReceiver({
      dir,
      group: 'fleet',
      transport: await udp({ host: '127.0.0.1' }),
      onProblem: (line) => problems.push(line),
      onPlaced: (r) => placed.push(r.written),
    });
    cleanup.push(() => receiver.close());
    const forger: Socket = createSocket('udp4');
    await new Promise<void>((r) => forger.bind(0, '127.0.0.1', () => r()));
    cleanup.push(() => {
      forger.close();
    });
    const port = Number(receiver.address.split(':')[1]);
    const out: string[] = [];
    // 256 chunks of 8 KiB at a 5 ms gap: over a second under way.
    const sending = distMain(
      [src, '--to', 'fleet', '--seeds', receiver.address, '--insecure', '--min-gap', '5'],
      { out: (l) => out.push(l), err: (l) => out.push(l) },
    );
    let forged = 0;
    const started = Date.now();
    const timer = setInterval(() => {
      if (Date.now() - started < 150) return; // let the real transfer start first
      forger.send(announce(0x77, 0xdead, 1_000, 1_000), port, '127.0.0.1');
      forged++;
    }, 30);
    cleanup.push(() => clearInterval(timer));
    const code = await sending;
    clearInterval(timer);
    expect(forged).toBeGreaterThan(10);
    expect(code, out.join('\n')).toBe(0);
    await until(() => placed.length === 1, 5_000, 'the push placed');
    expect((await readFile(path.join(dir, 'src', 'big.bin'))).equals(blob)).toBe(true);
    // Reported, once a second at most, not once per Announce.
    const refused = problems.filter((l) =>
      l.startsWith('ignored an announce of transfer 57005 from 00000077.1'),
    );
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 1_000) + 1);
  }, 30_000);
});

describe('the afdp receiver and announces (sans-IO, its own clock)', () => {
  /** A receiver stack, fed packets at chosen times; the Joins it sends, by destination. */
  function receiverStack(deadMs = 3_000) {
    const events: AfdpEvent[] = [];
    const stack = build('fleet', undefined, { deadMs, onEvent: (e: AfdpEvent) => events.push(e) });
    const joins: { to: string; xfer: number }[] = [];
    const feed = (bytes: Uint8Array, from: string, at: number) => {
      for (const e of stack.receive(bytes, from, at)) {
        if (e.kind !== 'transmit' || e.to === null) continue;
        const h = decodePacket(e.bytes).headers[0] as unknown[];
        if (h[0] === AfdpKind.Join) joins.push({ to: e.to, xfer: h[1] as number });
      }
    };
    return { stack, events, joins, feed };
  }

  it('keeps a transfer whose sender is heard, and takes another once it has been silent for deadMs', () => {
    const r = receiverStack();
    r.feed(announce(0x10, 1, 4_000, 1_000), '10.0.0.1:7000', 0);
    expect(r.joins).toEqual([{ to: '10.0.0.1:7000', xfer: 1 }]);
    // Another sender, its transfer: ignored while the first is heard.
    r.feed(announce(0x77, 2), '10.0.0.9:7000', 100);
    r.feed(announce(0x77, 3), '10.0.0.9:7000', 500);
    expect(r.joins).toHaveLength(1);
    expect(r.stack.stats().afdp?.announcesRefused).toBe(2);
    expect(r.events.filter((e) => e.type === 'refused')).toEqual([
      { type: 'refused', xfer: 2, from: '00000077.1', address: '10.0.0.9:7000', current: '00000010.1' },
    ]);
    // The first sender announcing again is heard (it has not seen our Join).
    r.feed(announce(0x10, 1, 4_000, 1_000), '10.0.0.1:7000', 2_500);
    expect(r.joins).toHaveLength(2);
    r.feed(announce(0x77, 4), '10.0.0.9:7000', 5_000);
    expect(r.joins).toHaveLength(2);
    // Silent for deadMs: its transfer gives way.
    r.feed(announce(0x77, 5), '10.0.0.9:7000', 5_500);
    expect(r.joins.at(-1)).toEqual({ to: '10.0.0.9:7000', xfer: 5 });
  });

  it('its own sender replaces its transfer with its next one at once', () => {
    const r = receiverStack();
    r.feed(announce(0x10, 1, 4_000, 1_000), '10.0.0.1:7000', 0);
    r.feed(announce(0x10, 2), '10.0.0.1:7000', 10);
    expect(r.joins.map((j) => j.xfer)).toEqual([1, 2]);
  });
});
