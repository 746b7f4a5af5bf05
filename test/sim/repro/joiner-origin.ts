// Keyless groups, FINDINGS 215: before a stack holds a view with a sender in it, com pins no
// address for that sender's id, and a Sync goes to whoever spoke last in its name. A forger that
// knows a joiner's id ahead (a restarted process's is predictable enough; a keyless `status`
// gives ids and addresses) speaks first in it from its own address: each member asks the forger
// where the joiner's cast stream begins, takes its answer, and the stream is the forger's. The
// joiner's own casts then lie 2^47 positions away and are not delivered there.
//
//   npx tsx test/sim/repro/joiner-origin.ts
//
// Node 2 of a three-member group crashes at 3 s; at 4.5 s a new process starts there and joins.
// In that instant, before its first Join leaves, a forger at `x9` sends each other member three
// nak Data of the joiner's cast stream at a position of its choosing, in the joiner's id, and
// answers every Sync that reaches it with an Origin at that position. Prints what the forger was
// asked and whether the members delivered the joiner's casts; exits 1 if the forgery works.

import { endpointOf } from '../../../runtime/stack/member.js';
import { decodePacket } from '../../../runtime/wire/index.js';
import { GROUP_CHECKERS } from '../group-checkers.js';
import { forged, inject, world } from '../spoof.js';

/** The forger's address: not a member's; it receives what members send there. */
export const FORGER = 'x9';
/** Where the forger says the joiner's streams begin. */
const FORGED_ORIGIN = 123_456_789;

/** nak Data of the sender's cast stream at `seq` carrying gms header `gms` (frag Whole, stable Data, pack Single). */
const atSeq = (gms: unknown[], seq: number) => [gms, [0], [0], [1, 0, seq], [0]];

export function joinerOriginRun() {
  const w = world();
  const asked = { cast: 0, p2p: 0, answered: 0 };
  let joiner = '';
  w.addEndpoint(FORGER, (bytes, from) => {
    const p = decodePacket(bytes);
    const nakHeader = p.headers[p.headers.length - 2] as unknown[] | undefined;
    if (!Array.isArray(nakHeader) || nakHeader[0] !== 7) return;
    const [, channel, nonce] = nakHeader as [number, number, number];
    if (channel === 0) asked.cast++;
    else asked.p2p++;
    const to = w.nodes.findIndex((n) => n.address === from);
    if (to < 0 || joiner === '') return;
    asked.answered++;
    inject(w, to, FORGER, forged(joiner, [[8, channel, nonce, FORGED_ORIGIN], [0]], true));
  });
  w.at(3_000, () => w.crash(w.nodes[2]!));
  w.at(4_500, () => {
    w.restart(2);
    joiner = w.nodes[2]!.rec.member;
    // The forger speaks first: the joiner's first Join leaves after this turn.
    const viewId = w.nodes[0]!.rec.views.at(-1)!.id;
    for (const to of [0, 1])
      for (let k = 0; k < 3; k++)
        inject(w, to, FORGER, forged(joiner, atSeq([0, viewId + 1, 0, k], FORGED_ORIGIN + k), false));
  });
  w.run();
  const j = w.incarnations.find((r) => r.member === joiner)!;
  const joinerCasts = j.casts.length;
  const deliveredAt = [0, 1].map(
    (i) => w.incarnations.filter((r) => r.node === i && r.member === w.nodes[i]!.rec.member)[0]!,
  );
  const fromJoiner = deliveredAt.map((r) => r.delivered.filter((d) => d.from === joiner).length);
  return {
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
  const r = joinerOriginRun();
  const harmed = r.asked.cast > 0 || r.fromJoiner.some((n) => n < r.joinerCasts);
  console.log(
    `joiner ${r.joiner}: the forger was asked ${r.asked.cast} cast and ${r.asked.p2p} point-to-point Syncs ` +
      `(answered ${r.asked.answered}); the joiner cast ${r.joinerCasts}, members delivered ${JSON.stringify(r.fromJoiner)}` +
      `; violations ${r.violations.length}` +
      (harmed ? ': the forgery works (open)' : ': the forger was never asked'),
  );
  process.exit(harmed ? 1 : 0);
}
