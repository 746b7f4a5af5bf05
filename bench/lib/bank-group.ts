// A group of bank replica processes (examples/bank/replica.ts) over UDP on 127.0.0.1, formed for
// one entry and known in the order of its view: the rpc entries choose their client's contact by
// rank, so what a figure measures does not depend on which replica answered a hello first.
import type { Child, ChildEvent } from 'troupe/testkit';
import { script } from './script.js';
import type { BenchContext } from './types.js';

const REPLICA = script('examples/bank/replica.ts');
/** Statements bounded, so a replica's state (and RSS, in the notes) does not grow with the calls. */
const STATEMENT_ARGS = ['--statement-entries', '100'];
/** Formation only (as in the demo): defaults otherwise, failure detection included. */
const LAYERS = { gms: { bootstrapMs: 200, joinRetryMs: 50 } };

export interface BankGroupOptions {
  replicas: number;
  /** Process names are `${name}-1`, `${name}-2`, … */
  name: string;
  readyTimeoutMs: number;
  /** The group key, given to each replica in `TROUPE_KEY`. */
  key?: string;
  nodeArgs?: string[];
}

export interface BankGroup {
  /** The replicas in start order. */
  replicas: Child[];
  /** Their addresses, in start order. */
  seeds: string[];
  /** Their member ids, in start order. */
  self: string[];
  /** The replicas in the order of the full view: rank 0, the sequencer, first. */
  ranked: Child[];
  /** The address of the replica of rank `rank`. */
  addressOf(rank: number): string;
}

/** Starts `o.replicas` bank replicas, has them join one group and waits for the full view. */
export async function startBankGroup(ctx: BenchContext, o: BankGroupOptions): Promise<BankGroup> {
  const replicas = await Promise.all(
    Array.from({ length: o.replicas }, (_, i) =>
      ctx.procs.start(REPLICA, {
        name: `${o.name}-${i + 1}`,
        args: STATEMENT_ARGS,
        ready: 'ready',
        readyTimeoutMs: o.readyTimeoutMs,
        ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
        ...(o.key !== undefined ? { env: { TROUPE_KEY: o.key } } : {}),
      }),
    ),
  );
  const seeds = replicas.map((r) => r.events.find((e) => e.event === 'ready')!.address as string);
  const joined = await Promise.all(
    replicas.map((r) => r.request({ cmd: 'join', seeds, layers: LAYERS }, 'joined', 15_000)),
  );
  const full = (e: ChildEvent): boolean =>
    e.event === 'view' && (e.members as string[]).length === o.replicas;
  const views = await Promise.all(
    replicas.map((r, i) => {
      const v = joined[i]!.view as { members: string[] } | undefined;
      return v?.members.length === o.replicas ? v : r.waitFor(full, 10_000);
    }),
  );
  const members = views[0]!.members as string[];
  const self = joined.map((j) => j.self as string);
  const at = members.map((m) => self.indexOf(m));
  if (at.some((i) => i < 0)) throw new Error('a view member is none of the replicas');
  return {
    replicas,
    seeds,
    self,
    ranked: at.map((i) => replicas[i]!),
    addressOf: (rank) => seeds[at[rank]!]!,
  };
}
