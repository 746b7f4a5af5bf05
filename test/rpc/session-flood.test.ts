/**
 * FINDINGS 226: every client id a request names makes a session in the outcome table, and
 * without a key anyone is a client. A stranger's 10,000 invented client ids ended a victim's
 * session (past `maxClients`), and the victim's retransmission of a committed call ran again at
 * every replica. A session now records the host of its first request, and one host holds at most
 * `perHost` sessions (an eighth of `maxClients`): past it, that host's own least recently active
 * session ends, never another host's.
 */
import { describe, expect, it } from 'vitest';
import { RpcConfigError } from '../../runtime/rpc/errors.js';
import { OutcomeTable, type OutcomeTableState } from '../../runtime/rpc/outcomes.js';
import { sessionFlood } from '../sim/repro/session-flood.js';
import { OutcomeTable as EarlierTable } from './fixtures/outcomes-d65824a.js';

const ok1 = {
  status: 'committed' as const,
  result: { ok: true as const, value: new Uint8Array([1]) },
  viewId: 1,
  at: 0,
};

const clientsOf = (t: { snapshot(): OutcomeTableState }) => t.snapshot()[2].map(([c]) => c);

/** Applies and records one call of `client`'s, from `address`. */
function call(t: OutcomeTable, id: string, address: string): void {
  t.request(id, undefined, undefined, address);
  t.record(id, ok1);
}

