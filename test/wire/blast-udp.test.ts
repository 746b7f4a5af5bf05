// A live hostile blast over real UDP on loopback, with a group key. Three bank replicas run in
// their own processes, the blaster in another, the client in the test's; the client keeps
// depositing throughout. Three rounds, each 1 s of junk then 1 s of attack at 1,500 datagrams a
// second, of the same sizes, with 1 s quiet between: junk is random bytes, refused at the fixed
// header (what any datagram costs a member's socket and event loop); the attack is authentic
// packets the members and the client sent, replayed verbatim to their receiver and to other
// members, the same with one byte altered, forged packets of every type without a tag, and
// random bytes.
// Asserted: no forged packet accepted, no addressed packet accepted from the blaster at all, no
// view change, the replicas agree, no call failed, and calls per second under the attack at least
// a third of those under junk (and a tenth of the quiet rate, against a collapse). On this shared
// 2-CPU machine at load averages of 20-40 the ratio varied from 0.3 to 3.6 between runs of the
// earlier 3 s + 3 s design; an idle machine should see both near the quiet rate.
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { bytes, header, mutate, rng } from '../fuzz/gen.js';
import { TEST_KEY } from '../support/key.js';
import { type BlastRig, measureBlasts, startBlastRig } from './fixtures/blast-harness.js';

/** Datagrams per second (TROUPE_BLAST_RATE overrides). */
const RATE = Number(process.env.TROUPE_BLAST_RATE ?? 1_500);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

let rig: BlastRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('hostile blast over real UDP, with a key', () => {
  it('no forged or replayed packet accepted, no view change, calls/s under the blast', async () => {
    rig = await startBlastRig(TEST_KEY);
    const r = rig;
    // Let the workload run before recording, so the blaster holds calls, replies and casts.
    await r.rate(1_000);
    const recorded = [
      ...(await Promise.all([0, 1, 2].map((i) => r.sent(i)))).flat().map((s) => s.bytes),
      ...r.clientSent.map((s) => s.bytes),
    ];
    const legit = new Set(recorded.map(b64));
    const before = await Promise.all([0, 1, 2].map((i) => r.state(i)));

    const g = rng(99);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(g() * xs.length)]!;
    const gid = groupIdOf('bank');
    const hostile = (): Uint8Array => {
      const x = g();
      const rec = pick(recorded);
      if (x < 0.4) return rec; // replayed verbatim, to its receiver or another member
      if (x < 0.55) return mutate(g, rec);
      if (x < 0.9)
        return encodePacket({
          type: pick([PacketType.Stack, PacketType.Discovery, PacketType.Client]),
          flags: g() < 0.5 ? 2 : 0,
          groupId: gid,
          sender: { node: Math.floor(g() * 2 ** 32), inc: 1 + Math.floor(g() * 3) },
          headers: [header(g), header(g), [0]],
          payload: bytes(g, 200),
        });
      return bytes(g, 120);
    };
    const attack = Array.from({ length: 3_000 }, () => ({ port: pick(r.ports), bytes: hostile() }));
    // Noise of the attack's sizes; a first byte of 0 is never a packet's version.
    const noise = attack.map((d) => {
      const b = bytes(g, d.bytes.length);
      b[0] = 0;
      return { port: d.port, bytes: b.length > 0 ? b : new Uint8Array(1) };
    });
    // Three rounds of 1 s of junk then 1 s of attack, 1 s quiet between: the machine's load drifts
    // over seconds, and interleaving weighs the drift on both alike.
    const half = attack.length / 2;
    const rounds = [0, 1, 2].flatMap((k) => {
      const from = (k * half) / 2;
      return [noise.slice(from, from + half), attack.slice(from, from + half)];
    });
    const m = await measureBlasts(r, rounds, RATE, 1_000, 1_000);
    await r.stopWorkload();

    const after = await Promise.all([0, 1, 2].map((i) => r.state(i)));
    const seen = after.reduce((n, s) => n + s.blast.seen, 0);
    const accepted = after.reduce((n, s) => n + s.blast.accepted, 0);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const noiseRate = mean(m.during.filter((_, i) => i % 2 === 0));
    const attackRate = mean(m.during.filter((_, i) => i % 2 === 1));
    console.log(
      `keyed blast (load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}): ${m.blasted.join('+')} datagrams, ` +
        `${seen} seen by members, ${accepted} accepted (discovery/client ` +
        `${after.map((s) => `${s.blast.discovery}/${s.blast.client}`).join(' ')}); ` +
        `calls/s quiet ${m.quiet.map((q) => q.toFixed(0)).join('/')}, noise ${noiseRate.toFixed(0)}, ` +
        `attack ${attackRate.toFixed(0)}; attack/noise ${(attackRate / noiseRate).toFixed(2)}, ` +
        `attack/quiet ${(attackRate / m.quietMean).toFixed(2)}; com unauthenticated/replayed/stale ` +
        after
          .map((s) => `${s.stats.com!.unauthenticated}/${s.stats.com!.replayed}/${s.stats.com!.stale}`)
          .join(' '),
    );
    expect(Math.min(...m.blasted)).toBeGreaterThanOrEqual(RATE * 0.8);
    expect(seen).toBeGreaterThan(RATE * 4);
    // Nothing forged, and no addressed packet accepted from the blaster: recorded ones are
    // replays, refused by their windows, their receiver, or the base a handshake set (nothing
    // signed before a member's handshake with the sender is accepted there). What may remain, as
    // docs/protocol.md's threat model says: a recorded unaddressed cast or Discovery packet signed
    // after the handshake that its replay target never received (a cast of a view it was not in
    // yet, a beacon to a seed address), once, within the window and 60 s; and a client's hello.
    for (const s of after) expect(s.blast).toMatchObject({ addressed: 0 });
    expect(accepted).toBeLessThanOrEqual(attack.filter((d) => legit.has(b64(d.bytes))).length);
    for (const [i, s] of after.entries()) {
      expect(s.view.id).toBe(before[i]!.view.id);
      expect(s.views.length).toBe(before[i]!.views.length);
      expect(s.errors).toEqual([]);
    }
    const audit = await r.bank.audit();
    for (const e of audit.entries) expect(e).toMatchObject({ status: 'ok', value: { total: r.calls() } });
    expect(r.failures).toEqual([]);
    expect(attackRate).toBeGreaterThanOrEqual(noiseRate / 3);
    expect(attackRate).toBeGreaterThan(m.quietMean / 10);
  }, 90_000);
});
