// Forged datagrams in a member's name, for a keyless simulated group: the harness of
// test/stack/spoofed-member.test.ts and test/sim/repro/nak-spray.ts (docs/protocol.md, threat
// model A'). A forger spoofs a member's source address but is off the members' path.
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { endpointOf } from '../../runtime/stack/member.js';
import { encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { GMS_SIM_OPTIONS, groupConfig, planProbes } from './scenario.js';
import { World } from './world.js';

/** Three members of a keyless group, the first `casters` of them casting in turn every `everyMs`
 * from 0.5 s to 8 s (seed 7). */
export function world(everyMs = 20, casters = 3): World {
  const w = new World({
    ...groupConfig(7, 3, []),
    stack: parseSpec(GROUP_STACK, GMS_SIM_OPTIONS),
    qos: { order: 'total' },
    endMs: 12_000,
    probeAtMs: 9_000,
  });
  for (let t = 500; t < 8_000; t += everyMs) w.at(t, () => w.cast(w.nodes[(t / everyMs) % casters]!));
  planProbes(w);
  return w;
}

/** A datagram from `from` reaching node `to`'s stack (the world's private delivery path). */
export function inject(w: World, to: number, from: string, bytes: Uint8Array): void {
  const n = w.nodes[to]!;
  const world = w as unknown as { onNode(n: unknown, inc: number, fn: () => unknown[]): void };
  world.onNode(n, n.inc, () => n.runner.receive(bytes, from, w.now));
}

/** A packet in `sender`'s name with the given headers (bottom layer's last). */
export const forged = (sender: string, headers: unknown[], unicast: boolean) =>
  encodePacket({
    type: PacketType.Stack,
    flags: unicast ? Flags.Unicast : 0,
    groupId: groupIdOf('sim'),
    sender: endpointOf(sender),
    headers,
    payload: new Uint8Array(0),
  });

/** Under gms: frag Whole, stable Data, nak Unreliable, pack Single. */
export const UNRELIABLE = [[0], [0], [0], [0]];

/** At 3 s, `attack` sends the forged datagrams (to a node index), knowing the view then. */
export function attacked(
  attack: (
    send: (to: number, from: string, bytes: Uint8Array) => void,
    members: readonly string[],
    viewId: number,
    addressOf: (m: string) => string,
    epoch: number,
  ) => void,
) {
  const w = world();
  w.at(3_000, () => {
    const v = w.nodes[0]!.rec.views.at(-1)!;
    const index = (m: string) => w.nodes.findIndex((n) => n.rec.member === m);
    attack(
      (to, from, bytes) => inject(w, to, from, bytes),
      v.members,
      v.id,
      (m) => w.nodes[index(m)]!.address,
      v.epoch ?? 0,
    );
  });
  w.run();
  const incarnations = w.nodes.map((n) => w.incarnations.filter((r) => r.node === n.index).length);
  return { w, incarnations, violations: GROUP_CHECKERS.flatMap((c) => c.check(w)) };
}