describe('FINDINGS 226: invented clients of one host', () => {
  it("a stranger's 10,000 invented clients leave a victim's committed call answered, not run again", async () => {
    // Before: the victim's call ran [2,2,2] times per replica.
    const r = await sessionFlood(10_000);
    expect(r.packets).toBe(40);
    expect(r.runs).toEqual([1, 1, 1]);
    expect(r.replies).toBeGreaterThanOrEqual(2); // the first call's reply and the one from the table
  }, 60_000);

  it("a host past perHost ends its own least recently active session, never another host's", () => {
    const t = new OutcomeTable({ maxClients: 16, perHost: 2 });
    call(t, 'victim:1', '10.0.0.1:5000');
    // Ports are free to invent: the host counts.
    for (let i = 0; i < 10; i++) call(t, `a${i}:1`, `10.0.0.2:${1000 + i}`);
    expect(clientsOf(t)).toEqual(['victim', 'a8', 'a9']);
    expect(t.get('victim:1')).toEqual(ok1);
    expect(t.get('a0:1')).toBeUndefined();
    // An IPv6 host by its /64: every address of it is one host.
    for (let i = 1; i <= 3; i++) call(t, `b${i}:1`, `[2001:db8:0:1::${i}]:7`);
    expect(clientsOf(t)).toEqual(['victim', 'a8', 'a9', 'b2', 'b3']);
    call(t, 'c:1', '[2001:db8:0:2::1]:7'); // another /64
    expect(clientsOf(t)).toEqual(['victim', 'a8', 'a9', 'b2', 'b3', 'c']);
  });

  it('a session keeps the host of its first request', () => {
    const t = new OutcomeTable({ maxClients: 16, perHost: 2 });
    call(t, 'm:1', '10.0.0.1:1');
    // The client moved (a new address, a NAT's rebinding): still counted at its first host.
    call(t, 'm:2', '10.0.0.9:1');
    call(t, 'x:1', '10.0.0.9:2');
    call(t, 'y:1', '10.0.0.9:3');
    expect(clientsOf(t)).toEqual(['m', 'x', 'y']);
    call(t, 'z:1', '10.0.0.1:2');
    call(t, 'w:1', '10.0.0.1:3'); // 10.0.0.1 past 2: m, its least recently active, ends
    expect(clientsOf(t)).toEqual(['x', 'y', 'z', 'w']);
  });

  it('the default perHost is an eighth of maxClients', () => {
    const t = new OutcomeTable({ maxClients: 80 });
    for (let i = 0; i < 12; i++) call(t, `a${i}:1`, `10.0.0.2:${i + 1}`);
    expect(clientsOf(t)).toHaveLength(10);
    expect(() => new OutcomeTable({ perHost: 0 })).toThrow(RpcConfigError);
    expect(() => new OutcomeTable({ perHost: 1.5 })).toThrow(RpcConfigError);
  });

  it('queried sessions and sessions without a host are bounded as before', () => {
    const t = new OutcomeTable({ maxClients: 4, perHost: 1 });
    t.fence('q:1', 1); // an outcome query's session: no host
    call(t, 'old:1', '10.0.0.3:1');
    t.request('anon:1', undefined); // no address given: no host
    call(t, 'h:1', '10.0.0.3:2'); // 10.0.0.3 past 1: old ends
    expect(clientsOf(t)).toEqual(['q', 'anon', 'h']);
    // The queried session becomes a client's with its request, and takes its host.
    call(t, 'q:2', '10.0.0.4:1');
    call(t, 'q2:1', '10.0.0.4:2');
    expect(clientsOf(t)).toEqual(['anon', 'h', 'q2']);
  });

  it('a restored copy ends the same sessions, and the snapshot carries the hosts', () => {
    const t = new OutcomeTable({ maxClients: 16, perHost: 2 });
    call(t, 'v:1', '10.0.0.1:1');
    t.fence('q:1', 1);
    for (let i = 0; i < 3; i++) call(t, `a${i}:1`, `10.0.0.2:${i + 1}`);
    t.request('anon:1', undefined);
    const state = t.snapshot();
    expect(state[3]).toEqual([
      ['10.0.0.1', [0]],
      ['10.0.0.2', [2, 3]],
    ]);
    const u = new OutcomeTable({ maxClients: 16, perHost: 2 });
    u.restore(structuredClone(state));
    expect(u.snapshot()).toEqual(state);
    for (const table of [t, u]) {
      call(table, 'a9:1', '10.0.0.2:9'); // ends a1 at both
      call(table, 'v:2', '10.0.0.1:1');
      call(table, 'v2:1', '10.0.0.1:2');
      call(table, 'v3:1', '10.0.0.1:3'); // ends v at both
    }
    expect(clientsOf(u)).toEqual(clientsOf(t));
    expect(clientsOf(t)).toEqual(['q', 'a2', 'anon', 'a9', 'v2', 'v3']);
    expect(u.snapshot()).toEqual(t.snapshot());
  });

  it('a table without hosts writes the earlier form; an earlier release reads the new one', () => {
    const t = new OutcomeTable();
    t.request('anon:1', undefined);
    expect(t.snapshot()).toHaveLength(3);
    call(t, 'v:1', '10.0.0.1:1');
    call(t, 'w:1', '10.0.0.2:1');
    const state = t.snapshot();
    expect(state).toHaveLength(4);
    const earlier = new EarlierTable();
    expect(() => earlier.restore(structuredClone(state))).not.toThrow();
    expect(earlier.snapshot()).toEqual(state.slice(0, 3));
    // A snapshot of the earlier release: no session has a host until its next request.
    const u = new OutcomeTable({ maxClients: 16, perHost: 1 });
    u.restore(structuredClone(earlier.snapshot()));
    expect(u.snapshot()).toHaveLength(3);
    call(u, 'v:2', '10.0.0.1:1');
    call(u, 'v2:1', '10.0.0.1:2'); // 10.0.0.1 past 1: v ends; w has no host yet
    expect(clientsOf(u)).toEqual(['anon', 'w', 'v2']);
  });

  it("restores any host a request's client address (256 characters at most) gives", () => {
    const t = new OutcomeTable();
    call(t, 'v:1', `${'x'.repeat(250)}:y:1`); // not an address: its host key has 257 characters
    const u = new OutcomeTable();
    u.restore(structuredClone(t.snapshot()));
    expect(u.snapshot()).toEqual(t.snapshot());
  });

  it('refuses a malformed hosts field and keeps its table', () => {
    const t = new OutcomeTable();
    call(t, 'v:1', '10.0.0.1:1');
    t.fence('q:1', 1);
    const good = t.snapshot();
    const bads: unknown[] = [
      [['10.0.0.1', [5]]], // no such session
      [['10.0.0.1', [0, 0]]], // repeated
      [
        ['10.0.0.1', [0]],
        ['10.0.0.2', [0]],
      ], // one session, two hosts
      [['10.0.0.1', [1]]], // a queried session
      [['', [0]]],
      [['10.0.0.1', []]],
      [[7, [0]]],
      'hosts',
    ];
    const u = new OutcomeTable();
    call(u, 'mine:1', '10.0.0.5:1');
    const before = u.snapshot();
    for (const hosts of bads)
      expect(() => u.restore([good[0], good[1], structuredClone(good[2]), hosts])).toThrow(/outcome table/);
    expect(u.snapshot()).toEqual(before);
  });
});
