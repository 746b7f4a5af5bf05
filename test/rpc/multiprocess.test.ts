// Object-group RPC across real processes: three `ledger` replicas, each its own Node process, over
// UDP on 127.0.0.1, and a non-member client in the test process. A member is SIGKILLed while a
// call runs: the contact (FailoverError, then outcome and reissue), the holder of a handler lock
// (InterruptedError, and the lock moves), and a replica that is neither (nothing fails; a new
// replica process joins and gets the state and the outcome table).
import { afterEach, describe, expect, it } from 'vitest';
import { connect, FailoverError, type TroupeClient } from '../../runtime/rpc/index.js';
import { TEST_SECURITY } from '../support/key.js';
import { type Child, type ChildEvent, ProcessHarness } from '../support/processes.js';

const REPLICA = 'test/rpc/fixtures/ledger-replica.ts';
// Failure detection a loaded 2-CPU machine keeps (see test/group/multiprocess.test.ts).
const LAYERS = { gms: { heartbeatMs: 100, suspectMs: 1_000, bootstrapMs: 200, joinRetryMs: 50 } };

interface Replica {
  child: Child;
  address: string;
  self: string;
  /** Members of the view it joined with. */
  joinedWith: string[];
}

interface LedgerState {
  entries: string[];
  runs: number;
  reportRuns: number;
}

let procs = new ProcessHarness();
let client: TroupeClient | undefined;
afterEach(async () => {
  await client?.close();
  client = undefined;
  await procs.stopAll();
  procs = new ProcessHarness();
});

const viewOf = (n: number) => (e: ChildEvent) =>
  (e.event === 'view' || e.event === 'joined') &&
  ((e.members ?? (e.view as { members: string[] }).members) as string[]).length === n;

async function start(): Promise<{ child: Child; address: string }> {
  const child = await procs.start(REPLICA, { ready: 'ready', readyTimeoutMs: 30_000 });
  return { child, address: child.events.find((e) => e.event === 'ready')!.address as string };
}

async function join(r: { child: Child; address: string }, seeds: string[]): Promise<Replica> {
  const joined = await r.child.request({ cmd: 'join', seeds, layers: LAYERS }, 'joined', 20_000);
  return { ...r, self: joined.self as string, joinedWith: (joined.view as { members: string[] }).members };
}

/** Three replica processes in one 3-member view. */
async function threeReplicas(): Promise<{ replicas: Replica[]; seeds: string[] }> {
  const started = await Promise.all([0, 1, 2].map(() => start()));
  const seeds = started.map((s) => s.address);
  const replicas = await Promise.all(started.map((s) => join(s, seeds)));
  await Promise.all(replicas.map((r) => viewOfSize(r, 3)));
  return { replicas, seeds };
}

/** Resolves once `r` has a view of `n` members (the view it joined with, or a later one). */
async function viewOfSize(r: Replica, n: number): Promise<void> {
  if (r.joinedWith.length !== n) await r.child.waitFor(viewOf(n), 15_000);
}

async function state(
  r: Replica,
): Promise<{ app: LedgerState; holders: Record<string, string>; view: { members: string[] } }> {
  return (await r.child.request({ cmd: 'state' }, 'state')) as never;
}

