import { afterEach, describe, expect, it } from 'vitest';
import type { Group } from '../../runtime/group/group.js';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer, type ObserverOptions } from '../../runtime/observe/observer.js';
import {
  connect,
  joinReplica,
  type Replica,
  type Replies,
  type TroupeClient,
} from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';
import { Dice, validateDice } from './fixtures/dice.js';
import { FAST } from './support.js';

interface Member {
  group: Group;
  replica: Replica<Dice>;
  observer: Observer;
  lines: Record<string, unknown>[];
}
let members: Member[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(members.map((m) => m.group.leave(500).catch(() => {})));
  for (const m of members) m.observer.close();
  members = [];
  clients = [];
});

async function dice(buggy: boolean[], options: ObserverOptions, seeds?: string[]) {
  const ts = await Promise.all(buggy.map(() => udp({ host: '127.0.0.1' })));
  const all = seeds ?? ts.map((t) => t.address);
  const made = await Promise.all(
    ts.map(async (transport, i) => {
      const lines: Record<string, unknown>[] = [];
      const observer = new Observer({
        ...options,
        logger: createLogger({ write: (l) => lines.push(JSON.parse(l)) }),
      });
      const { group, replica } = await joinReplica(new Dice(buggy[i]), 'dice', {
        ...TEST_SECURITY,
        seeds: all,
        transport,
        layers: FAST,
        validate: validateDice,
        observe: observer,
      });
      return { group, replica, observer, lines };
    }),
  );
  members.push(...made);
  return all;
}

async function client(seeds: string[]) {
  const c = await connect({ ...TEST_SECURITY, group: 'dice', seeds });
  clients.push(c);
  return c;
}

