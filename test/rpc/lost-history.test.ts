/**
 * A request first sent before the group lost its whole history (docs/rpc.md, "Recovering a failed
 * call"; test/sim/FINDINGS.md item 222): the re-founded group has no record of it, which says
 * nothing of the lost history it may have run in. The client answers `unknown`, never reissues it
 * by itself (`reissue()`, `autoReissue`), and runs it again only when told `{ rerun: true }`; what
 * the new group does know, and requests sent in the new history, are answered as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Replies } from '../../runtime/rpc/api.js';
import type { TroupeClient } from '../../runtime/rpc/client.js';
import { FailoverError, OutcomeUnknownError, TimeoutError } from '../../runtime/rpc/errors.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { until } from '../support/until.js';
import {
  CLUSTER_COOKIE_SECRET,
  Cluster,
  Ledger,
  QUICK_DETECTION,
  validateLedger,
} from './support/cluster.js';
import { FakeGroup } from './support/fake-group.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

interface Refounded {
  group: FakeGroup;
  nodes: { replica: Replica<Ledger>; instance: Ledger }[];
}

/**
 * Crashes every member of `c` at once (a blackout) and founds the group again at the same
 * addresses, each member a new incarnation: from nothing, or from `state` (a snapshot of a member
 * of the lost history: the spared member's, or the most advanced founder's).
 */
function blackout(c: Cluster<Ledger>, state?: Uint8Array): Refounded {
  for (const n of c.nodes) c.group.crash(n.member);
  const group = new FakeGroup(c.net, 'ledger', 100);
  const nodes = c.nodes.map((n, i) => {
    const instance = new Ledger();
    const replica = new Replica(instance, { validate: validateLedger });
    if (i === 0 && state) replica.restore(state);
    replica.attach(group.join({ state: replica, address: n.member.address }));
    return { replica, instance };
  });
  return { group, nodes };
}

/** Waits until `client` calls through a member of `group`. */
async function following(client: TroupeClient, group: FakeGroup): Promise<void> {
  await until(
    () => group.view.members.includes(client.contactMember ?? ''),
    10_000,
    'a contact of the new group',
  );
}

const runs = (r: Refounded) => r.nodes.reduce((n, x) => n + x.instance.runs, 0);