/** Waits until every one of `rs` has installed a view of `n` members without `gone`. */
function viewWithout(rs: Replica[], gone: string, n: number): Promise<ChildEvent[]> {
  const removal = (e: ChildEvent) => viewOf(n)(e) && !(e.members as string[]).includes(gone);
  return Promise.all(rs.map((r) => r.child.waitFor(removal, 15_000)));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `r`'s state until `ok` holds (every 20 ms, at most `ms`): a first-mode reply says only
 * that the replying member applied the call; the others apply it in their own time.
 */
async function stateWhen(r: Replica, ok: (s: LedgerState) => boolean, ms = 5_000): Promise<LedgerState> {
  const end = Date.now() + ms;
  for (;;) {
    const s = (await state(r)).app;
    if (ok(s) || Date.now() > end) return s;
    await sleep(20);
  }
}

describe('RPC across replica processes on loopback', () => {
  it('SIGKILL of the contact mid-call: FailoverError with the request id, outcome committed, reissue answered once', async () => {
    const { replicas, seeds } = await threeReplicas();
    client = await connect({ group: 'ledger', seeds, ...TEST_SECURITY });
    const contact = replicas.find((r) => r.self === client!.contactMember)!;
    const survivors = replicas.filter((r) => r !== contact);
    // Every replica runs slowAppend for 1.5 s; the contact dies while it runs (waited for: a
    // fixed 150 ms could come before a loaded machine had ordered the call).
    const call = client.invoke('ledger', 'slowAppend', ['x', 1_500]);
    expect((await stateWhen(contact, (a) => a.runs > 0)).runs).toBe(1); // it is running there
    await contact.child.kill('SIGKILL');
    const err = (await call.catch((e: unknown) => e)) as FailoverError;
    expect(err).toBeInstanceOf(FailoverError);
    expect(err).toMatchObject({ code: 'FAILOVER', member: contact.self });
    expect(err.message).toContain(err.requestId);
    const o = await client.outcome(err.requestId);
    expect(o).toMatchObject({ requestId: err.requestId, status: 'committed', value: 1, settled: true });
    expect(survivors.map((r) => r.self)).toContain(o.member);
    expect(await client.reissue(err.requestId)).toBe(1);
    for (const r of survivors) {
      await stateWhen(r, (a) => a.entries.length >= 1);
      expect(await r.child.request({ cmd: 'outcome', id: err.requestId }, 'outcome')).toMatchObject({
        status: 'committed',
        value: 1,
      });
    }
    // The next call tells the group the client settled it: the replicas drop its outcome.
    expect(await client.invoke('ledger', 'append', ['y'])).toBe(2);
    for (const r of survivors) {
      const s = await stateWhen(r, (a) => a.entries.length >= 2);
      expect(s).toMatchObject({ entries: ['x', 'y'], runs: 2 });
      expect(await r.child.request({ cmd: 'outcome', id: err.requestId }, 'outcome')).toMatchObject({
        status: 'expired',
      });
    }
  }, 60_000);

  it('SIGKILL of a handler-lock holder mid-call: InterruptedError, never run twice, and the lock moves', async () => {
    const { replicas } = await threeReplicas();
    const holderId = (await state(replicas[0]!)).holders.reports!;
    const holder = replicas.find((r) => r.self === holderId)!;
    const others = replicas.filter((r) => r !== holder);
    for (const r of others) expect((await state(r)).holders.reports).toBe(holderId);
    // The client's only seed is not the holder, so its contact survives the kill.
    client = await connect({ group: 'ledger', seeds: [others[0]!.address], ...TEST_SECURITY });
    expect(client.contactMember).toBe(others[0]!.self);
    const call = client.invoke('ledger', 'report', [800]);
    expect((await stateWhen(holder, (a) => a.reportRuns > 0)).reportRuns).toBe(1); // it is running there
    await holder.child.kill('SIGKILL');
    const err = (await call.catch((e: unknown) => e)) as { code: string; requestId: string };
    expect(err).toMatchObject({ code: 'INTERRUPTED' });
    expect(err.requestId).toMatch(new RegExp(`^${client.clientId}:\\d+$`));
    await viewWithout(others, holderId, 2);
    expect(await client.outcome(err.requestId)).toMatchObject({ status: 'interrupted', settled: true });
    await expect(client.reissue(err.requestId)).rejects.toMatchObject({ code: 'INTERRUPTED' });
    // The lock moved to one survivor; all agree which; it answers the next handler call.
    const holders = await Promise.all(others.map(async (r) => (await state(r)).holders.reports));
    expect(holders[0]).toBe(holders[1]);
    expect(others.map((r) => r.self)).toContain(holders[0]);
    expect(await client.invoke('ledger', 'report', [0])).toBe(`${holders[0]}:0`);
    const runs = await Promise.all(others.map(async (r) => (await state(r)).app.reportRuns));
    expect(runs.sort()).toEqual([0, 1]); // the new holder ran the second call; nobody re-ran the first
  }, 60_000);

  it('SIGKILL of a non-contact replica under load: every call answered once; a new replica process gets the state', async () => {
    const { replicas, seeds } = await threeReplicas();
    client = await connect({ group: 'ledger', seeds, ...TEST_SECURITY });
    const contact = replicas.find((r) => r.self === client!.contactMember)!;
    const victim = replicas.find((r) => r !== contact)!;
    const survivors = replicas.filter((r) => r !== victim);
    const calls: Promise<unknown>[] = [];
    const ids: string[] = [];
    for (let k = 0; k < 60; k++) {
      const requestId = client.newRequestId();
      ids.push(requestId);
      calls.push(client.invoke('ledger', 'append', [`e${k}`], { requestId }));
      if (k === 20) await victim.child.kill('SIGKILL');
      await sleep(5);
    }
    const replies = (await Promise.all(calls)) as number[];
    expect([...replies].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, k) => k + 1));
    await viewWithout(survivors, victim.self, 2);
    // The replies came from the contact; the other survivor applies the same calls a moment
    // later (its apply queue, on a loaded machine): wait for both, then compare.
    const states = await Promise.all(
      survivors.map(async (r) => {
        await stateWhen(r, (a) => a.entries.length >= 60);
        return state(r);
      }),
    );
    expect(states[0]!.app.entries).toHaveLength(60);
    expect(states[1]!.app).toEqual(states[0]!.app);
    // A new replica process joins: state and outcome table as of its join point.
    const late = await join(
      await start(),
      seeds.filter((a) => a !== victim.address),
    );
    await Promise.all(survivors.map((r) => r.child.waitFor(viewOf(3), 15_000)));
    await viewOfSize(late, 3);
    const lateState = await state(late);
    expect(lateState.app.entries).toEqual(states[0]!.app.entries);
    expect(lateState.app.runs).toBe(0); // restored, not re-run
    // The last call's outcome: nothing later settled it (earlier ones the client settled are dropped).
    expect(await late.child.request({ cmd: 'outcome', id: ids[59] }, 'outcome')).toMatchObject({
      status: 'committed',
      value: replies[59],
    });
    expect(await client.invoke('ledger', 'append', ['after'])).toBe(61);
    expect((await stateWhen(late, (a) => a.entries.length >= 61)).entries.at(-1)).toBe('after');
  }, 60_000);
});