/** Polls an async condition every 20 ms for at most `ms`; false if it never held. */
async function eventually(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

const checks = (m: Member) =>
  m.observer.registry
    .getSingleMetricAsString('troupe_replica_divergence_checks_total')
    .then((t) => Number(t.trim().split(' ').at(-1)));

describe('replica divergence detection', () => {
  it('a nondeterministic method is detected at every replica within 10 requests (checkEvery 10)', async () => {
    // digestShare false: the bound in requests alone (by default checks are also spaced in time,
    // at least the last digest's duration ÷ 0.002 apart: docs/observability.md).
    const seeds = await dice([false, false, false], { divergence: { checkEvery: 10, digestShare: false } });
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const c = await client(seeds);
    // Request k (1-based) is ids[k - 1]: ids count per incarnation, not from 1 (session.ts).
    const ids: string[] = [];
    const call = (method: string, args: unknown[]) => {
      ids.push(c.newRequestId());
      return c.invoke('dice', method, args, { requestId: ids.at(-1)! });
    };
    for (let k = 1; k <= 24; k++) await call('add', [1]);
    // Two checkpoints (after 10 and 20 requests at the coordinator) judged equal everywhere.
    await until(
      () => members.every((m) => m.observer.status().stats.replica!.applied === 24),
      3_000,
      'applied',
    );
    const judgedTwo = async () => (await Promise.all(members.map(checks))).every((n) => n >= 2);
    expect(await eventually(judgedTwo, 5_000)).toBe(true);
    for (const m of members) expect(m.observer.divergences).toEqual([]);

    await call('roll', []); // request 25
    for (let k = 26; k <= 30; k++) await call('add', [1]);
    // The checkpoint after request 30 is the first after the divergent request 25.
    await until(
      () => members.every((m) => m.observer.divergences.length === 1),
      5_000,
      'the divergence at every replica',
    );
    const records = members.map((m) => m.observer.divergences[0]!);
    expect(new Set(records.map((r) => r.checkpoint)).size).toBe(1);
    const r = records[0]!;
    expect(Object.keys(r.digests)).toHaveLength(3); // Math.random: three different states
    expect(r.minority).toEqual([]); // and no majority
    const last = Object.values(r.lastRequests);
    expect(last).toHaveLength(3);
    expect(new Set(last).size).toBe(1);
    const n = ids.indexOf(last[0]!) + 1;
    expect(n).toBeGreaterThanOrEqual(25);
    expect(n - 25).toBeLessThan(10); // detected within 10 requests of the divergent one
    for (const m of members) {
      const line = m.lines.find((l) => String(l.msg).startsWith('replica divergence'))!;
      expect(line).toMatchObject({
        level: 50,
        member: m.group.self,
        checkpoint: r.checkpoint,
        inMinority: false,
      });
      const metric = await m.observer.registry.getSingleMetricAsString('troupe_replica_divergences_total');
      expect(metric).toMatch(/troupe_replica_divergences_total\{group="dice"\} 1/);
    }
  }, 40_000);

  it('names the minority replica, which leaves the group with onDivergence: leave', async () => {
    const seeds = await dice([false, false, true], { divergence: { checkEvery: 0, onDivergence: 'leave' } });
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const c = await client(seeds);
    await c.invoke('dice', 'add', [13]);
    const second = c.newRequestId();
    await c.invoke('dice', 'add', [2], { requestId: second });
    await until(() => members.every((m) => m.replica.instance.total >= 15), 3_000, 'applied');
    const bad = members[2]!;
    expect(members[1]!.observer.checkDivergence()).toMatch(/^chk-/);
    await until(() => members.every((m) => m.observer.divergences.length === 1), 5_000, 'the divergence');
    const r = members[0]!.observer.divergences[0]!;
    expect(r.minority).toEqual([bad.group.self]);
    expect(r.lastRequests[bad.group.self]).toBe(second);
    expect(
      Object.values(r.digests)
        .map((ms) => ms.length)
        .sort(),
    ).toEqual([1, 2]);
    await until(
      () =>
        members
          .slice(0, 2)
          .every((m) => m.group.view?.members.length === 2 && !m.group.view.members.includes(bad.group.self)),
      5_000,
      'the minority to leave',
    );
    expect(
      bad.lines.some((l) => l.level === 60 && l.msg === 'leaving the group: this replica diverged'),
    ).toBe(true);
  }, 30_000);

  it('flags .all replies that differ, at the client: Replies.divergent, a metric and a log line', async () => {
    const seeds = await dice([false, true], { divergence: { checkEvery: 0 } });
    await until(() => members.every((m) => m.group.view?.members.length === 2), 5_000, 'a 2-member view');
    const lines: Record<string, unknown>[] = [];
    const observer = new Observer({ logger: createLogger({ write: (l) => lines.push(JSON.parse(l)) }) });
    const c = await connect({ ...TEST_SECURITY, group: 'dice', seeds, observe: observer });
    clients.push(c);
    const same = (await c.invoke('dice', 'add', [1], { reply: 'all' })) as Replies<number>;
    expect(same.entries.map((e) => e.status)).toEqual(['ok', 'ok']);
    expect(same.divergent).toBeUndefined();
    const differ = (await c.invoke('dice', 'add', [13], { reply: 'all' })) as Replies<number>;
    expect(differ.divergent).toBe(true);
    expect(new Set(differ.entries.map((e) => (e.status === 'ok' ? e.value : undefined)))).toEqual(
      new Set([14, 15]),
    );
    expect(await observer.registry.getSingleMetricAsString('troupe_client_divergent_replies_total')).toMatch(
      / 1$/m,
    );
    const line = lines.find((l) => String(l.msg).startsWith('replica divergence'))!;
    expect(line).toMatchObject({ level: 50, requestId: differ.requestId, method: 'dice.add' });
  }, 30_000);

  it('no false alarm: a joiner restored from a snapshot digests like the others', async () => {
    const seeds = await dice([false, false], { divergence: { checkEvery: 0 } });
    await until(() => members.every((m) => m.group.view?.members.length === 2), 5_000, 'a 2-member view');
    const c = await client(seeds);
    for (let k = 0; k < 15; k++) await c.invoke('dice', 'add', [k]);
    await dice([false], { divergence: { checkEvery: 0 } }, seeds);
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    for (let k = 0; k < 15; k++) await c.invoke('dice', 'add', [k]);
    await until(() => members.every((m) => m.replica.instance.total === 210), 3_000, 'applied');
    // Started by the joiner and by a veteran: both judged at all three.
    members[2]!.observer.checkDivergence();
    members[0]!.observer.checkDivergence();
    const judgedBoth = async () => (await Promise.all(members.map(checks))).every((n) => n >= 2);
    expect(await eventually(judgedBoth, 5_000)).toBe(true);
    for (const m of members) expect(m.observer.divergences).toEqual([]);
  }, 30_000);

  it('a view that admits a member starts a check at once: the joiner is compared at its join (FINDINGS 216)', async () => {
    // No periodic check in this test's life: only the join starts one.
    const opts = { divergence: { checkEvery: 1_000_000 } };
    const seeds = await dice([false, false], opts);
    await until(() => members.every((m) => m.group.view?.members.length === 2), 5_000, 'a 2-member view');
    const c = await client(seeds);
    for (let k = 0; k < 10; k++) await c.invoke('dice', 'add', [k]);
    expect(await Promise.all(members.map(checks))).toEqual([0, 0]);
    await dice([false], opts, seeds);
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const judged = async () => (await Promise.all(members.map(checks))).every((n) => n >= 1);
    expect(await eventually(judged, 5_000)).toBe(true);
    for (const m of members) expect(m.observer.divergences).toEqual([]);
  }, 30_000);
});
