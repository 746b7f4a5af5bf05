/**
 * A method not declared `async` (a decorator's plain wrapper around an `async` one) during its
 * first run, over the real Group on UDP loopback (FINDINGS 113; its review found the first fix
 * stopped every member cut off meanwhile, so a group wholly cut off during the run lost its
 * state for good, and failed a member's first join). The replica has no pre-image during that
 * run: a joiner is told the state is busy and joins again; a member cut off freezes at the state
 * the run's end leaves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Group } from '../../runtime/group/group.js';
import { connect, joinReplica, type Replica, type TroupeClient } from '../../runtime/rpc/index.js';
import type { Transport } from '../../runtime/transport/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { Cuttable } from '../support/cuttable.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';
import { type Ledger, sleep, validateLedger } from './support/cluster.js';
import { wrappedLedger } from './support/undeclared.js';

const FAST = {
  gms: { heartbeatMs: 50, suspectMs: 400, partitionMs: 1_000, bootstrapMs: 200, joinRetryMs: 50 },
};

interface Node {
  transport: Cuttable;
  replica: Replica<Ledger>;
  group: Group;
  partitions: number;
}

let nodes: Node[] = [];
let clients: TroupeClient[] = [];
let extraTransports: Transport[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(nodes.map((n) => n.group.leave(300).catch(() => {})));
  await Promise.all(nodes.map((n) => n.transport.close().catch(() => {})));
  await Promise.all(extraTransports.map((t) => t.close().catch(() => {})));
  nodes = [];
  clients = [];
  extraTransports = [];
});

async function member(seeds: string[], transport: Cuttable): Promise<Node> {
  const m = await joinReplica(wrappedLedger(), 'ledger', {
    seeds,
    transport,
    layers: FAST,
    validate: validateLedger,
    ...TEST_SECURITY,
  });
  const node: Node = { transport, replica: m.replica, group: m.group, partitions: 0 };
  m.group.on('partitioned', () => node.partitions++);
  nodes.push(node);
  return node;
}

async function start(n: number, spare = 0) {
  const ts = await Promise.all(
    Array.from({ length: n + spare }, async () => new Cuttable(await udp({ host: '127.0.0.1' }))),
  );
  const seeds = ts.slice(0, n).map((t) => t.address);
  await Promise.all(ts.slice(0, n).map((t) => member(seeds, t)));
  return { seeds, spare: ts.slice(n) };
}

const viewSize = (n: Node) => n.group.view?.members.length ?? 0;

const sameState = (): boolean => {
  const digests = new Set(nodes.map((n) => n.replica.digest()));
  return digests.size === 1 && nodes.every((n) => viewSize(n) === nodes.length);
};

describe("an undeclared async method's first run, real Group", () => {
  it('a member joining meanwhile joins once the run is over, with the same state', async () => {
    const { seeds, spare } = await start(2, 1);
    await until(() => nodes.every((n) => viewSize(n) === 2), 8_000, 'a 2-member view');
    const client = await connect({ group: 'ledger', seeds, ...TEST_SECURITY });
    clients.push(client);
    const first = client.invoke('ledger', 'slowAppend', ['s', 1_500]);
    await until(() => nodes.every((n) => n.replica.instance.entries.length === 1), 5_000, 's running');
    // Its first join is told the state is busy, ends without an error, and joins again.
    const joiner = await member(seeds, spare[0]!);
    expect(await first).toBe(1);
    await until(sameState, 15_000, 'three members, one state');
    expect(joiner.replica.instance.entries).toEqual(['s']);
    expect(nodes.map((n) => n.group.stats().group?.snapshotFailed ?? 0).some((f) => f > 0)).toBe(true);
  }, 40_000);

  it('a member cut off meanwhile comes back with the same state', async () => {
    const { seeds } = await start(3);
    await until(() => nodes.every((n) => viewSize(n) === 3), 8_000, 'a 3-member view');
    const [a, b, c] = nodes as [Node, Node, Node];
    const client = await connect({ group: 'ledger', seeds: seeds.slice(0, 2), ...TEST_SECURITY });
    clients.push(client);
    const id = client.newRequestId();
    const first = client
      .invoke('ledger', 'slowAppend', ['s', 2_000], { requestId: id })
      .catch(() => undefined);
    await until(() => nodes.every((n) => n.replica.instance.entries.length === 1), 5_000, 's running');
    for (const o of [a, b]) {
      c.transport.blocked.add(o.transport.address);
      o.transport.blocked.add(c.transport.address);
    }
    await until(() => c.partitions > 0, 8_000, 'C cut off');
    await sleep(300);
    for (const o of [a, b]) {
      c.transport.blocked.delete(o.transport.address);
      o.transport.blocked.delete(c.transport.address);
    }
    await first;
    await until(sameState, 20_000, 'three members, one state');
    expect(c.replica.instance.entries).toEqual(['s']);
    expect((await client.outcome(id)).status).toBe('committed');
    expect(await client.invoke('ledger', 'append', ['after'])).toBe(2);
  }, 40_000);

  it('a group wholly cut off meanwhile is founded again and serves, with one state', async () => {
    const { seeds } = await start(3);
    await until(() => nodes.every((n) => viewSize(n) === 3), 8_000, 'a 3-member view');
    const client = await connect({ group: 'ledger', seeds, ...TEST_SECURITY });
    clients.push(client);
    expect(await client.invoke('ledger', 'append', ['before'])).toBe(1);
    void client.invoke('ledger', 'slowAppend', ['s', 2_500]).catch(() => {});
    await until(() => nodes.every((n) => n.replica.instance.entries.length === 2), 5_000, 's running');
    // A | B | C: nobody holds a majority.
    for (const x of nodes) for (const y of nodes) if (x !== y) x.transport.blocked.add(y.transport.address);
    await until(() => nodes.every((n) => n.partitions > 0), 8_000, 'all partitioned');
    await sleep(300);
    for (const x of nodes) x.transport.blocked.clear();
    const t0 = performance.now();
    let served: unknown;
    while (performance.now() - t0 < 20_000 && typeof served !== 'number') {
      served = await client
        .invoke('ledger', 'append', ['after'], { timeoutMs: 2_000 })
        .catch(() => undefined);
      if (typeof served !== 'number') await sleep(300);
    }
    expect(served).toBe(3);
    await until(sameState, 20_000, 'three members, one state');
    expect(nodes[0]!.replica.instance.entries).toEqual(['before', 's', 'after']);
  }, 60_000);
});
