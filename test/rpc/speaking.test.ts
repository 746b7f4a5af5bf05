/**
 * A replica answers clients only while its group says it may speak for the group's history
 * (`GroupHandle.speaking`, FINDINGS 167): RPC seed 105600268 had a replica paused 1.8 s in a view
 * that lost its majority; as it woke, gms held its deliveries, but the async method it had run
 * settled and the replica answered the client with the lost history's result, 2 s after the
 * others re-founded and ran the client's reissue to another result.
 */
import { afterEach, expect, it } from 'vitest';
import { until } from '../support/until.js';
import { Cluster, type Ledger, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

it('an async method that settles while no member can speak is answered only once one can', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client();
  const contact = cluster.nodes.find((n) => n.member.self === client.contactMember)!;
  let answer: number | undefined;
  const call = client.invoke('ledger', 'slowAppend', ['s', 100]).then((v) => {
    answer = v as number;
  });
  await until(() => cluster!.live.every((n) => n.instance.runs === 1), 5_000, 'every replica running it');
  // Every member, not only the contact: the client takes any member's answer it can trust.
  for (const n of cluster.live) n.member.speaking = false;
  await until(() => cluster!.live.every((n) => n.instance.slowDone === 1), 5_000, 'every run to end');
  // The outcome is recorded, but neither the settled run nor the client's retransmissions (every
  // 20 ms) nor its outcome queries draw an answer from a member that cannot speak.
  await sleep(300);
  expect(answer).toBeUndefined();
  expect(contact.replica.stats().unspoken).toBeGreaterThan(0);
  for (const n of cluster.live) n.member.speaking = true;
  await call;
  expect(answer).toBe(1);
});

it('a member that cannot speak casts nothing for a client: the call waits, then runs once', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client();
  for (const n of cluster.live) n.member.speaking = false;
  let answer: number | undefined;
  const call = client.invoke('ledger', 'append', ['a']).then((v) => {
    answer = v as number;
  });
  await sleep(200);
  expect(answer).toBeUndefined();
  expect(cluster.live.every((n) => n.instance.runs === 0)).toBe(true);
  for (const n of cluster.live) n.member.speaking = true;
  await call;
  expect(answer).toBe(1);
  await cluster.settle();
  expect(cluster.live.map((n) => n.instance.entries)).toEqual([['a'], ['a'], ['a']]);
});