describe('a request sent before the whole group was lost', () => {
  it('is unknown, not not-found; reissue() refuses it; { rerun: true } runs it once', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(QUICK_DETECTION);
    // It runs in the first history (an async method, still running when every member crashes).
    const call = client.invoke('ledger', 'slowAppend', ['x', 5_000]);
    await until(() => cluster!.nodes.every((n) => n.instance.runs === 1), 5_000, 'the call running');
    const id = `${client.clientId}:`;
    const g = blackout(cluster);
    const e = await call.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(FailoverError);
    const requestId = (e as FailoverError).requestId;
    expect(requestId.startsWith(id)).toBe(true);
    await following(client, g.group);

    const o = await client.outcome(requestId, { timeoutMs: 2_000 });
    expect(o).toMatchObject({ requestId, status: 'unknown', settled: true });
    // The members themselves answer not-found: the new group knows nothing of it.
    expect(g.nodes[0]!.replica.outcome(requestId).status).toBe('not-found');

    const refused = await client.reissue(requestId, { timeoutMs: 2_000 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OutcomeUnknownError);
    expect((refused as OutcomeUnknownError).code).toBe('OUTCOME_UNKNOWN');
    expect((refused as OutcomeUnknownError).requestId).toBe(requestId);
    await cluster.settle();
    expect(runs(g)).toBe(0);

    // The application's decision: it runs now, once, in the new history.
    // It runs the 5 s method again: room for a loaded machine (8 s timed out in a full run).
    expect(await client.reissue(requestId, { rerun: true, timeoutMs: 20_000 })).toBe(1);
    expect(g.nodes.map((n) => n.instance.entries)).toStrictEqual([['x'], ['x'], ['x']]);
    expect(await client.reissue(requestId)).toBe(1);
    expect((await client.outcome(requestId)).status).toBe('committed');
    expect(g.nodes.map((n) => n.instance.entries)).toStrictEqual([['x'], ['x'], ['x']]);
  });

  it('with autoReissue: the failed-over call is not sent to the new group; it ends in OutcomeUnknownError', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ ...QUICK_DETECTION, autoReissue: true });
    const call = client.invoke('ledger', 'slowAppend', ['x', 5_000], { timeoutMs: 8_000 });
    await until(() => cluster!.nodes.every((n) => n.instance.runs === 1), 5_000, 'the call running');
    const g = blackout(cluster);
    const e = await call.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(OutcomeUnknownError);
    await cluster.settle();
    expect(runs(g)).toBe(0);
    // Remembered: the caller may still decide.
    const requestId = (e as OutcomeUnknownError).requestId;
    expect((await client.outcome(requestId)).status).toBe('unknown');
    // New calls run in the new group as ever.
    expect(await client.invoke('ledger', 'append', ['y'])).toBe(1);
  });

  it('is answered from the new group when its start state holds it: committed, and a reissue gets the result', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(QUICK_DETECTION);
    const requestId = client.newRequestId();
    // It runs and commits, but its reply never reaches the client, whose contact looks silent.
    const address = client.address;
    cluster.net.drop = (_from, to) => to === address;
    const e = await client.invoke('ledger', 'append', ['a'], { requestId }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(FailoverError);
    await cluster.settle();
    expect(cluster.nodes[0]!.replica.outcome(requestId).status).toBe('committed');
    // The group is lost, and founded again from that member's state (the spared member's).
    const g = blackout(cluster, cluster.nodes[0]!.replica.snapshot());
    cluster.net.drop = () => false;
    await following(client, g.group);
    expect(await client.outcome(requestId)).toMatchObject({ status: 'committed', value: 1, settled: true });
    expect(await client.reissue(requestId)).toBe(1);
    expect(runs(g)).toBe(0);
  });

  it('in all mode, known to the new group: the reissue is answered by every member from its table', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ ...QUICK_DETECTION, autoReissue: true });
    const requestId = client.newRequestId();
    const address = client.address;
    cluster.net.drop = (_from, to) => to === address;
    const call = client.invoke('ledger', 'append', ['a'], { requestId, reply: 'all', timeoutMs: 8_000 });
    await until(() => cluster!.nodes.every((n) => n.instance.runs === 1), 5_000, 'the call applied');
    await cluster.settle();
    const g = blackout(cluster, cluster.nodes[0]!.replica.snapshot());
    cluster.net.drop = () => false;
    const r = (await call) as Replies<number>;
    expect(r.entries.map((x) => [x.member, x.status, x.status === 'ok' ? x.value : undefined])).toStrictEqual(
      g.group.view.members.map((m) => [m, 'ok', 1]),
    );
    expect(runs(g)).toBe(0);
  });

  it('a request first sent in the new history keeps its not-found: reissued, it runs once', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client(QUICK_DETECTION);
    const g = blackout(cluster);
    await following(client, g.group);
    // Its call packets are all lost: it never reaches the new group.
    const address = client.address;
    cluster.net.drop = (from) => from === address;
    const requestId = client.newRequestId();
    const e = await client
      .invoke('ledger', 'append', ['z'], { requestId, timeoutMs: 300 })
      .catch((err: unknown) => err);
    // Its contact looked silent too (hellos are lost alike), or the deadline came first.
    expect(e instanceof TimeoutError || e instanceof FailoverError).toBe(true);
    cluster.net.drop = () => false;
    expect(await client.outcome(requestId)).toMatchObject({ status: 'not-found', settled: true });
    expect(await client.reissue(requestId)).toBe(1);
    expect(runs(g)).toBe(3);
  });
});

describe('a request sent in a history that went on', () => {
  it('keeps its not-found when every member it knew was replaced while it heard no view', async () => {
    // Real-process chaos seed 3911 (FINDINGS 224): members replaced one at a time, each new
    // incarnation taking the state, while the client heard nothing; the view it then finds
    // shares no member with the one it knew, but the history never broke.
    cluster = await Cluster.of(3);
    const client = await cluster.client(QUICK_DETECTION);
    const address = client.address;
    cluster.net.drop = (from, to) => from === address || to === address;
    const requestId = client.newRequestId();
    const e = await client
      .invoke('ledger', 'append', ['z'], { requestId, timeoutMs: 300 })
      .catch((err: unknown) => err);
    expect(e instanceof TimeoutError || e instanceof FailoverError).toBe(true);
    const old = [...cluster.nodes];
    for (const n of old) {
      cluster.group.crash(n.member);
      const instance = new Ledger();
      const replica = new Replica(instance, {
        validate: validateLedger,
        cookieSecret: CLUSTER_COOKIE_SECRET,
      });
      const member = cluster.group.join({ state: replica, address: n.member.address });
      replica.attach(member);
      cluster.nodes.push({ member, replica, instance });
      await cluster.settle();
    }
    cluster.net.drop = () => false;
    await following(client, cluster.group);
    expect(old.some((n) => cluster!.group.view.members.includes(n.member.self))).toBe(false);
    expect(await client.outcome(requestId)).toMatchObject({ status: 'not-found', settled: true });
    expect(await client.reissue(requestId)).toBe(1);
    await cluster.settle();
    expect(cluster.live.map((n) => n.instance.entries)).toStrictEqual([['z'], ['z'], ['z']]);
  });
});

describe('reissue options', () => {
  it('refuses a rerun that is not a boolean', async () => {
    cluster = await Cluster.of(1);
    const client = await cluster.client();
    const requestId = client.newRequestId();
    await client.invoke('ledger', 'append', ['a'], { requestId });
    await expect(
      client.reissue(requestId, { rerun: 'yes' } as unknown as { rerun: boolean }),
    ).rejects.toMatchObject({ code: 'BAD_CALL_OPTION' });
  });
});
