// A live blast of forged control messages over real UDP against a group without a key
// (`insecure: true`): what issue 11 showed one datagram each could do. Three bank replicas in
// their own processes, the blaster in another, a client in the test's process depositing all
// along. The blaster sends, at 1,000 datagrams a second, a mix of:
// - heartbeats in other members' names with view ids 1,000+ ahead, or impossible epochs;
// - Installs in the coordinator's name of a next view without their receiver;
// - Suspects of each member from invented senders, to the coordinator, unreliable and as the
//   first message of a reliable stream;
// - Joins from invented ids, to every member;
// - the client's deposit requests, taken from what the members cast, re-sent as unreliable
//   view-tagged casts to one replica only;
// - client `view` packets in the contact's name, naming only the blaster.
// Three rounds of 1 s of random bytes of the same rate and sizes (what junk costs), then 1 s of
// the forged mix, 1 s quiet between: the machine's load drifts over seconds, and interleaving
// weighs the drift on both alike.
// Asserted: no view change at all (nobody excluded; no invented joiner admitted, not even for a
// view: gms records a joiner only when its Join echoes the nonce the coordinator sent to the
// joiner's address, and the forger does not receive there), the replicas agree (balances and
// audit), the client never followed the blaster, the workload kept going (its rate during the
// forged blasts at least half that during the junk blasts; both printed against the quiet phases).
// About 30 s on the shared 2-CPU machine.
import { afterEach, describe, expect, it } from 'vitest';
import { encodeClientPacket } from '../../runtime/rpc/protocol.js';
import { endpointOf } from '../../runtime/stack/member.js';
import { decodePacket, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { bytes, rng } from '../fuzz/gen.js';
import { type BlastRig, measureBlasts, startBlastRig } from './fixtures/blast-harness.js';

const RATE = Number(process.env.TROUPE_BLAST_RATE ?? 1_000);

let rig: BlastRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('hostile blast over real UDP, without a key: forged control messages', () => {
  it('no view change, no invented member, replicas agree, the workload keeps going', async () => {
    rig = await startBlastRig(undefined);
    const r = rig;
    await r.rate(1_000);
    const before = await Promise.all([0, 1, 2].map((i) => r.state(i)));
    const { id: v, members, addresses, epoch } = before[0]!.view;
    const real = new Set(members);
    const portOf = (m: string) => Number(addresses[members.indexOf(m)]!.split(':')[1]);
    const coordinator = members[0]!;
    const gid = groupIdOf('bank');
    const g = rng(7);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(g() * xs.length)]!;
    const invented = () => ({ node: 0x7000_0000 + Math.floor(g() * 0x0fff_ffff), inc: 1 });
    const stack = (
      sender: { node: number; inc: number },
      gms: unknown[],
      unicast: boolean,
      nak: unknown[] = [0],
    ) =>
      encodePacket({
        type: PacketType.Stack,
        flags: unicast ? Flags.Unicast : 0,
        groupId: gid,
        sender,
        headers: [gms, [0], [0], nak, [0]],
        payload: new Uint8Array(0),
      });
    // The client's requests as the members cast them: [core, batch, fc, seq, gms Data, frag, stable, nak, pack].
    const requests = (await Promise.all([0, 1, 2].map((i) => r.sent(i))))
      .flat()
      .map((s) => decodePacket(s.bytes))
      .filter(
        (p) => p.type === PacketType.Stack && p.headers.length === 9 && (p.headers[4] as unknown[])[0] === 0,
      );
    expect(requests.length).toBeGreaterThan(0);
    const victim = members[2]!;
    const kinds: Record<string, number> = {};
    const forged = (): { port: number; bytes: Uint8Array } => {
      // BLAST_KINDS=0,3 (replay aid): only these kinds.
      const only = process.env.BLAST_KINDS?.split(',').map(Number);
      const k = only ? only[Math.floor(g() * only.length)]! : Math.floor(g() * 7);
      const target = pick(members);
      const other = pick(members.filter((m) => m !== target));
      const notCoordinator = pick(members.filter((m) => m !== coordinator));
      let d: { port: number; bytes: Uint8Array };
      if (k === 0)
        d = {
          port: portOf(target),
          bytes: stack(endpointOf(other), [1, v + 1_000 + Math.floor(g() * 1e6), epoch, 0, 0], false),
        };
      else if (k === 1)
        d = {
          port: portOf(target),
          bytes: stack(endpointOf(other), [1, v, epoch + 4096 * 1_000, 1_000, 0], false),
        };
      else if (k === 2) {
        const rest = members.filter((m) => m !== notCoordinator);
        const install = [
          8,
          v + 1,
          1,
          rest,
          rest.map((m) => addresses[members.indexOf(m)]!),
          [],
          [],
          [notCoordinator],
          [],
          epoch + 1,
        ];
        d = { port: portOf(notCoordinator), bytes: stack(endpointOf(coordinator), install, true) };
      } else if (k === 3) {
        const reliable = g() < 0.5;
        const suspect = [12, v, pick(members.filter((m) => m !== coordinator)), 5_000];
        d = {
          port: portOf(coordinator),
          bytes: stack(invented(), suspect, true, reliable ? [1, 1, 0, coordinator] : [0]),
        };
      } else if (k === 4)
        d = {
          port: portOf(target),
          bytes: encodePacket({
            type: PacketType.Discovery,
            flags: Flags.Unicast,
            groupId: gid,
            sender: invented(),
            headers: [[9, '']],
            payload: new Uint8Array(0),
          }),
        };
      else if (k === 5) {
        const p = pick(requests);
        const headers = [...p.headers];
        headers[4] = [14, v, epoch];
        headers[7] = [0];
        d = { port: portOf(victim), bytes: encodePacket({ ...p, flags: 0, headers }) };
      } else
        d = {
          port: Number(r.clientAddress.split(':')[1]),
          bytes: encodeClientPacket(
            {
              kind: 'view',
              member: coordinator,
              viewId: v + 1,
              members: ['deadbeef.1'],
              addresses: [r.blasterAddress],
            },
            gid,
            endpointOf(coordinator),
          ),
        };
      kinds[k] = (kinds[k] ?? 0) + 1;
      return d;
    };
    const attack = Array.from({ length: 3 * RATE }, forged);
    const noise = attack.map((d) => {
      const b = bytes(g, d.bytes.length);
      b[0] = 0; // never a packet's magic byte
      return { port: d.port, bytes: b.length > 0 ? b : new Uint8Array(1) };
    });
    const rounds = [0, 1, 2].flatMap((k) => [
      noise.slice(k * RATE, (k + 1) * RATE),
      attack.slice(k * RATE, (k + 1) * RATE),
    ]);
    const m = await measureBlasts(r, rounds, RATE, 1_000, 1_000);
    await r.stopWorkload();
    // The audit first: each replica answers it once it applied every call ordered before it, so
    // the states read next are the same point of the order everywhere (the last batch of calls
    // can still be applying at one replica when the client has its first reply).
    const audit = await r.bank.audit();
    const after = await Promise.all([0, 1, 2].map((i) => r.state(i)));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const noiseRate = mean(m.during.filter((_, i) => i % 2 === 0));
    const attackRate = mean(m.during.filter((_, i) => i % 2 === 1));
    console.log(
      `insecure control blast (load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}): ` +
        `${m.blasted.join('+')} datagrams, kinds ${JSON.stringify(kinds)}; calls/s quiet ` +
        `${m.quiet.map((q) => q.toFixed(0)).join('/')}, junk ${noiseRate.toFixed(0)}, forged ${attackRate.toFixed(0)}; ` +
        `forged/junk ${(attackRate / noiseRate).toFixed(2)}, forged/quiet ${(attackRate / m.quietMean).toFixed(2)}; ` +
        `gms refused ${after.map((s) => s.stats.gms!.refused).join('/')}, joinsRefused ` +
        `${after.map((s) => s.stats.gms!.joinsRefused).join('/')}, joinsUnproven ` +
        `${after.map((s) => s.stats.gms!.joinsUnproven).join('/')}, replica unordered ` +
        `${after.map((s) => s.replica.unordered).join('/')}, impersonated ${after.map((s) => s.replica.impersonated).join('/')}; ` +
        `com addressMismatch ${after.map((s) => s.stats.com!.addressMismatch).join('/')}; ` +
        `failed calls ${r.failures.length}; client ${JSON.stringify(r.client.stats())}; rss MB ${after.map((s) => (s.rss / 1e6).toFixed(0)).join('/')}`,
    );
    for (const s of after) {
      console.log(
        `${s.self}: views ${JSON.stringify(s.views.map((w) => [w.id, w.members.map((x) => (real.has(x) ? x.slice(0, 4) : `FAKE:${x}`))]))}`,
      );
      if (s.partitions.length) console.log(`${s.self} partitioned: ${JSON.stringify(s.partitions)}`);
    }
    expect(Math.min(...m.blasted)).toBeGreaterThanOrEqual(RATE * 0.8);
    for (const [i, s] of after.entries()) {
      // Nobody excluded, nobody invented admitted, not even for a view: no view change at all.
      expect(s.self).toBe(before[i]!.self);
      expect(s.views.map((w) => w.id)).toEqual(before[i]!.views.map((w) => w.id));
      expect(s.view.members).toEqual(members);
      for (const view of s.views) expect(view.members.filter((member) => !real.has(member))).toEqual([]);
      expect(s.balances).toEqual(after[0]!.balances);
      expect(s.errors).toEqual([]);
    }
    for (const e of audit.entries) expect(e).toMatchObject({ status: 'ok', value: { total: r.calls() } });
    expect(r.client.stats().failovers).toBe(0);
    expect(r.failures).toEqual([]);
    expect(attackRate).toBeGreaterThanOrEqual(noiseRate / 2);
    expect(attackRate).toBeGreaterThan(m.quietMean / 10);
  }, 60_000);
});
