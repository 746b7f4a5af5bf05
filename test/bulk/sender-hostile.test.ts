// A dist sender fed forged Joins (keyless; the transfer id is on every Data packet). A Join names
// the chunks its receiver holds as ranges; the sender expanded them to one Set entry per chunk,
// so a Join naming [0, count − 1] from each of 20 invented receivers of a 2-million-chunk
// transfer held 900 MB and took 75 s of the sender's CPU (session 25's hostile-input review).
// And a Join's source address may be forged: the sender cast the whole transfer to any address
// a Join came from (FINDINGS 208).
import { describe, expect, it } from 'vitest';
import { AfdpKind, memorySource } from '../../runtime/bulk/afdp.js';
import { build } from '../../runtime/distrib/receiver.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { Effect } from '../../runtime/stack/types.js';
import { decodePacket, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

const GROUP = 'fleet';
const SEED = '127.0.0.1:9';

/** A keyless sender of `bytes` to {@link SEED}, started at time 0; its Announce's header. */
function startSender(bytes: number, chunk?: number): { stack: Stack; announce: unknown[] } {
  const stack = build(GROUP, undefined, {
    seeds: [SEED],
    source: memorySource(new Uint8Array(bytes)),
    ...(chunk ? { chunk } : {}),
  });
  const effects = stack.down(
    { type: 'cast', msg: { headers: [], payload: new Uint8Array(0) }, qos: { order: 'unreliable' } },
    0,
  );
  const sent = effects.find((e) => e.kind === 'transmit' && e.to === SEED) as { bytes: Uint8Array };
  const announce = decodePacket(sent.bytes).headers[0] as unknown[];
  expect(announce[0]).toBe(AfdpKind.Announce);
  return { stack, announce };
}

/** A Join of `xfer` in invented node `node`'s name, naming `held` ranges, echoing `cookie`. */
function joinPacket(xfer: number, node: number, held: number[], cookie?: Uint8Array): Uint8Array {
  return encodePacket({
    type: PacketType.Discovery,
    flags: Flags.Unicast,
    groupId: groupIdOf(GROUP),
    sender: { node, inc: 1 },
    headers: [[AfdpKind.Join, xfer, ...held]],
    payload: cookie ?? new Uint8Array(0),
  });
}

/** The cookie of the Challenge among `effects` sent to `to`. */
function challengeTo(effects: Effect[], to: string): Uint8Array | undefined {
  for (const e of effects) {
    if (e.kind !== 'transmit' || e.to !== to) continue;
    const p = decodePacket(e.bytes);
    if ((p.headers[0] as unknown[])[0] === AfdpKind.Challenge) return p.payload;
  }
  return undefined;
}

describe('a dist sender under forged Joins', () => {
  it('keeps a Join’s held chunks as ranges: 20 invented receivers claiming everything cost little', () => {
    const count = 2_000_000;
    const { stack, announce } = startSender(count, 1);
    const xfer = announce[1] as number;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 20; i++) {
      // A forger receiving at 20 addresses of its own: each takes its Challenge and echoes it.
      const at = `127.0.0.1:${2000 + i}`;
      const cookie = challengeTo(
        stack.receive(joinPacket(xfer, 0xbad00 + i, [], new Uint8Array(8)), at, 1),
        at,
      );
      stack.receive(joinPacket(xfer, 0xbad00 + i, [0, count - 1], cookie), at, 1 + i);
    }
    const grown = process.memoryUsage().heapUsed - before;
    expect(stack.stats().afdp?.receivers).toBe(20);
    expect(grown).toBeLessThan(50 * 1024 * 1024);
  });
});

describe('a dist sender under a Join from an address it never announced to', () => {
  it('sends the transfer to no address that did not show it receives there', () => {
    // review37: without a key a Join's source address may be forged, and the sender took a Join
    // of its transfer from any address as a receiver, casting every chunk to it (fan-out) until
    // it fell silent (`deadMs`). One 35-byte Join, from an invented id at a victim's address,
    // drew the whole 8 MB blob there (1,025 packets, 8,428,195 bytes). It needs the transfer id
    // (32 random bits), which every Announce to a seed and every Data cast carries: a seed, or a
    // host on the path or in the multicast group, knows it. A seed also holds the cookie the
    // sender gave its own address, so it tries that one too.
    const { stack, announce } = startSender(8 << 20);
    const xfer = announce[1] as number;
    const seedCookie = announce[5] as Uint8Array;
    const victim = '10.9.9.9:7';
    const forged = [
      joinPacket(xfer, 0xbad00, []),
      joinPacket(xfer, 0xbad01, [], seedCookie),
      joinPacket(xfer, 0xbad02, [0, 3], new Uint8Array(8).fill(7)),
    ];
    let peers: readonly string[] = [];
    let bytes = 0;
    let packets = 0;
    // Casts reach the peers com was last given (fan-out), so the victim once it is one.
    const tally = (es: Effect[]) => {
      for (const e of es) {
        if (e.kind === 'peers') peers = e.addresses;
        if (e.kind === 'transmit' && (e.to === victim || (e.to === null && peers.includes(victim)))) {
          bytes += e.bytes.length;
          packets++;
        }
      }
    };
    for (const [i, join] of forged.entries()) tally(stack.receive(join, victim, 1 + i));
    for (let t = 4; t < 5_000; t++) tally(stack.advance(t));
    const sizes = forged.map((j) => j.length);
    console.log(
      `forged Joins of ${sizes.join(', ')} bytes: ${packets} packets, ${bytes} bytes to the victim`,
    );
    // At most a Challenge per Join that carries a cookie, each no larger than its Join.
    expect(bytes).toBeLessThanOrEqual(sizes[1]! + sizes[2]!);
    expect(stack.stats().afdp?.receivers).toBe(0);
  });
});
