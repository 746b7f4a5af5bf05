// Keyless groups, FINDINGS 226 (fixed; test/rpc/session-flood.test.ts): exactly-once rests on a client's session in the replicated
// outcome table (its outcomes, and its floor, which refuses copies of calls it settled). A
// session ends once `maxClients` (10,000) more recently active ones push it out (docs/rpc.md,
// "Outcome table and retention"), and every client id a call names makes one. Without a key
// anyone is a client: a stranger at its own address, with its own cookie, makes 10,000 calls in
// 10,000 invented client ids, 40 `calls` packets of 256, and a victim's retransmission of a call
// that had committed (its reply lost) ran the call again. One host now holds at most `perHost`
// sessions (an eighth of `maxClients`): past it, its own least recently active ends.
//
//   npx tsx test/sim/repro/session-flood.ts [flood]
//
// `flood`: the stranger's calls (default 10,000). Prints how often the victim's call ran and
// exits 1 if it ran more than once. Three in-memory replicas (test/rpc/support/cluster.ts).

import { encodeValue } from '../../../runtime/rpc/codec.js';
import { type CallPacket, decodeClientPacket, MAX_BATCHED_CALLS } from '../../../runtime/rpc/protocol.js';
import { Cluster, cookieHead, rawClient } from '../../rpc/support/cluster.js';

const append = (id: string, entry: string): CallPacket => ({
  kind: 'call',
  id,
  service: 'ledger',
  method: 'append',
  args: encodeValue([entry]),
  mode: 'first',
  issue: 1,
});

export async function sessionFlood(
  flood = 10_000,
): Promise<{ runs: number[]; packets: number; bytes: number; replies: number }> {
  const cluster = await Cluster.of(3);
  try {
    const member = cluster.nodes[0]!.member.address;
    // The victim: its call commits, the reply is lost, and it sends the call again, as a client
    // does until it hears (or as `reissue` does after a fail-over).
    const victim = rawClient(cluster, '10.7.7.7:7');
    victim.send(member, append('0123456789abcdef:1', 'once'), cookieHead(victim.from));
    await cluster.settle();
    // The stranger: `flood` calls, each in a client id of its own, 256 to a packet.
    const stranger = rawClient(cluster, '10.6.6.6:6');
    let packets = 0;
    for (let i = 0; i < flood; i += MAX_BATCHED_CALLS) {
      const calls: CallPacket[] = [];
      for (let j = i; j < Math.min(flood, i + MAX_BATCHED_CALLS); j++)
        calls.push(append(`a${j.toString(16).padStart(15, '0')}:1`, 'x'));
      stranger.send(member, { kind: 'calls', calls }, cookieHead(stranger.from));
      packets++;
      await cluster.settle();
    }
    victim.send(member, append('0123456789abcdef:1', 'once'), cookieHead(victim.from));
    await cluster.settle();
    const replies = victim.got
      .map((b) => decodeClientPacket(b, victim.gid).packet)
      .filter((p) => p.kind === 'reply' || p.kind === 'replies').length;
    return {
      runs: cluster.nodes.map((n) => n.instance.entries.filter((e) => e === 'once').length),
      packets,
      bytes: stranger.sent(),
      replies,
    };
  } finally {
    await cluster.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const flood = Number(process.argv[2] ?? 10_000);
  const r = await sessionFlood(flood);
  console.log(
    `stranger: ${flood} calls in ${r.packets} packets, ${r.bytes} bytes; the victim's call ran ${JSON.stringify(r.runs)} times per replica; ${r.replies} replies`,
  );
  process.exit(r.runs.some((n) => n > 1) ? 1 : 0);
}
