// Keyless groups, FINDINGS 215: before a stack holds a view with a sender in it, com pins no
// address for that sender's id, and a Sync goes to whoever spoke last in its name. A forger that
// knows a joiner's id ahead (a restarted process's is predictable enough; a keyless `status`
// gives ids and addresses) speaks first in it from its own address: each member asks the forger
// where the joiner's cast stream begins, takes its answer, and the stream is the forger's. The
// joiner's own casts then lie 2^47 positions away and are not delivered there.
//
//   npx tsx test/sim/repro/joiner-origin.ts [joiner|coordinator]
//
// Node 2 of a three-member group crashes at 3 s; at 4.5 s a new process starts there and joins.
// In that instant, before its first Join leaves, a forger at `x9` speaks first, and answers every
// Sync that reaches it with an Origin at a position of its choosing:
// `joiner` (the default): to each other member, three nak Data of the joiner's cast stream in the
// joiner's id. Before session 39 the members took the forger's origin, never delivered the
// joiner's casts, and the joiner was excluded.
// `coordinator`: to the joiner, in the coordinator's id, nak Data of the coordinator's
// point-to-point stream to the joiner carrying an Install of a view of the coordinator (at x9)
// and the joiner. Before session 41 the joiner asked x9, took its origin and installed the forged
// view (its casts never reached the members, and a third incarnation joined in its place).
// `race`: as `coordinator`, but first the forger makes the joiner send it a Join (it Joins the
// joiner from x9 in an invented id, and a joiner answers a new challenge at once), then speaks in
// the coordinator's id from x9 with a Here that echoes the challenge of that Join: the coordinator
// has proved x9 before its own Here arrives. `race-join`: the same with a Join in the
// coordinator's id that echoes it. A Join proves a joiner's address, and a joiner asks a proven
// joiner where its stream to it begins (founding needs it): here the forger may be asked, and
// what counts is that nothing it sends is installed.
// Prints what the forger was asked and what the forgery did; exits 1 if it works.

import { endpointOf } from '../../../runtime/stack/member.js';
import { decodePacket, encodePacket, groupIdOf, PacketType } from '../../../runtime/wire/index.js';
import { GROUP_CHECKERS } from '../group-checkers.js';
import { forged, inject, world } from '../spoof.js';

/** The forger's address: not a member's; it receives what members send there. */
export const FORGER = 'x9';
/** Where the forger says the joiner's streams begin. */
const FORGED_ORIGIN = 123_456_789;

/** nak Data of the sender's cast stream at `seq` carrying gms header `gms` (frag Whole, stable Data, pack Single). */
const atSeq = (gms: unknown[], seq: number) => [gms, [0], [0], [1, 0, seq], [0]];

/** A discovery packet (a Join or a Here) in `sender`'s name. */
const discovery = (sender: string, header: unknown[]) =>
  encodePacket({
    type: PacketType.Discovery,
    flags: 0,
    groupId: groupIdOf('sim'),
    sender: endpointOf(sender),
    headers: [header],
    payload: new Uint8Array(0),
  });

export type Forgery = 'joiner' | 'coordinator' | 'race' | 'race-join';

