/**
 * FINDINGS 216: a replica restored from a snapshot holds a copy of its provider's state, so its
 * agreement with the provider is no independent vote. Before the fix, a buggy replica and the
 * joiner that copied its state outvoted the healthy replica, which was named the minority (and,
 * with `onDivergence: 'leave'`, would have stopped). The tally now counts one vote per lineage
 * of state; these tests fail on the old tally (one vote per member) where they say so.
 */
import { describe, expect, it } from 'vitest';
import type { GroupHandle } from '../../runtime/group/types.js';
import { type DigestVote, DivergenceMonitor, tallyDigests } from '../../runtime/observe/divergence.js';
import { silentLogger } from '../../runtime/observe/logger.js';
import { Metrics } from '../../runtime/observe/metrics.js';
import { Observer } from '../../runtime/observe/observer.js';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { decodeGroupMsg, type RequestMsg } from '../../runtime/rpc/messages.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { CLUSTER_COOKIE_SECRET, Ledger, validateLedger } from '../rpc/support/cluster.js';
import { FakeGroup, type FakeMember, FakeNet } from '../rpc/support/fake-group.js';

const votes = (v: Record<string, string | [string, string]>) =>
  new Map<string, DigestVote>(
    Object.entries(v).map(([m, d]) => [
      m,
      typeof d === 'string' ? { digest: d } : { digest: d[0], origin: d[1] },
    ]),
  );

describe('tallyDigests: one vote per lineage of state', () => {
  it('a copy of a divergent replica does not outvote the healthy one (old tally: h named)', () => {
    // b diverged, then j joined and restored b's state: one lineage against one, a tie.
    const t = tallyDigests(votes({ h: 'x', b: 'y', j: ['y', 'b'] }));
    expect(t.majority).toBeUndefined();
    expect(t.minority).toEqual([]);
    expect(t.lineages.get('j')).toBe('b');
  });

  it('nor do two copies, or a copy of a copy, with their origin gone', () => {
    expect(tallyDigests(votes({ h: 'x', j: ['y', 'b'], k: ['y', 'b'] })).minority).toEqual([]);
    // k restored from j while j was still a copy: k's origin is b (sent with the snapshot).
    expect(tallyDigests(votes({ h: 'x', b: 'y', k: ['y', 'b'] })).minority).toEqual([]);
    // A provider of an older release names only itself: followed through j's own report.
    const t = tallyDigests(votes({ h: 'x', b: 'y', j: ['y', 'b'], k: ['y', 'j'] }));
    expect(t.minority).toEqual([]);
    expect(t.lineages.get('k')).toBe('b');
  });

  it('still names a real minority: independent replicas, copies of the minority included', () => {
    expect(tallyDigests(votes({ h1: 'x', h2: 'x', b: 'y' })).minority).toEqual(['b']);
    // Two independent lineages hold x against b's: b and its copy are the minority.
    expect(tallyDigests(votes({ h1: 'x', h2: 'x', b: 'y', j: ['y', 'b'] })).minority).toEqual(['b', 'j']);
    // b's copy is all that is left of b's lineage: it still counts as that lineage's vote.
    expect(tallyDigests(votes({ h1: 'x', h2: 'x', j: ['y', 'b'] })).minority).toEqual(['j']);
  });

  it('a lineage that split since the copy: the side another lineage confirms wins', () => {
    // j diverged after its restore: b agrees with the independent h.
    expect(tallyDigests(votes({ h: 'x', b: 'x', j: ['y', 'b'] })).minority).toEqual(['j']);
    // b diverged after j copied it: j, from b's earlier state, reached h's on its own.
    expect(tallyDigests(votes({ h: 'x', b: 'y', j: ['x', 'b'] })).minority).toEqual(['b']);
    // One lineage, split, and nothing else to tell which side is right: no verdict.
    expect(tallyDigests(votes({ f: 'x', j: ['x', 'f'], k: ['y', 'f'] })).majority).toBeUndefined();
  });

  it('without origins it is the plain majority of members, ties naming no one', () => {
    expect(tallyDigests(votes({ a: 'x', b: 'x', c: 'y' })).minority).toEqual(['c']);
    expect(tallyDigests(votes({ a: 'x', b: 'x', c: 'y', d: 'y' })).minority).toEqual([]);
    expect(tallyDigests(votes({ a: 'x', b: 'y', c: 'z' })).minority).toEqual([]);
    expect(tallyDigests(votes({ a: 'x', b: 'x' }))).toMatchObject({
      majority: 'x',
      minority: [],
      support: 2,
    });
  });

  it('origins naming each other (only older releases could) are one lineage, named alike', () => {
    const t = tallyDigests(votes({ a: ['x', 'b'], b: ['x', 'a'], h: 'y' }));
    expect(t.minority).toEqual([]);
    expect(t.lineages.get('a')).toBe('a');
    expect(t.lineages.get('b')).toBe('a');
  });
});

