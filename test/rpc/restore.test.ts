import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, SNAPSHOT_LIMITS } from '../../runtime/rpc/codec.js';
import { RpcConfigError, SnapshotError } from '../../runtime/rpc/errors.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { Cluster, Ledger, validateLedger } from './support/cluster.js';
import { FakeGroup, FakeNet } from './support/fake-group.js';

/** Issue 11 item 8: a snapshot comes from another process and is checked as strictly as a packet. */
let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** A snapshot with every part filled: entries, outcomes (ok, error), a lock, a pending handler call. */
async function richSnapshot(): Promise<Uint8Array> {
  cluster = await Cluster.of(2);
  const client = await cluster.client();
  await client.invoke('ledger', 'append', ['a']);
  await client.invoke('ledger', 'refuse', ['no']).catch(() => {});
  // A second client's only call: no later call of its own settles it, so its outcome stays.
  await (await cluster.client()).invoke('ledger', 'append', ['b']);
  const holder = cluster.nodes[1]!;
  await holder.replica.acquire('reports');
  const report = client.invoke('ledger', 'report', [60]);
  await cluster.settle();
  const snapshot = cluster.nodes[0]!.replica.snapshot();
  await report;
  return snapshot;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const HOSTILE: unknown[] = [
  null,
  -1,
  1.5,
  'x',
  new Uint8Array(2),
  [],
  [[]],
  [null, null],
  { toString: 1 },
  [{ toString: 1 }, 1, 2, 3],
];

/** Every array position of `v`, as paths of indices (bounded depth). */
function paths(v: unknown, prefix: number[] = [], depth = 6): number[][] {
  if (!Array.isArray(v) || depth === 0) return [];
  return v.flatMap((x, i) => [[...prefix, i], ...paths(x, [...prefix, i], depth - 1)]);
}

function replaced(v: unknown, path: number[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = [...(v as unknown[])];
  copy[path[0]!] = replaced(copy[path[0]!], path.slice(1), value);
  return copy;
}

describe('Replica.restore refuses a malformed snapshot whole, with SnapshotError', () => {
  it('at every position of a real snapshot, for every hostile value', async () => {
    const good = await richSnapshot();
    const tuple = decodeValue(good, SNAPSHOT_LIMITS) as unknown[];
    // Every part is there: two clients' sessions, one with an unsettled outcome (the other's
    // were settled by its later calls' watermarks), the lock, the pending handler call.
    const sessions = (tuple[2] as unknown[])[2] as unknown[][];
    expect(sessions).toHaveLength(2);
    expect(sessions.some((c) => (c[3] as unknown[]).length === 1)).toBe(true);
    expect(tuple[3]).toHaveLength(1);
    expect(tuple[4]).toHaveLength(1);
    const replica = new Replica(new Ledger(), { validate: validateLedger });
    replica.restore(good);
    const before = replica.snapshot();
    expect(decodeValue(before, SNAPSHOT_LIMITS)).toStrictEqual(tuple);
    let refused = 0;
    let accepted = 0;
    for (const path of paths(tuple)) {
      // The application's part (index 1) is the service's to judge: covered below.
      if (path[0] === 1) continue;
      for (const h of HOSTILE) {
        const bad = encodeValue(replaced(tuple, path, h));
        try {
          replica.restore(bad);
          accepted++; // a value that is valid there (e.g. a null lock holder): fine, restore it back
          replica.restore(good);
        } catch (e) {
          expect(e, `${path} := ${String(JSON.stringify(h))}`).toBeInstanceOf(SnapshotError);
          expect((e as SnapshotError).code).toBe('BAD_SNAPSHOT');
          refused++;
        }
        // Never half-applied, and snapshot() keeps working.
        expect(hex(replica.snapshot())).toBe(hex(before));
      }
    }
    expect(refused).toBeGreaterThan(200);
    expect(accepted).toBeLessThan(refused / 10);
  });

  it('not msgpack, another version, or the wrong arity', () => {
    const replica = new Replica(new Ledger(), { validate: validateLedger });
    const before = replica.snapshot();
    for (const bad of [
      new Uint8Array([0xc1]),
      encodeValue([2, null, [0, []], [], [], 0, 0, [], []]),
      encodeValue([1, null]),
      encodeValue({ toString: 1 }),
    ]) {
      expect(() => replica.restore(bad)).toThrow(SnapshotError);
      expect(hex(replica.snapshot())).toBe(hex(before));
    }
  });

  it("rolls the service back when its own restore throws, and says so with the service's error as cause", async () => {
    const good = await richSnapshot();
    const tuple = decodeValue(good, SNAPSHOT_LIMITS) as unknown[];
    const replica = new Replica(new Ledger(), { validate: validateLedger });
    replica.restore(good);
    const before = replica.snapshot();
    // Ledger.restore spreads its argument: a number makes it throw a TypeError.
    let caught: unknown;
    try {
      replica.restore(encodeValue(replaced(tuple, [1], 42)));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SnapshotError);
    expect((caught as SnapshotError).cause).toBeInstanceOf(TypeError);
    expect(hex(replica.snapshot())).toBe(hex(before));
    expect((replica.instance as Ledger).entries).toStrictEqual(['a', 'b']);
  });
});

describe("a joiner's replica attached after its state came", () => {
  it('is refused with RpcConfigError when its listeners missed the first events', async () => {
    const state = new Replica(new Ledger(), { validate: validateLedger }).snapshot();
    const group = new FakeGroup(new FakeNet(), 'ledger');
    const member = group.join();
    await group.net.settle();
    // As with joinGroup({ state: replica }) without `on`: the state is restored, the view and
    // the deliveries released after it reach no listener, then the caller attaches.
    const replica = new Replica(new Ledger(), { validate: validateLedger });
    replica.restore(state);
    expect(() => replica.attach(member)).toThrow(RpcConfigError);
  });
});
