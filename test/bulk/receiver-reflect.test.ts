// A keyless dist receiver fed a forged Announce (FINDINGS 211). Its sender is whoever announces
// first, and it sent that address a Status every `statusMs` and NAKs what it lacked for as long
// as nothing replaced the transfer: one 76-byte Announce spoofed from a victim's address had a
// receiver send 3,600 packets, 136,056 bytes there in 60 s, and on. Now an Announce is answered
// with its Join alone until Data of the transfer comes, and reports stop once none has come for
// `deadMs`. The honest cases this must not break run over the simulated network.
import { describe, expect, it } from 'vitest';
import { AfdpKind } from '../../runtime/bulk/afdp.js';
import { build } from '../../runtime/distrib/receiver.js';
import type { Effect } from '../../runtime/stack/types.js';
import { encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';
import { runBulk } from './world.js';

const GROUP = 'fleet';
const VICTIM = '10.9.9.9:7';
const FORGER = { node: 0xbad00, inc: 1 };
const XFER = 1234;
const CHUNK = 8192;
const COUNT = 1024;

/** The forged Announce of an 8 MB transfer (76 bytes), as an earlier release's sender's. */
const ANNOUNCE = encodePacket({
  type: PacketType.Discovery,
  flags: Flags.Unicast,
  groupId: groupIdOf(GROUP),
  sender: FORGER,
  headers: [[AfdpKind.Announce, XFER, COUNT * CHUNK, CHUNK, COUNT]],
  payload: new Uint8Array(32),
});

/** Forged Data of chunk 0 of that transfer, sent to the receiver alone. */
const DATA = encodePacket({
  type: PacketType.Stack,
  flags: Flags.Unicast,
  groupId: groupIdOf(GROUP),
  sender: FORGER,
  headers: [[AfdpKind.Data, XFER, 0]],
  payload: new Uint8Array(CHUNK),
});

/** What a keyless receiver sends {@link VICTIM} in 60 s after `packets` from there at time 0. */
function reflected(packets: Uint8Array[]): { packets: number; bytes: number; lastAt: number } {
  const receiver = build(GROUP, undefined, {});
  const out = { packets: 0, bytes: 0, lastAt: -1 };
  const tally = (es: Effect[], t: number) => {
    for (const e of es)
      if (e.kind === 'transmit' && (e.to === VICTIM || e.to === null)) {
        out.bytes += e.bytes.length;
        out.packets++;
        out.lastAt = t;
      }
  };
  for (const p of packets) tally(receiver.receive(p, VICTIM, 0), 0);
  for (let t = 1; t <= 60_000; t++) tally(receiver.advance(t), t);
  return out;
}

describe('a keyless dist receiver under an Announce spoofed from a victim’s address', () => {
  it('answers it with its Join alone: within 3 times the Announce', () => {
    const out = reflected([ANNOUNCE]);
    expect(out.bytes).toBeLessThanOrEqual(3 * ANNOUNCE.length);
    expect(out.packets).toBe(1); // the Join
  });

  it('with forged Data of the transfer too, reports for deadMs and then stops', () => {
    // Before: 3,599 packets, 136,873 bytes in the 60 s, and on. After: 179, 6,801 bytes, all
    // within deadMs (3 s) of the Data. Without a key nothing tells forged Data from real.
    const out = reflected([ANNOUNCE, DATA]);
    expect(out.lastAt).toBeLessThan(3_000);
    expect(out.packets).toBeGreaterThan(1);
  });
});

describe('honest keyless transfers', () => {
  it('a sender holding data back longer than deadMs for an absent seed keeps its silent receivers', () => {
    // Receiver 3 never starts: the sender waits the whole join window (4 s) before sending,
    // and receivers 1 and 2, which report only once Data reaches them, are silent till then.
    const held = { 1: { from: 0, to: 50_000 }, 2: { from: 0, to: 50_000 } };
    const out = runBulk({
      seed: 4,
      receivers: 3,
      bytes: 100_000,
      loss: 0.02,
      dup: 0,
      jitterMs: 1,
      held,
      crash: { node: 3, atMs: 0 },
      limitMs: 20_000,
      afdp: { chunk: 1000, joinWindowMs: 4_000 },
    });
    expect(out.events.filter((e) => e.type === 'dropped')).toEqual([]);
    for (const r of [1, 2]) expect(out.received.get(r), `receiver ${r}`).toBe(out.digest);
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`a late joiner and a multicast-deaf receiver, lossy links, get the file (seed ${seed})`, () => {
      // The late one joins after every chunk went out: no new Data reaches it, and no cast the
      // deaf one; neither would report, so the sender sends each the first chunk it lacks.
      const out = runBulk({
        seed,
        receivers: 4,
        bytes: 100_000,
        loss: 0.05,
        dup: 0.02,
        jitterMs: 2,
        noMulticast: [3],
        late: { node: 4, atMs: 600 },
        afdp: { chunk: 1000 },
      });
      expect(out.finishedAt).toBeDefined();
      expect(out.events.filter((e) => e.type === 'dropped')).toEqual([]);
      for (let r = 1; r <= 4; r++) expect(out.received.get(r), `receiver ${r}`).toBe(out.digest);
      expect(out.events).toContainEqual({ type: 'mode', member: '00000004.1', mode: 'unicast' });
    });
  }
});
