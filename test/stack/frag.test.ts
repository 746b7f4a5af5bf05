import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { frag } from '../../runtime/layers/frag.js';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { DownEvent, Effect, UpEvent } from '../../runtime/stack/types.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { defaultConfig, runScenario } from '../sim/scenario.js';
import { ALL_FAULTS } from '../sim/world.js';
import { Net } from './layer-net.js';

const registry = defaultRegistry().with(frag);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Deterministic, position-dependent bytes (a shifted fragment would not compare equal). */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  return out;
}

const cast = (payload: Uint8Array, headers: unknown[] = []): DownEvent => ({
  type: 'cast',
  msg: { headers, payload },
  qos: { order: 'fifo' },
});

describe('frag round trips over frag:nak:com', () => {
  it.each([
    ['1 B', 1],
    ['exactly fragSize', 60_000],
    ['fragSize + 1', 60_001],
    ['5 MB', 5_000_000],
  ])('%s arrives whole, with the headers of the layers above', (_name, size) => {
    const net = new Net({ members: 2, stack: parseSpec('frag:nak:com'), registry });
    net.installView(1);
    const [a, b] = net.members as [(typeof net.members)[0], (typeof net.members)[0]];
    const payload = bytes(size, size);
    net.down(a, cast(payload, [['upper', 7]]));
    net.run(1_000);
    const got = net.delivered(b);
    expect(got).toHaveLength(1);
    expect(got[0]!.msg.headers).toEqual([['upper', 7]]);
    expect(got[0]!.msg.payload.length).toBe(size);
    expect(sha(got[0]!.msg.payload)).toBe(sha(payload));
    expect(got[0]!.from).toBe(a.id);
    // The sender's own cast comes back reassembled too.
    expect(net.delivered(a).map((d) => d.msg.payload.length)).toEqual([size]);
    const stats = b.stack.stats().frag!;
    expect(stats.reassembled).toBe(size > 60_000 ? 1 : 0);
    expect(stats.partials).toBe(0);
  });

  it('carries a 64 MiB message in a few seconds, point to point', () => {
    const net = new Net({ members: 2, stack: parseSpec('frag:nak:com'), registry });
    net.installView(1);
    const [a, b] = net.members as [(typeof net.members)[0], (typeof net.members)[0]];
    const size = 64 * 1024 * 1024;
    const payload = new Uint8Array(size);
    // Sparse marks: every 4 KiB page gets its index, so a dropped or swapped fragment shows.
    const view = new DataView(payload.buffer);
    for (let off = 0; off + 4 <= size; off += 4096) view.setUint32(off, off / 4096);
    const started = performance.now();
    net.down(a, { type: 'send', to: b.id, msg: { headers: [], payload }, qos: { order: 'fifo' } });
    net.run(1_000);
    const ms = performance.now() - started;
    const got = net.delivered(b);
    expect(got).toHaveLength(1);
    const p = got[0]!.msg.payload;
    expect(p.length).toBe(size);
    const gv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    for (let off = 0; off + 4 <= size; off += 4096)
      if (gv.getUint32(off) !== off / 4096) expect(off).toBe(-1);
    expect(sha(p)).toBe(sha(payload));
    expect(got[0]!.cast).toBe(false);
    expect(ms).toBeLessThan(10_000);
  });

  it('delivers the reassembled message with the meta of its last fragment', () => {
    const net = new Net({
      members: 2,
      // Streams from 0, so that the fragments' numbers are known.
      stack: parseSpec('frag:nak:com', { frag: { fragSize: 10 }, nak: { randomOrigins: false } }),
      registry,
    });
    net.installView(1);
    const [a, b] = net.members as [(typeof net.members)[0], (typeof net.members)[0]];
    net.down(a, cast(bytes(25)));
    net.down(a, cast(bytes(3)));
    net.run(100);
    expect(net.delivered(b).map((d) => d.meta.seq)).toEqual([2, 3]);
  });

  it('reassembles under 20% loss and interleaved senders, every message exact and in order', () => {
    const net = new Net({
      members: 3,
      stack: parseSpec('frag:nak:com', { frag: { fragSize: 100 } }),
      registry,
      loss: 0.2,
      seed: 9,
    });
    net.installView(1);
    const sent = new Map<string, string[]>();
    for (let k = 0; k < 30; k++)
      for (const m of net.members) {
        const p = bytes(1 + ((k * 137 + m.index * 71) % 1_000), k * 10 + m.index + 1);
        sent.set(m.id, [...(sent.get(m.id) ?? []), sha(p)]);
        net.at(k * 3 + m.index, () => net.down(m, cast(p)));
        // A point-to-point message in between, on the other reliable stream.
        const to = net.members[(m.index + 1) % 3]!;
        net.at(k * 3 + m.index + 0.5, () =>
          net.down(m, {
            type: 'send',
            to: to.id,
            msg: { headers: ['p2p'], payload: bytes(250, k) },
            qos: { order: 'fifo' },
          }),
        );
      }
    net.run(20_000);
    for (const r of net.members) {
      expect(r.errors).toEqual([]);
      for (const s of net.members) {
        const got = net
          .delivered(r)
          .filter((d) => d.from === s.id && d.cast)
          .map((d) => sha(d.msg.payload));
        expect(got).toEqual(sent.get(s.id));
      }
      const p2p = net.delivered(r).filter((d) => !d.cast);
      expect(p2p).toHaveLength(30);
      expect(p2p.every((d) => d.msg.headers[0] === 'p2p' && d.msg.payload.length === 250)).toBe(true);
      expect(r.stack.stats().frag!.partials).toBe(0);
    }
  });

  it('keeps the nak invariants in the simulator with every fault, sim payloads cut into 4-byte fragments', () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const cfg = defaultConfig(seed, 3 + (seed % 4), ALL_FAULTS);
      const r = runScenario({
        ...cfg,
        stack: parseSpec('frag:nak:com', { frag: { fragSize: 4 } }),
        registry,
      });
      bad.push(...r.violations.map((v) => `seed ${seed}: ${v}`));
      const fragmented = r.world.incarnations.reduce((n, i) => n + (i.stats().frag?.fragmented ?? 0), 0);
      expect(fragmented).toBeGreaterThan(0);
    }
    expect(bad).toEqual([]);
  });
});