/** A monitor at `self` of a view of `members`; reports of the others are fed by hand. */
function monitorAt(self: string, members: string[], onDivergence: 'report' | 'leave' = 'leave') {
  const casts: RequestMsg[] = [];
  let left = 0;
  const view = { id: 4, members };
  const g = {
    self,
    view,
    cast: (bytes: Uint8Array) => casts.push(decodeGroupMsg(bytes) as RequestMsg),
    leave: async () => {
      left++;
    },
  } as unknown as GroupHandle;
  const monitor = new DivergenceMonitor(() => g, silentLogger, new Metrics(), {
    checkEvery: 0,
    onDivergence,
  });
  const msg = (method: string, id: string, args: unknown[]): RequestMsg => ({
    kind: 'request',
    id,
    service: '$troupe',
    method,
    args: encodeValue(args),
    mode: 'none',
    client: '',
    contact: self,
    ts: 0,
    settled: undefined,
    issue: 0,
  });
  let n = 0;
  /** A checkpoint reaches this replica, whose digest is `digest`; returns its own report's args. */
  const checkpoint = (id: string, digest: string, origin?: string) => {
    let confirmed = 0;
    const before = casts.length;
    monitor.onSystem({
      type: 'system',
      msg: msg('checkpoint', id, []),
      view,
      digest: () => digest,
      last: undefined,
      ...(origin !== undefined ? { origin } : {}),
      confirm: () => confirmed++,
    });
    const own = casts.slice(before).find((m) => m.method === 'report')!;
    monitor.onSystem({ type: 'system', msg: own, view, digest: () => digest, last: undefined });
    return { report: own, confirmed: () => confirmed };
  };
  const report = (args: unknown[]) =>
    monitor.onSystem({
      type: 'system',
      msg: msg('report', `rpt-${++n}`, args),
      view,
      digest: () => '',
      last: undefined,
    });
  return { monitor, checkpoint, report, left: () => left };
}

describe('DivergenceMonitor with copies of a state', () => {
  it("the healthy replica is not named and does not leave (old code: minority ['h'], left)", () => {
    const h = monitorAt('h', ['h', 'b', 'j']);
    h.checkpoint('chk-1', 'x');
    h.report(['chk-1', 'b', 'y', '']);
    h.report(['chk-1', 'j', 'y', '', 'b']);
    const [record] = h.monitor.records;
    expect(record).toMatchObject({ minority: [], origins: { j: 'b' } });
    expect(record!.digests).toEqual({ x: ['h'], y: ['b', 'j'] });
    expect(h.left()).toBe(0);
  });

  it('a replica that is the minority of lineages still leaves (the fatal path)', () => {
    // h is wrong against two independent lineages, b and k (j, b's copy, adds nothing).
    const h = monitorAt('h', ['h', 'b', 'k', 'j']);
    h.checkpoint('chk-1', 'x');
    h.report(['chk-1', 'b', 'y', '']);
    h.report(['chk-1', 'j', 'y', '', 'b']);
    h.report(['chk-1', 'k', 'y', '']);
    expect(h.monitor.records[0]!.minority).toEqual(['h']);
    expect(h.left()).toBe(1);
    // And a copy of the minority's state is named with it, and leaves.
    const j = monitorAt('j', ['h1', 'h2', 'b', 'j']);
    j.checkpoint('chk-1', 'y', 'b');
    j.report(['chk-1', 'h1', 'x', '']);
    j.report(['chk-1', 'h2', 'x', '']);
    j.report(['chk-1', 'b', 'y', '']);
    expect([...j.monitor.records[0]!.minority].sort()).toEqual(['b', 'j']);
    expect(j.left()).toBe(1);
  });

  it("the report names the copy's origin as a fifth element, and only then", () => {
    const j = monitorAt('j', ['j', 'b']);
    expect(decode(j.checkpoint('chk-1', 'x', 'b').report)).toEqual(['chk-1', 'j', 'x', '', 'b']);
    // A replica of its own state casts the four elements of older releases.
    const h = monitorAt('h', ['h', 'b']);
    expect(decode(h.checkpoint('chk-1', 'x').report)).toEqual(['chk-1', 'h', 'x', '']);
  });

  it('a fifth element that is not a member id counts as none (a later release may use it)', () => {
    const h = monitorAt('h', ['h', 'b', 'j']);
    h.checkpoint('chk-1', 'x');
    h.report(['chk-1', 'b', 'y', '']);
    h.report(['chk-1', 'j', 'y', '', 42]);
    expect(h.monitor.records[0]).toMatchObject({ minority: ['h'] });
    expect(h.monitor.records[0]!.origins).toBeUndefined();
  });

  it('confirms a copy where its digest is the majority of lineages, never on its origin alone', () => {
    // Every member reported the same digest: confirmed (a check with no divergence).
    const a = monitorAt('j', ['b', 'h', 'j']);
    const c1 = a.checkpoint('chk-1', 'x', 'b');
    a.report(['chk-1', 'b', 'x', '']);
    a.report(['chk-1', 'h', 'x', '']);
    expect(c1.confirmed()).toBe(1);
    // h's report never came (the check is judged at the next checkpoint on what it has): j
    // agrees with its own origin only, which proves nothing of the state it copied.
    const c2 = a.checkpoint('chk-2', 'y', 'b');
    a.report(['chk-2', 'b', 'y', '']);
    const c3 = a.checkpoint('chk-3', 'y', 'b');
    expect(c2.confirmed()).toBe(0);
    // Another lineage agrees: confirmed, whoever is missing.
    a.report(['chk-3', 'h', 'y', '']);
    a.checkpoint('chk-4', 'y', 'b');
    expect(c3.confirmed()).toBe(1);
    // The copy is in the minority: not confirmed.
    const d = monitorAt('j', ['h1', 'h2', 'b', 'j']);
    const c = d.checkpoint('chk-1', 'y', 'b');
    d.report(['chk-1', 'h1', 'x', '']);
    d.report(['chk-1', 'h2', 'x', '']);
    d.report(['chk-1', 'b', 'y', '']);
    expect(c.confirmed()).toBe(0);
  });
});

