// A hole of keyless `troupe dist` receivers (test/sim/FINDINGS.md, item 211, fixed): a receiver
// took an Announce from any address (its sender is whoever announces first) and then reported
// to that address every `statusMs` and NAKed what it lacked, for as long as nothing replaced
// the transfer. One Announce spoofed from a victim's address had a receiver (`troupe dist
// receive`, or `troupe serve --receive-dir`) send there without end. Now it answers with its
// Join alone until Data of the transfer comes (test/bulk/receiver-reflect.test.ts).
//
//   npx tsx test/sim/repro/afdp-announce-reflect.ts
//
// Prints what reached the victim in 60 simulated seconds and exits 1 if it is more than 3
// times the Announce. With a group key com refuses the forged Announce.

import { AfdpKind } from '../../../runtime/bulk/afdp.js';
import { build } from '../../../runtime/distrib/receiver.js';
import type { Effect } from '../../../runtime/stack/types.js';
import { encodePacket, Flags, groupIdOf, PacketType } from '../../../runtime/wire/packet.js';

const receiver = build('fleet', undefined, {});
const announce = encodePacket({
  type: PacketType.Discovery,
  flags: Flags.Unicast,
  groupId: groupIdOf('fleet'),
  sender: { node: 0xbad00, inc: 1 },
  headers: [[AfdpKind.Announce, 1234, 8 << 20, 8192, 1024]],
  payload: new Uint8Array(32),
});
const victim = '10.9.9.9:7';
let bytes = 0;
let packets = 0;
const tally = (es: Effect[]) => {
  for (const e of es)
    if (e.kind === 'transmit' && (e.to === victim || e.to === null)) {
      bytes += e.bytes.length;
      packets++;
    }
};
tally(receiver.receive(announce, victim, 0));
for (let t = 1; t <= 60_000; t++) tally(receiver.advance(t));
const open = bytes > 3 * announce.length;
console.log(
  `one forged Announce of ${announce.length} bytes: ${packets} packets, ${bytes} bytes to the victim in 60 s` +
    (open ? ': reflected without end (open)' : ''),
);
process.exit(open ? 1 : 0);