describe('frag limits', () => {
  const one = (o: Record<string, unknown> = {}) =>
    buildStack(parseSpec('frag:nak:com', { frag: o }), registry, {
      self: '0000000a.1',
      groupName: 'g',
      random: seededRandom(1),
    });
  const errors = (effects: Effect[]) =>
    effects.flatMap((e) => (e.kind === 'error' ? [(e.error as { code?: string }).code] : []));

  it('refuses a message larger than maxMessage at the sender', () => {
    const s = one({ fragSize: 10, maxMessage: 100 });
    expect(errors(s.down(cast(bytes(101)), 0))).toEqual(['MESSAGE_TOO_LARGE']);
    expect(errors(s.down(cast(bytes(100)), 0))).toEqual([]);
  });

  it('does not fragment an unreliable message: too large for one fragment is refused', () => {
    const s = one({ fragSize: 10 });
    const unreliable = (n: number): DownEvent => ({
      type: 'cast',
      msg: { headers: [], payload: bytes(n) },
      qos: { order: 'unreliable' },
    });
    expect(errors(s.down(unreliable(11), 0))).toEqual(['MESSAGE_TOO_LARGE']);
    expect(errors(s.down(unreliable(10), 0))).toEqual([]);
  });

  it.each([
    ['fragSize', 0],
    ['fragSize', -1],
    ['maxMessage', 0],
    ['fragSize', 1.5],
    ['fragSize', 'x'],
  ])('rejects option %s = %s', (k, v) => {
    expect(() => one({ [k]: v })).toThrow(expect.objectContaining({ code: 'STACK_BAD_OPTION' }));
  });
});

