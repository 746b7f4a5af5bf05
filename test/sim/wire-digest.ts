// The simulator with a digest of every datagram its members send: the simulator CLI's arguments,
// then one line `WIRE <n> datagrams, <bytes> bytes, sha256 <all>, sizes sha256 <shape>`.
//
//   npx tsx test/sim/wire-digest.ts --seeds 1..60 --members 3..7 --pad 3000
//
// For a change that must not touch the wire (docs/performance.md, "Garbage per cast"): run the
// same arguments in a worktree of the branch point and in the change's; the same `sha256` means
// the same datagrams, byte for byte, in the same order, from the same senders to the same
// destinations (the simulator is deterministic, so any change of a byte or of a timer would
// show). RPC mode's clients draw ids the simulator does not seed, so two runs of one build differ
// in content there: compare `sizes sha256` (sender, destination and length of each datagram, in
// order), which is deterministic in every mode.
import { createHash } from 'node:crypto';
import { World } from './world.js';

const all = createHash('sha256');
const shape = createHash('sha256');
let datagrams = 0;
let total = 0;
type Transmit = (src: { address: string }, to: string | null, bytes: Uint8Array) => void;
const proto = World.prototype as unknown as { transmit: Transmit };
const transmit = proto.transmit;
proto.transmit = function (this: unknown, src, to, bytes) {
  const head = `${src.address}>${to}:${bytes.length}|`;
  all.update(head);
  all.update(bytes);
  shape.update(head);
  datagrams++;
  total += bytes.length;
  transmit.call(this, src, to, bytes);
};
process.on('exit', () =>
  process.stdout.write(
    `WIRE ${datagrams} datagrams, ${total} bytes, sha256 ${all.digest('hex')}, sizes sha256 ${shape.digest('hex')}\n`,
  ),
);
await import('./cli.js');