export function joinerOriginRun(kind: Forgery = 'joiner') {
  const w = world();
  const asked = { cast: 0, p2p: 0, answered: 0 };
  let joiner = '';
  /** The id the forger speaks in. */
  let as = '';
  /** `race`: the Install the forger sends once the coordinator's id proved x9. */
  let install: Uint8Array | undefined;
  w.addEndpoint(FORGER, (bytes, from) => {
    const p = decodePacket(bytes);
    const gms = p.headers[0] as unknown[];
    if (p.type === PacketType.Discovery && install && gms[0] === 9 && typeof gms[4] === 'string') {
      // The joiner's answer to our Join: its challenge for x9, echoed in the coordinator's id in a
      // Here (gms kind 10: view id, coordinator, its address, nonce, echo) or a Join.
      const view = w.nodes[0]!.rec.views.at(-1)!;
      const proof =
        kind === 'race' ? [10, view.id, as, FORGER, '', gms[4]] : [9, '', '', 1, 'f00d', [gms[4]]];
      inject(w, 2, FORGER, discovery(as, proof));
      inject(w, 2, FORGER, install);
      install = undefined;
      return;
    }
    const nakHeader = p.headers[p.headers.length - 2] as unknown[] | undefined;
    if (!Array.isArray(nakHeader) || nakHeader[0] !== 7) return;
    const [, channel, nonce] = nakHeader as [number, number, number];
    if (channel === 0) asked.cast++;
    else asked.p2p++;
    const to = w.nodes.findIndex((n) => n.address === from);
    if (to < 0 || joiner === '') return;
    asked.answered++;
    inject(w, to, FORGER, forged(as, [[8, channel, nonce, FORGED_ORIGIN], [0]], true));
  });
  w.at(3_000, () => w.crash(w.nodes[2]!));
  w.at(4_500, () => {
    w.restart(2);
    joiner = w.nodes[2]!.rec.member;
    // The forger speaks first: the joiner's first Join leaves after this turn.
    const view = w.nodes[0]!.rec.views.at(-1)!;
    if (kind === 'joiner') {
      as = joiner;
      for (const to of [0, 1])
        for (let k = 0; k < 3; k++)
          inject(w, to, FORGER, forged(joiner, atSeq([0, view.id + 1, 0, k], FORGED_ORIGIN + k), false));
      return;
    }
    // An Install (gms kind 8) of view id + 1 (attempt 1) of the coordinator at x9 and the joiner,
    // on the coordinator's point-to-point stream to the joiner (nak Data, channel 1, naming it).
    as = view.members[0]!;
    const header = [
      8,
      view.id + 1,
      1,
      [as, joiner],
      [FORGER, w.nodes[2]!.address],
      [joiner],
      [],
      [],
      [],
      4095,
    ];
    const bytes = forged(as, [header, [0], [0], [1, 1, FORGED_ORIGIN, joiner], [0]], true);
    if (kind === 'coordinator') {
      inject(w, 2, FORGER, bytes);
      return;
    }
    // A Join in an invented id (kind 9: no vote, no nonce, counts, a challenge, no echoes).
    install = bytes;
    inject(w, 2, FORGER, discovery('0000f00d.1', [9, '', '', 1, 'f00df00d', []]));
  });
  w.run();
  const j = w.incarnations.find((r) => r.member === joiner)!;
  const joinerCasts = j.casts.length;
  const deliveredAt = [0, 1].map(
    (i) => w.incarnations.filter((r) => r.node === i && r.member === w.nodes[i]!.rec.member)[0]!,
  );
  const fromJoiner = deliveredAt.map((r) => r.delivered.filter((d) => d.from === joiner).length);
  return {
    /** Incarnations node 2 ran: 2 (the crashed one and the joiner) unless the joiner was stopped. */
    incarnations: w.incarnations.filter((i) => i.node === 2).length,
    /** Views the joiner's gms installed (the forged one never reaches the application: the
     * joiner stops waiting for its state). */
    installed: j.stats().gms?.views ?? 0,
    /** Installs the joiner refused: from a sender no Here proved. */
    unproven: j.stats().gms?.installsUnproven ?? 0,
    w,
    joiner,
    asked,
    joinerCasts,
    fromJoiner,
    joined: deliveredAt.every((r) => r.views.some((v) => v.members.includes(joiner))),
    violations: GROUP_CHECKERS.flatMap((c) => c.check(w)),
    endpoint: endpointOf(joiner),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = process.argv[2];
  const kind = arg === 'coordinator' || arg === 'race' || arg === 'race-join' ? arg : 'joiner';
  const r = joinerOriginRun(kind);
  const harmed =
    r.asked.cast > 0 ||
    (kind !== 'race-join' && r.asked.p2p > 0) ||
    r.fromJoiner.some((n) => n < r.joinerCasts) ||
    !r.joined ||
    r.incarnations > 2;
  console.log(
    `${kind}: joiner ${r.joiner}: the forger was asked ${r.asked.cast} cast and ${r.asked.p2p} point-to-point Syncs ` +
      `(answered ${r.asked.answered}); the joiner's gms installed ${r.installed} views, refused ${r.unproven} Installs; the joiner ${r.joined ? 'joined' : 'never joined'}, ` +
      `node 2 ran ${r.incarnations} incarnations, the joiner cast ${r.joinerCasts}, ` +
      `members delivered ${JSON.stringify(r.fromJoiner)}; violations ${r.violations.length}` +
      (harmed ? ': the forgery works (open)' : ': the forgery failed'),
  );
  process.exit(harmed ? 1 : 0);
}
