// FINDINGS 120 live: three keyless seeds over real UDP, and a host that sends each of them a
// forged `Here` (one 33-byte datagram, in its own name from its own address, no spoofing) every
// 3 × suspectMs less a little. Before, every join ended in JOIN_TIMEOUT: the seeds took the
// datagram as proof that a group exists and never founded. Now word of a group counts only
// while its address answers the joiner's Joins with their challenge (FINDINGS 134).
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import { udp } from '../../runtime/transport/udp.js';
import { encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

const FAST = {
  gms: { heartbeatMs: 50, suspectMs: 100, partitionMs: 300, bootstrapMs: 200, joinRetryMs: 50 },
};

let groups: Group[] = [];
let forger: Socket | undefined;
afterEach(async () => {
  forger?.close();
  forger = undefined;
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
});

it('three keyless seeds found their group while a forged Here reaches each every 250 ms', async () => {
  const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  forger = createSocket('udp4');
  await new Promise<void>((r) => forger!.bind(0, '127.0.0.1', () => r()));
  const own = `127.0.0.1:${forger.address().port}`;
  const here = encodePacket({
    type: PacketType.Discovery,
    flags: Flags.Unicast,
    groupId: groupIdOf('forged'),
    sender: { node: 0xdead, inc: 1 },
    headers: [[10, 5, '0000dead.1', own, '']],
    payload: new Uint8Array(0),
  });
  const send = () => {
    for (const s of seeds) forger!.send(here, Number(s.split(':')[1]), '127.0.0.1');
  };
  send();
  const timer = setInterval(send, 250);
  try {
    const joined = await Promise.allSettled(
      ts.map((transport) =>
        joinGroup('forged', { seeds, transport, layers: FAST, insecure: true, joinTimeoutMs: 8_000 }),
      ),
    );
    groups = joined.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    // Before: three JOIN_TIMEOUTs ("3 of 3 seeds up, founding needs 2").
    expect(joined.map((r) => (r.status === 'rejected' ? String(r.reason) : 'joined'))).toEqual([
      'joined',
      'joined',
      'joined',
    ]);
    expect(new Set(groups.map((g) => g.view?.id))).toEqual(new Set([1]));
    expect(groups.some((g) => (g.stats().gms?.claimsUnproven ?? 0) > 0)).toBe(true);
  } finally {
    clearInterval(timer);
  }
}, 20_000);