const decode = (m: RequestMsg) => decodeValue(m.args);

describe('replicas on the fake group: a copy of a divergent state (FINDINGS 216 end to end)', () => {
  const settle = () => new Promise<void>((r) => setTimeout(r, 30));
  function member(group: FakeGroup) {
    const ledger = new Ledger();
    const observer = new Observer({ divergence: { checkEvery: 0, onDivergence: 'leave' } });
    const replica = new Replica(ledger, {
      validate: validateLedger,
      cookieSecret: CLUSTER_COOKIE_SECRET,
      observe: observer,
    });
    const handle: FakeMember = group.join({ state: replica });
    replica.attach(handle);
    return { ledger, observer, replica, handle };
  }

  it('the healthy replica is not named, the copy names its origin, and a copy of it inherits it', async () => {
    const net = new FakeNet();
    const group = new FakeGroup(net, 'ledger');
    const b = member(group); // the coordinator: joiners take their state from it
    const h = member(group);
    await settle();
    b.ledger.entries.push('only at b'); // b diverges (not through the order)
    const j = member(group);
    await settle();
    expect(j.replica.stateOrigin()).toBe(b.handle.self);
    expect(b.replica.stateOrigin()).toBeUndefined();
    h.observer.checkDivergence();
    await settle();
    for (const m of [b, h, j]) {
      const [record] = m.observer.divergences;
      expect(record).toMatchObject({ minority: [], origins: { [j.handle.self]: b.handle.self } });
    }
    expect(h.handle.alive && group.view.members.includes(h.handle.self)).toBe(true);
    // Not confirmed (no majority of lineages holds its digest): still a copy of b.
    expect(j.replica.stateOrigin()).toBe(b.handle.self);
    // b gone, j is the coordinator: k's state is j's copy of b's, and k says so.
    group.crash(b.handle);
    await settle();
    const k = member(group);
    await settle();
    expect(k.replica.stateOrigin()).toBe(b.handle.self);
    h.observer.checkDivergence();
    await settle();
    expect(h.observer.divergences[1]).toMatchObject({ minority: [] });
    for (const m of [b, h, j, k]) m.observer.close();
  });

  it('a copy of a healthy state is confirmed by its first check, and counts on its own after', async () => {
    const net = new FakeNet();
    const group = new FakeGroup(net, 'ledger');
    const a = member(group);
    const b = member(group);
    await settle();
    const j = member(group);
    await settle();
    expect(j.replica.stateOrigin()).toBe(a.handle.self);
    a.observer.checkDivergence();
    await settle();
    expect(a.observer.divergences).toHaveLength(0);
    expect(j.replica.stateOrigin()).toBeUndefined();
    // From here j is a witness of its own: a diverges, b and j outvote it, and a leaves.
    a.ledger.entries.push('only at a');
    b.observer.checkDivergence();
    await settle();
    expect(b.observer.divergences[0]).toMatchObject({ minority: [a.handle.self] });
    expect(b.observer.divergences[0]!.origins).toBeUndefined();
    expect(group.view.members).not.toContain(a.handle.self);
    for (const m of [a, b, j]) m.observer.close();
  });
});
