/**
 * An `async` method wrapped by an ordinary decorator (logging, timing: a plain `function` that
 * returns the original's promise), or compiled below ES2017, is no `AsyncFunction`: the replica
 * took no pre-image of the state while it ran. A joiner that took its state meanwhile got the
 * half-run state and the running request at the head of its backlog, and applied it twice
 * (FINDINGS 113). Now the first such run refuses snapshots until it settles, and every later run
 * of the method keeps a pre-image as a declared async method does.
 */
import { afterEach, expect, it } from 'vitest';
import { StateBusyError } from '../../runtime/errors.js';
import { until } from '../support/until.js';
import { Cluster, type Ledger, sleep, validateLedger } from './support/cluster.js';
import { wrappedLedger } from './support/undeclared.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

it('a wrapped async method: no snapshot during its first run, a pre-image in every later one', async () => {
  cluster = new Cluster(() => wrappedLedger(), { validate: validateLedger });
  cluster.add();
  cluster.add();
  await cluster.settle();
  const client = await cluster.client();
  const first = client.invoke('ledger', 'slowAppend', ['s', 300]);
  await until(() => cluster!.nodes.every((n) => n.instance.entries.length === 1), 5_000, 's running');
  // Half run, with no pre-image: no state of this point of the order exists to give.
  for (const n of cluster.nodes) expect(() => n.replica.snapshot()).toThrow(StateBusyError);
  expect(await first).toBe(1);
  await cluster.settle();
  expect(cluster.nodes.map((n) => n.replica.stats().undeclaredAsync)).toEqual([1, 1]);
  // The second run keeps a pre-image: a member joining now gets the state before it, and the
  // request in its backlog, and applies it once.
  const second = client.invoke('ledger', 'slowAppend', ['t', 300]);
  await until(() => cluster!.nodes.every((n) => n.instance.entries.length === 2), 5_000, 't running');
  const joiner = cluster.add();
  expect(await second).toBe(2);
  await cluster.settle();
  await sleep(400);
  await cluster.settle();
  expect(cluster.nodes.map((n) => n.instance.entries.join(','))).toEqual(['s,t', 's,t', 's,t']);
  expect(joiner.replica.digest()).toBe(cluster.nodes[0]!.replica.digest());
});