describe('frag facing forged and malformed fragments', () => {
  const evil = { node: 0xbad, inc: 1 };
  /** A packet from `evil` with these headers (com's fixed header in front). */
  const raw = (headers: unknown[], payload: Uint8Array) =>
    encodePacket({
      type: PacketType.Stack,
      flags: 0,
      groupId: groupIdOf('g'),
      sender: evil,
      headers,
      payload,
    });
  /** A packet as nak:com would carry it: nak data header [1, 0, seq] below the frag header. */
  const packet = (fragHeader: unknown, seq: number, payload: Uint8Array, upper: unknown[] = []) =>
    raw([...upper, fragHeader, [1, 0, seq]], payload);
  const stack = (o: Record<string, unknown> = { fragSize: 10, maxMessage: 1_000 }) =>
    // Packets written by hand: nak streams from 0.
    buildStack(parseSpec('frag:nak:com', { frag: o, nak: { randomOrigins: false } }), registry, {
      self: '00000001.1',
      groupName: 'g',
      random: seededRandom(1),
    });
  const ups = (effects: Effect[]): UpEvent[] => effects.flatMap((e) => (e.kind === 'up' ? [e.event] : []));

  it('reassembles a well-formed forged-sender sequence (control case)', () => {
    const s = stack();
    s.receive(packet([1, 2, 0, 15], 0, bytes(10), ['up']), 'evil:1', 0);
    const out = ups(s.receive(packet([1, 2, 1, 15], 1, bytes(5)), 'evil:1', 1));
    expect(out).toHaveLength(1);
    expect(out[0]!.type === 'deliver' && out[0]!.msg.headers).toEqual(['up']);
  });

  it.each([
    ['a count of 1', [1, 1, 0, 5]],
    ['an index past the count', [1, 2, 2, 15]],
    ['more fragments than bytes', [1, 20, 0, 15]],
    ['a total above maxMessage', [1, 2, 0, 1_001]],
    ['a negative index', [1, 2, -1, 15]],
    ['a string count', [1, 'two', 0, 15]],
    ['a missing total', [1, 2, 0]],
    ['an unknown kind', [7]],
    ['no array', 'frag'],
  ])('refuses %s and keeps working', (_name, header) => {
    const s = stack();
    expect(ups(s.receive(packet(header, 0, bytes(10)), 'evil:1', 0))).toEqual([]);
    expect(s.stats().stack!.refused).toBe(1);
    const ok = ups(s.receive(packet([0], 1, bytes(3)), 'evil:1', 1));
    expect(ok.map((e) => e.type)).toEqual(['deliver']);
  });

  it('drops the partial message when a fragment claims more than maxMessage mid-run', () => {
    const s = stack();
    s.receive(packet([1, 3, 0, 25], 0, bytes(10)), 'evil:1', 0);
    expect(s.stats().frag!.partials).toBe(1);
    s.receive(packet([1, 3, 1, 5_000], 1, bytes(10)), 'evil:1', 1);
    expect(s.stats().stack!.refused).toBe(1);
    expect(s.stats().frag!.partials).toBe(0);
  });

  it('refuses a skipped index, a changed count and a wrong length, dropping the partial each time', () => {
    for (const bad of [
      [[1, 3, 2, 25], bytes(5)],
      [[1, 4, 1, 25], bytes(10)],
      [[1, 3, 1, 26], bytes(10)],
      [[1, 3, 1, 25], bytes(20)],
      [[1, 3, 1, 25], bytes(0)],
    ] as const) {
      const s = stack();
      s.receive(packet([1, 3, 0, 25], 0, bytes(10)), 'evil:1', 0);
      expect(ups(s.receive(packet(bad[0], 1, bad[1]), 'evil:1', 1))).toEqual([]);
      expect(s.stats().stack!.refused).toBe(1);
      expect(s.stats().frag!.partials).toBe(0);
      // A later, valid fragment 2 of the broken message is refused too: nothing is spliced.
      expect(ups(s.receive(packet([1, 3, 2, 25], 2, bytes(5)), 'evil:1', 2))).toEqual([]);
    }
  });

  it('refuses a last fragment that leaves the total short', () => {
    const s = stack();
    s.receive(packet([1, 2, 0, 15], 0, bytes(10)), 'evil:1', 0);
    expect(ups(s.receive(packet([1, 2, 1, 15], 1, bytes(4)), 'evil:1', 1))).toEqual([]);
    expect(s.stats().stack!.refused).toBe(1);
  });

  it('drops an orphan fragment at a join point without blaming the sender', () => {
    const s = stack();
    s.down({ type: 'expect', member: '00000bad.1', seq: 5 }, 0);
    expect(ups(s.receive(packet([1, 3, 1, 25], 5, bytes(10)), 'evil:1', 0))).toEqual([]);
    expect(ups(s.receive(packet([1, 3, 2, 25], 6, bytes(5)), 'evil:1', 0))).toEqual([]);
    expect(s.stats().frag!.orphans).toBe(2);
    expect(s.stats().stack!.refused).toBe(0);
    const ok = ups(s.receive(packet([0], 7, bytes(3)), 'evil:1', 1));
    expect(ok.map((e) => e.type)).toEqual(['deliver']);
    // With no gap below, a fragment without its start is the sender's fault: refused.
    expect(ups(s.receive(packet([1, 3, 1, 25], 8, bytes(10)), 'evil:1', 2))).toEqual([]);
    expect(s.stats().stack!.refused).toBe(1);
  });

  it('abandons a partial message when the stream below skips ahead (nak gave up on a range)', () => {
    const s = stack();
    s.receive(packet([1, 3, 0, 25], 0, bytes(10)), 'evil:1', 0);
    // seq 1 never arrives; seq 2 waits in nak until the sender says seq 1 is gone for good.
    expect(ups(s.receive(packet([1, 3, 2, 25], 2, bytes(5)), 'evil:1', 1))).toEqual([]);
    const gone = raw([[4, 0, 2, 0]], new Uint8Array(0)); // nonce 0: origins not random
    expect(ups(s.receive(gone, 'evil:1', 1)).map((e) => e.type)).toEqual(['lost']);
    expect(s.stats().frag!).toMatchObject({ abandoned: 1, orphans: 1, partials: 0 });
    expect(s.stats().stack!.refused).toBe(0);
    const next = ups(s.receive(packet([1, 2, 0, 12], 3, bytes(10)), 'evil:1', 2));
    expect(next).toEqual([]);
    const done = ups(s.receive(packet([1, 2, 1, 12], 4, bytes(2)), 'evil:1', 3));
    expect(done.map((e) => e.type === 'deliver' && e.msg.payload.length)).toEqual([12]);
  });

  it('an unreliable message between two fragments (a heartbeat) leaves the run intact', () => {
    // nak's unreliable header [0] carries no sequence number: outside the reliable stream.
    const unreliable = (payload: Uint8Array) => raw([[0], [0]], payload);
    const s = stack();
    s.receive(packet([1, 3, 0, 25], 0, bytes(10)), 'evil:1', 0);
    s.receive(packet([1, 3, 1, 25], 1, bytes(10)), 'evil:1', 1);
    const beat = ups(s.receive(unreliable(bytes(2)), 'evil:1', 2));
    expect(beat.map((e) => e.type === 'deliver' && e.msg.payload.length)).toEqual([2]);
    expect(s.stats().frag!).toMatchObject({ partials: 1, abandoned: 0 });
    const done = ups(s.receive(packet([1, 3, 2, 25], 2, bytes(5)), 'evil:1', 3));
    expect(done.map((e) => e.type === 'deliver' && e.msg.payload.length)).toEqual([25]);
    expect(s.stats().stack!.refused).toBe(0);
    // A fragment without a place in the stream is refused and does not touch the next run.
    s.receive(packet([1, 2, 0, 15], 3, bytes(10)), 'evil:1', 4);
    expect(ups(s.receive(raw([[1, 2, 1, 15], [0]], bytes(5)), 'evil:1', 6))).toEqual([]);
    expect(s.stats().stack!.refused).toBe(1);
    const last = ups(s.receive(packet([1, 2, 1, 15], 4, bytes(5)), 'evil:1', 7));
    expect(last.map((e) => e.type === 'deliver' && e.msg.payload.length)).toEqual([15]);
  });

  it('holds at most 64 streams and maxMessage bytes of partials for senders outside the view', () => {
    // 200 invented senders each beginning a large cast and never finishing it held 57 MiB for
    // good, over UDP from one address (session 19's hostile-input review).
    const s = stack();
    const view = { id: 1, members: ['00000001.1'], addresses: ['10.0.0.1:1'], epoch: 1 };
    s.down({ type: 'view', view } as never, 0);
    const from = (i: number, frag: unknown, seq: number) =>
      encodePacket({
        type: PacketType.Stack,
        flags: 0,
        groupId: groupIdOf('g'),
        sender: { node: 0x1000 + i, inc: 1 },
        headers: [frag, [1, 0, seq]],
        payload: bytes(10),
      });
    for (let i = 0; i < 200; i++)
      for (let k = 0; k < 5; k++) s.receive(from(i, [1, 100, k, 1_000], k), `10.9.${i >> 8}.${i & 255}:1`, i);
    const st = s.stats().frag!;
    expect(st.partialBytes).toBeLessThanOrEqual(1_000);
    expect(st.partials).toBeLessThanOrEqual(64);
    expect(st.strangersDropped).toBeGreaterThan(0);
    // A member is not bound by it: its message completes.
    const member = {
      id: 2,
      members: ['00000001.1', '000011f4.1'],
      addresses: ['10.0.0.1:1', '10.8.0.1:1'],
      epoch: 1,
    };
    s.down({ type: 'view', view: member } as never, 300);
    let out: UpEvent[] = [];
    for (let k = 0; k < 100; k++)
      out = ups(s.receive(from(500, [1, 100, k, 1_000], k), '10.8.0.1:1', 301 + k));
    expect(out.map((e) => e.type)).toEqual(['deliver']);
  });

  it('forget drops the reassembly state of that member', () => {
    const s = stack();
    s.receive(packet([1, 3, 0, 25], 0, bytes(10)), 'evil:1', 0);
    expect(s.stats().frag!.partials).toBe(1);
    s.down({ type: 'forget', member: '00000bad.1' }, 1);
    expect(s.stats().frag!.partials).toBe(0);
  });
});
