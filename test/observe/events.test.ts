import diagnostics from 'node:diagnostics_channel';
import type { SpanOptions, Tracer } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { CHANNELS, requestStep, sinkFor } from '../../runtime/observe/events.js';
import { Observer } from '../../runtime/observe/observer.js';
import { connect, joinReplica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';
import { FAST, type Observed, observedReplicas, stop } from './support.js';

let members: Observed[] = [];
let groups: Group[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(members.map((m) => stop(m)));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  members = [];
  groups = [];
  clients = [];
});

describe('diagnostics channels', () => {
  it('publish calls, request steps and views without any observer configured', async () => {
    const seen: Record<string, Record<string, unknown>[]> = {};
    const subs = Object.values(CHANNELS).map((name) => {
      const fn = (m: unknown) => {
        seen[name] ??= [];
        seen[name].push(m as Record<string, unknown>);
      };
      diagnostics.subscribe(name, fn);
      return () => diagnostics.unsubscribe(name, fn);
    });
    try {
      const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
      const seeds = ts.map((t) => t.address);
      const made = await Promise.all(
        ts.map((transport) =>
          joinReplica(new Bank(), 'bank', {
            ...TEST_SECURITY,
            seeds,
            transport,
            layers: FAST,
            validate: validateBankRequest,
          }),
        ),
      );
      groups = made.map((m) => m.group);
      await until(() => groups.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
      const client = await connect({ ...TEST_SECURITY, group: 'bank', seeds });
      clients.push(client);
      // Ids are per-incarnation counters (session.ts): take one to know which to look for.
      const id = client.newRequestId();
      await BankClient.connect(client).deposit('a', 5, { requestId: id });
      expect(seen[CHANNELS.callStart]).toEqual([
        { requestId: id, service: 'bank', method: 'deposit', mode: 'first' },
      ]);
      await until(() => (seen[CHANNELS.callEnd] ?? []).length === 1, 1_000, 'call end');
      expect(seen[CHANNELS.callEnd]![0]).toMatchObject({ requestId: id, method: 'deposit' });
      expect(seen[CHANNELS.callEnd]![0]!.durationMs).toBeGreaterThan(0);
      expect(seen[CHANNELS.callEnd]![0]!.error).toBeUndefined();
      await until(
        () => (seen[CHANNELS.request] ?? []).filter((m) => m.step === 'outcome').length === 3,
        3_000,
        'three outcomes',
      );
      // A retransmitted call (a loaded machine) is received and answered again: first occurrences.
      const steps = (member: string) => [
        ...new Set(
          seen[CHANNELS.request]!.filter((m) => m.requestId === id && m.member === member).map((m) => m.step),
        ),
      ];
      const contact = client.contactMember!;
      expect(steps(contact)).toEqual(['received', 'cast', 'ordered', 'applying', 'outcome', 'replied']);
      for (const g of groups.filter((x) => x.self !== contact))
        expect(steps(g.self)).toEqual(['ordered', 'applying', 'outcome']);
      const views = seen[CHANNELS.view]!.filter((v) => (v.members as string[]).length === 3);
      expect(views.length).toBeGreaterThanOrEqual(3);
      expect(views[0]).toMatchObject({ group: 'bank' });
    } finally {
      for (const off of subs) off();
    }
  }, 30_000);
});

interface FakeSpan {
  name: string;
  options: SpanOptions | undefined;
  attributes: Record<string, unknown>;
  status?: { code: number; message?: string };
  ended: boolean;
}

/** A Tracer of @opentelemetry/api's interface that records spans (no SDK). */
function recordingTracer(spans: FakeSpan[]): Tracer {
  return {
    startSpan(name: string, options?: SpanOptions) {
      const s: FakeSpan = { name, options, attributes: { ...options?.attributes }, ended: false };
      spans.push(s);
      const span = {
        setAttribute(k: string, v: unknown) {
          s.attributes[k] = v;
          return span;
        },
        setStatus(st: { code: number; message?: string }) {
          s.status = st;
          return span;
        },
        recordException() {},
        end() {
          s.ended = true;
        },
      };
      return span;
    },
  } as unknown as Tracer;
}

describe('a sink with nobody listening', () => {
  it('tells the runtime not to build per-call events, until an observer or a subscriber appears', () => {
    const bare = sinkFor(undefined);
    for (const type of ['request', 'call', 'app', 'cast', 'failover'] as const)
      expect(bare.wants(type)).toBe(false);
    const fn = () => {};
    diagnostics.subscribe(CHANNELS.request, fn);
    try {
      expect(bare.wants('request')).toBe(true);
      expect(bare.wants('call')).toBe(false);
    } finally {
      diagnostics.unsubscribe(CHANNELS.request, fn);
    }
    expect(bare.wants('request')).toBe(false);
    diagnostics.subscribe(CHANNELS.view, fn);
    try {
      expect(bare.wants('app')).toBe(true);
    } finally {
      diagnostics.unsubscribe(CHANNELS.view, fn);
    }
    const observed = sinkFor({ event: () => {} });
    for (const type of ['request', 'call', 'app', 'cast', 'failover'] as const)
      expect(observed.wants(type)).toBe(true);
  });
});

describe('request steps reported through a sink', () => {
  /** One request's six steps at its contact, through `sink`. */
  const steps = (sink: ReturnType<typeof sinkFor>) => {
    requestStep.received(sink, 'c:1', '127.0.0.1:1');
    requestStep.cast(sink, 'c:1');
    requestStep.ordered(sink, 'c:1', 3, 7, '');
    requestStep.applying(sink, 'c:1', 'deposit');
    requestStep.outcome(sink, 'c:1', 3, 'committed', true);
    requestStep.replied(sink, 'c:1', '127.0.0.1:1');
  };
  const shape = (o: Observer) => o.trace('c:1')?.steps.map(({ at: _, ms: __, ...rest }) => rest);

  it('reach an Observer as arguments, as events while a channel listens, and trace alike', () => {
    const direct = new Observer();
    steps(sinkFor(direct));
    const viaEvents = new Observer();
    const published: unknown[] = [];
    const fn = (m: unknown) => published.push(m);
    diagnostics.subscribe(CHANNELS.request, fn);
    try {
      steps(sinkFor(viaEvents));
    } finally {
      diagnostics.unsubscribe(CHANNELS.request, fn);
    }
    expect(published).toHaveLength(6);
    expect(shape(direct)).toEqual([
      { step: 'received', peer: '127.0.0.1:1' },
      { step: 'cast' },
      { step: 'ordered', viewId: 3, gseq: 7, peer: '' },
      { step: 'applying', method: 'deposit' },
      { step: 'outcome', viewId: 3, status: 'committed', ok: true },
      { step: 'replied', peer: '127.0.0.1:1' },
    ]);
    expect(shape(viaEvents)).toEqual(shape(direct));
  });

  it('reach a subclass that overrides event, and any other sink, as events', () => {
    const seen: string[] = [];
    class Counting extends Observer {
      override event(e: Parameters<Observer['event']>[0]): void {
        if (e.type === 'request') seen.push(e.step);
        super.event(e);
      }
    }
    const counting = new Counting();
    steps(sinkFor(counting));
    expect(seen).toEqual(['received', 'cast', 'ordered', 'applying', 'outcome', 'replied']);
    expect(shape(counting)).toHaveLength(6);
    const events: unknown[] = [];
    steps(sinkFor({ event: (e) => events.push(e) }));
    expect(events).toHaveLength(6);
    expect(events[0]).toMatchObject({ type: 'request', step: 'received', id: 'c:1', peer: '127.0.0.1:1' });
  });
});

describe('OpenTelemetry spans and per-request traces', () => {
  it('link client, contact and every applying replica by the request id; each member traces its steps', async () => {
    const spans: FakeSpan[] = [];
    const tracer = recordingTracer(spans);
    const started = await observedReplicas(3, undefined, { tracer });
    members = started.members;
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const clientObserver = new Observer({ tracer });
    const client = await connect({
      ...TEST_SECURITY,
      group: 'bank',
      seeds: started.seeds,
      observe: clientObserver,
    });
    clients.push(client);
    const bank = BankClient.connect(client);
    const id = client.newRequestId();
    const id2 = client.newRequestId();
    await bank.deposit('a', 5, { requestId: id });
    await expect(bank.withdraw('a', 100, { requestId: id2 })).rejects.toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
    });
    await until(() => members.every((m) => m.replica.instance.balance('a') === 5), 3_000, 'applied');
    await until(
      () => spans.filter((s) => s.attributes['troupe.request_id'] === id).every((s) => s.ended),
      2_000,
      'spans to end',
    );
    const of = (rid: string) => spans.filter((s) => s.attributes['troupe.request_id'] === rid);
    const mine = of(id);
    expect(mine.map((s) => s.name).sort()).toEqual([
      'troupe.apply',
      'troupe.apply',
      'troupe.apply',
      'troupe.call bank.deposit',
      'troupe.order',
    ]);
    expect(mine.every((s) => s.ended)).toBe(true);
    const order = mine.find((s) => s.name === 'troupe.order')!;
    expect(order.attributes['troupe.member']).toBe(client.contactMember);
    expect(order.attributes['troupe.gseq']).toEqual(expect.any(Number));
    const failed = of(id2).find((s) => s.name.startsWith('troupe.call'))!;
    expect(failed.status).toMatchObject({ code: 2, message: 'INSUFFICIENT_FUNDS' });

    // The same request, step by step, at each member and at the client.
    for (const m of members) {
      const t = m.observer.trace(id)!;
      expect(t.member).toBe(m.group.self);
      const steps = [...new Set(t.steps.map((s) => s.step))]; // a retransmission is replied to again
      if (m.group.self === client.contactMember)
        expect(steps).toEqual(['received', 'cast', 'ordered', 'applying', 'outcome', 'replied']);
      else expect(steps).toEqual(['ordered', 'applying', 'outcome']);
      const ordered = t.steps.find((s) => s.step === 'ordered')!;
      expect(ordered.viewId).toBe(m.group.view!.id);
      expect(ordered.peer).toBe(client.contactMember);
      const outcome = t.steps.find((s) => s.step === 'outcome')!;
      expect(outcome).toMatchObject({ status: 'committed', ok: true });
      expect(outcome.ms).toBeGreaterThanOrEqual(0);
      for (let i = 1; i < t.steps.length; i++)
        expect(t.steps[i]!.at).toBeGreaterThanOrEqual(t.steps[i - 1]!.at);
    }
    // Every member ordered it at the same place.
    const gseqs = new Set(
      members.map((m) => m.observer.trace(id)!.steps.find((s) => s.step === 'ordered')!.gseq),
    );
    expect(gseqs.size).toBe(1);
    const ct = clientObserver.trace(id)!;
    expect(ct.steps.map((s) => s.step)).toEqual(['call', 'settled']);
    expect(clientObserver.trace(id2)!.steps[1]).toMatchObject({
      error: 'INSUFFICIENT_FUNDS',
    });
  }, 30_000);

  it('the trace ring keeps the last N requests only', async () => {
    const started = await observedReplicas(1, undefined, { traces: 5 });
    members = started.members;
    const client = await connect({ ...TEST_SECURITY, group: 'bank', seeds: started.seeds });
    clients.push(client);
    const bank = BankClient.connect(client);
    const ids: string[] = [];
    for (let k = 0; k < 8; k++) {
      ids.push(client.newRequestId());
      await bank.deposit('a', 1, { requestId: ids[k]! });
    }
    const o = members[0]!.observer;
    expect(o.trace(ids[2]!)).toBeUndefined();
    expect(o.trace(ids[3]!)).toBeDefined();
    expect(o.trace(ids[7]!)).toBeDefined();
  });
});
