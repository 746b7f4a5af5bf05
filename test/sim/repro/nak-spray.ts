// Keyless groups, FINDINGS 206 and 207 (fixed; docs/protocol.md, nak, "Random origins"): nak
// held any Data up to `maxPending` (10,000) ahead of where a receiver stood in a sender's stream
// and delivered it in its turn, in place of the sender's own message of that number. A forger
// who spoofed a member's address needed one datagram inside that window, not the stream's
// position: 21 datagrams at positions 0, 100, ..., 2,000 reached a young group's streams. Streams
// now begin at random positions below 2^48, learnt only by a round trip with the sender.
//
//   npx tsx test/sim/repro/nak-spray.ts [leave|install]
//
// `leave`: a gms Leave in a member's name to the coordinator: the member was excluded.
// `install`: an Install of the coordinator alone, in its name, to each other member: both
// stopped, the coordinator lost its majority and the group re-founded. Prints the incarnations
// per member (`[1, 1, 1]`: nobody stopped) and exits 1 if the forgery works. With a group key
// nothing forged is taken (every packet is signed).

import { attacked, forged } from '../spoof.js';

/** nak Data of the sender's cast stream at `seq` carrying gms header `gms` (frag Whole, stable Data, pack Single). */
const atSeq = (gms: unknown[], seq: number) => [gms, [0], [0], [1, 0, seq], [0]];
const POSITIONS = Array.from({ length: 21 }, (_, i) => i * 100);

export function sprayRun(kind: 'leave' | 'install') {
  return attacked((send, members, viewId, addressOf, epoch) => {
    const [coordinator, member] = members as [string, string, string];
    if (kind === 'leave')
      for (const seq of POSITIONS)
        send(
          members.indexOf(coordinator),
          addressOf(member),
          forged(member, atSeq([11, viewId], seq), false),
        );
    else
      for (const m of members.slice(1))
        for (const seq of POSITIONS) {
          const install = [
            8,
            viewId + 1,
            1,
            [coordinator],
            [addressOf(coordinator)],
            [],
            [],
            members.slice(1),
            [],
            epoch,
          ];
          send(members.indexOf(m), addressOf(coordinator), forged(coordinator, atSeq(install, seq), false));
        }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const kind = process.argv[2] === 'install' ? 'install' : 'leave';
  const r = sprayRun(kind);
  const harmed = r.incarnations.some((n) => n !== 1);
  console.log(
    `${kind} spray, 21 datagrams per target: incarnations ${JSON.stringify(r.incarnations)}, views at the coordinator ${r.w.nodes[0]!.rec.views.length}` +
      (harmed ? ': the forgery works (open)' : ': nobody stopped'),
  );
  process.exit(harmed ? 1 : 0);
}
