// FINDINGS 60, scripted (found by review, not by a random seed): a call packet seconds late in
// the network reaches its contact after the client was told, finally, that the request is not
// found. c0's third call loses every packet but its first, which is held back; the call times
// out, `outcome()` settles `not-found`, and only then does the held packet arrive (the client's
// reissue is kept out until it has). The group must refuse that copy: its issue was fenced.
// Two mutants show the checkers fail without it: `ignore` runs replicas that apply fences but
// refuse nothing (the model, which refuses, then disagrees with their state), `lying` replicas
// that cast no fence but answer as if they had (true-outcomes: the settled not-found is false).
// Prints the RPC checkers' verdict; 0 means closed.
//
//   npx tsx test/sim/repro/late-call.ts [product|ignore|lying] [seed]

import { pathToFileURL } from 'node:url';
import { type ClientPacket, decodeClientPacket } from '../../../runtime/rpc/protocol.js';
import { Replica } from '../../../runtime/rpc/replica.js';
import { groupIdOf } from '../../../runtime/wire/packet.js';
import { RPC_CHECKERS } from '../rpc-checkers.js';
import { rpcConfig } from '../rpc-scenario.js';
import { DEFAULT_RPC_OPTIONS, RpcSim } from '../rpc-world.js';

const TARGET = 'c0:3';

/** What the mutants replace in a Replica. */
interface Mutable {
  outcomes: { refuses(): boolean };
  /** The replica's contact role (`Contact`), whose fence the lying mutant never casts. */
  contact: { fence(): void };
  /** The replica's packets to its clients (`ClientLink`). */
  link: { send(to: string, p: ClientPacket): void };
}

/** The issue of `TARGET` a client packet carries, if it carries that request's call. */
function targetIssue(p: ClientPacket): number | undefined {
  const calls = p.kind === 'calls' ? p.calls : p.kind === 'call' ? [p] : [];
  return calls.find((c) => c.id === TARGET)?.issue;
}

/** Runs the schedule; gives the checkers' violations and whether the held packet was released. */
export async function lateCallRun(
  mode: 'product' | 'ignore' | 'lying',
  seed = 1,
): Promise<{ violations: string[]; released: boolean; sim: RpcSim }> {
  const sim = new RpcSim(
    { ...rpcConfig(seed, 3, []), delivery: 'multicast', loadMs: 4000 },
    {
      ...DEFAULT_RPC_OPTIONS,
      callsPerLane: 6,
      callTimeoutMs: 400,
      makeReplica: (instance, options) => {
        const r = new Replica(instance, options);
        const inner = r as unknown as Mutable;
        if (mode === 'ignore') inner.outcomes.refuses = () => false;
        if (mode === 'lying') {
          inner.contact.fence = () => {};
          const send = inner.link.send.bind(inner.link);
          inner.link.send = (to, p) =>
            send(to, p.kind === 'outcome' && p.fencedUpTo !== undefined ? { ...p, fencedUpTo: 1_000 } : p);
        }
        return r;
      },
    },
  );
  const w = sim.world;
  const gid = groupIdOf('sim');
  const sendFrom = w.sendFrom.bind(w);
  let held: [string, string, Uint8Array] | undefined;
  let released = false;
  let first: number | undefined;
  w.sendFrom = (from, to, bytes) => {
    let issue: number | undefined;
    try {
      issue = targetIssue(decodeClientPacket(bytes, gid).packet);
    } catch {
      issue = undefined;
    }
    if (issue === undefined) return sendFrom(from, to, bytes);
    // The call's issue: its first packet is held, the rest lost. A reissue waits for the release.
    first ??= issue;
    if (issue === first && !held) held = [from, to, bytes];
    else if (issue > first && released) sendFrom(from, to, bytes);
  };
  const poll = () => {
    const rec = sim.calls.find((c) => c.id === TARGET);
    if (held && rec?.outcomes.some((a) => a.status === 'not-found' && a.settled)) {
      released = true;
      w.log(`LATE-CALL releases ${TARGET}'s first call packet`);
      sendFrom(...held);
      return;
    }
    w.at(w.now + 5, poll);
  };
  w.at(1, poll);
  await sim.run();
  const violations = RPC_CHECKERS.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
  return { violations, released, sim };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = process.argv[2];
  const mode = arg === 'ignore' || arg === 'lying' ? arg : 'product';
  const { violations, released } = await lateCallRun(mode, Number(process.argv[3] ?? 1));
  console.log(`released ${released} violations ${violations.length}`);
  for (const v of violations.slice(0, 10)) console.log(v);
}
