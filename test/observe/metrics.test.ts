import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { Metrics, STAT_METRICS, statMetricName } from '../../runtime/observe/metrics.js';
import { Observer } from '../../runtime/observe/observer.js';
import { connect, type TroupeClient } from '../../runtime/rpc/index.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';
import { type Observed, observedReplicas, scrape, stop, sum } from './support.js';

let members: Observed[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(members.map((m) => stop(m)));
  members = [];
  clients = [];
});

describe('Prometheus metrics of a real replica group', () => {
  it('every member serves /metrics; counters and histograms move with calls, a join and a crash', async () => {
    const started = await observedReplicas(3);
    members = started.members;
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const clientObserver = new Observer();
    const client = await connect({
      ...TEST_SECURITY,
      group: 'bank',
      seeds: started.seeds,
      observe: clientObserver,
      // On a loaded machine the client may take its contact for failed (CI, session 35: a
      // FailoverError mid-deposit): reissued exactly once, the counts below still hold.
      autoReissue: true,
    });
    clients.push(client);
    const bank = BankClient.connect(client);

    const before = await Promise.all(members.map((m) => scrape(m.server.url)));
    for (const b of before) {
      expect(sum(b, 'troupe_group_view_members')).toBe(3);
      expect(sum(b, 'troupe_gms_view_id')).toBeGreaterThan(0);
    }
    expect(before.reduce((n, b) => n + sum(b, 'troupe_group_coordinator'), 0)).toBe(1);

    for (let k = 1; k <= 20; k++) await bank.deposit('alice', k);
    await until(
      () => members.every((m) => m.replica.instance.balance('alice') === 210),
      3_000,
      'all applied',
    );
    const after = await Promise.all(members.map((m) => scrape(m.server.url)));
    for (const [i, a] of after.entries()) {
      const b = before[i]!;
      // Ordered calls run at every replica.
      expect(sum(a, 'troupe_replica_applied_total') - sum(b, 'troupe_replica_applied_total')).toBe(20);
      expect(
        sum(a, 'troupe_replica_apply_duration_seconds_count', 'method="deposit"') -
          sum(b, 'troupe_replica_apply_duration_seconds_count', 'method="deposit"'),
      ).toBe(20);
      // The default stack orders with the sequencer (seq).
      expect(sum(a, 'troupe_seq_ordered_total') - sum(b, 'troupe_seq_ordered_total')).toBeGreaterThanOrEqual(
        20,
      );
      expect(sum(a, 'troupe_com_sent_total')).toBeGreaterThan(sum(b, 'troupe_com_sent_total'));
      expect(sum(a, 'troupe_transport_received_total')).toBeGreaterThan(
        sum(b, 'troupe_transport_received_total'),
      );
      // The outcome table keeps what the client has not settled (client sessions): the gauge is
      // the table's size, at least the last call's outcome (the client settles it with its next).
      expect(sum(a, 'troupe_replica_outcomes')).toBe(members[i]!.replica.outcomeCount);
      expect(sum(a, 'troupe_replica_outcomes')).toBeGreaterThanOrEqual(1);
      // Every series carries the group's name.
      expect([...(a.get('troupe_replica_applied_total')?.keys() ?? [])]).toEqual(['{group="bank"}']);
    }
    // Only contacts put calls into the order: their receipt-to-order histograms hold every call
    // (more if a loaded machine made the client fail over and a second contact got a call), and
    // their own casts came back through the sequencer (the group's order latency).
    const total = (name: string) => after.reduce((n, a) => n + sum(a, name), 0);
    expect(total('troupe_replica_order_latency_seconds_count')).toBeGreaterThanOrEqual(20);
    expect(total('troupe_group_order_latency_seconds_count')).toBeGreaterThanOrEqual(20);
    expect(total('troupe_replica_order_latency_seconds_sum')).toBeGreaterThan(0);
    if (client.stats().failovers === 0) {
      const contact = members.findIndex((m) => m.group.self === client.contactMember);
      expect(sum(after[contact]!, 'troupe_replica_order_latency_seconds_count')).toBe(20);
      for (const [i, a] of after.entries())
        if (i !== contact) expect(sum(a, 'troupe_replica_order_latency_seconds_count')).toBe(0);
    }

    const cm = await clientObserver.registry.metrics();
    expect(cm).toMatch(
      /troupe_client_call_duration_seconds_count\{method="bank\.deposit",mode="first",outcome="ok"\} 20/,
    );
    expect(cm).toMatch(/troupe_client_sent_total [1-9]/);

    // A joiner: state transfer at the joiner, a flush at the others.
    const joined = await observedReplicas(1, started.seeds);
    members.push(...joined.members);
    await until(() => members.every((m) => m.group.view?.members.length === 4), 5_000, 'a 4-member view');
    await until(() => joined.members[0]!.replica.instance.balance('alice') === 210, 3_000, 'the state');
    const j = await scrape(joined.members[0]!.server.url);
    expect(sum(j, 'troupe_group_state_transfer_duration_seconds_count')).toBe(1);
    expect(sum(j, 'troupe_group_state_transfer_bytes_sum')).toBeGreaterThan(100);
    const old = await scrape(members[0]!.server.url);
    expect(sum(old, 'troupe_group_flush_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sum(old, 'troupe_group_view_changes_total')).toBeGreaterThanOrEqual(2);

    // A crash: the survivors suspect it and install a view without it.
    const dead = members.pop()!;
    await stop(dead, true);
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'the crash view');
    const survivors = await Promise.all(members.map((m) => scrape(m.server.url)));
    expect(Math.max(...survivors.map((x) => sum(x, 'troupe_gms_suspicions_total')))).toBeGreaterThanOrEqual(
      1,
    );
    const s = survivors[0]!;
    expect(sum(s, 'troupe_group_view_members')).toBe(3);
    expect(sum(s, 'troupe_group_view_changes_total')).toBe(sum(old, 'troupe_group_view_changes_total') + 1);
  }, 30_000);

  it('answers /status and /trace/<id> as JSON and 404 for an unknown trace', async () => {
    const started = await observedReplicas(1);
    members = started.members;
    const m = members[0]!;
    const status = (await (await fetch(`${m.server.url}/status`)).json()) as {
      member: string;
      view: { id: number };
    };
    expect(status.member).toBe(m.group.self);
    expect(status.view.id).toBe(m.group.view!.id);
    const missing = await fetch(`${m.server.url}/trace/nobody%3A1`);
    expect(missing.status).toBe(404);
    expect((await fetch(`${m.server.url}/metrics`, { method: 'POST' })).status).toBe(405);
    expect(m.server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('a request target the URL parser refuses is answered, not a crash; at most 64 live viewers', async () => {
    // `GET //` threw in the request listener and ended the replica (session 19's review).
    const started = await observedReplicas(1);
    members = started.members;
    const m = members[0]!;
    const raw = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const s = connectTcp(m.server.port, '127.0.0.1', () =>
          s.end(`GET ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`),
        );
        let got = '';
        s.on('data', (d) => {
          got += d;
        });
        s.on('end', () => resolve(got.split('\r\n')[0]!));
        s.on('error', reject);
      });
    expect(await raw('//')).toMatch(/^HTTP\/1\.1 404/);
    expect(await raw('//events')).toMatch(/^HTTP\/1\.1 200/); // authority `events`, path /: the page
    expect(await raw('/trace/%E0%A4%A')).toMatch(/^HTTP\/1\.1 400/);
    const viewers = new AbortController();
    const streams = await Promise.all(
      Array.from({ length: 65 }, () => fetch(`${m.server.url}/events`, { signal: viewers.signal })),
    );
    expect(streams.map((r) => r.status).sort()).toEqual([...Array(64).fill(200), 503]);
    viewers.abort();
    expect((await fetch(`${m.server.url}/status`)).status).toBe(200);
  });
});

describe('the metrics table', () => {
  it('lists every stat a real group, replica and client report, and docs/observability.md lists every metric', async () => {
    const started = await observedReplicas(1);
    members = started.members;
    const client = await connect({ ...TEST_SECURITY, group: 'bank', seeds: started.seeds });
    clients.push(client);
    const m = members[0]!;
    const reported = { ...m.group.stats(), replica: { ...m.replica.stats() }, client: { ...client.stats() } };
    const missing: string[] = [];
    for (const [source, values] of Object.entries(reported))
      for (const stat of Object.keys(values))
        if (!STAT_METRICS[source]?.[stat]) missing.push(`${source}.${stat}`);
    expect(missing).toEqual([]);

    const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
    const names = new Set<string>();
    for (const [source, stats] of Object.entries(STAT_METRICS))
      for (const [stat, [kind]] of Object.entries(stats)) names.add(statMetricName(source, stat, kind));
    for (const metric of await m.observer.registry.getMetricsAsJSON()) names.add(metric.name);
    const undocumented = [...names].filter((n) => !doc.includes(`\`${n}\``));
    expect(undocumented).toEqual([]);
  });
});

describe('metric units', () => {
  it('exports ms as seconds and percentages as ratios, named for their unit', async () => {
    expect(statMetricName('seq', 'lagMsMax', 'gauge')).toBe('troupe_seq_lag_max_seconds');
    expect(statMetricName('seq', 'stampWaitMsMax', 'gauge')).toBe('troupe_seq_stamp_wait_max_seconds');
    expect(statMetricName('seq', 'stampLatePctMax', 'gauge')).toBe('troupe_seq_stamp_late_max_ratio');
    expect(statMetricName('client', 'rtoMs', 'gauge')).toBe('troupe_client_rto_seconds');
    const m = new Metrics();
    m.watchStats('group', () => ({ seq: { lagMsMax: 812, stampLatePctMax: 25 } }));
    const text = await m.registry.metrics();
    expect(text).toMatch(/^troupe_seq_lag_max_seconds(\{[^}]*\})? 0\.812$/m);
    expect(text).toMatch(/^troupe_seq_stamp_late_max_ratio(\{[^}]*\})? 0\.25$/m);
  });
});
