/**
 * Shared set-up of the multi-host tests: a LAN of network namespaces on a bridge
 * (testkit/netns.ts), bank replica processes on some hosts (examples/bank/replica.ts) and a
 * non-member client process on another (fixtures/bank-client.ts), each started with
 * `ip netns exec <ns> node --import tsx ...` through the ProcessHarness.
 *
 * {@link useLan} registers the hooks: the LAN is created once per file, by the first test that
 * asks for it (inside the test, so that a machine without root or `ip` fails that test with the
 * reason rather than reporting it skipped, as a failing `beforeAll` would), every
 * process is killed by pid after each test and every cable plugged back in (`afterEach`, which
 * also fails if any process is left in a namespace), and the LAN is deleted in `afterAll`, which
 * fails if a namespace, link or process remains.
 */
import { afterAll, afterEach, expect } from 'vitest';
import { createLan, type Lan, listNamespaces } from '../support/netns.js';
import { type Child, type ChildEvent, ProcessHarness } from '../support/processes.js';

export const REPLICA = 'examples/bank/replica.ts';
export const CLIENT = 'test/netns/fixtures/bank-client.ts';
/** The IP multicast group of the bank's casts on the LAN. */
export const MCAST_GROUP = '239.255.88.1';
/**
 * Failure detection a loaded 2-CPU machine keeps (as in test/rpc/multiprocess.test.ts): silent
 * for 1 s = suspected; a member that hears no majority for 2 s stops (partitioned).
 */
export const LAYERS = {
  gms: { heartbeatMs: 100, suspectMs: 1_000, partitionMs: 2_000, bootstrapMs: 200, joinRetryMs: 50 },
};

export interface Replica {
  child: Child;
  /** Index of its host on the LAN. */
  host: number;
  /** Its transport address, `10.88.0.x:port`. */
  address: string;
  /** Its member id when it joined. */
  self: string;
  joinedWith: string[];
}

export interface LanContext {
  lan: () => Lan;
  procs: () => ProcessHarness;
}

/** Creates a LAN of `hosts` namespaces for this file; see the module comment. */
export function useLan(hosts: number): LanContext {
  let lan: Lan | undefined;
  let procs = new ProcessHarness();
  afterEach(async () => {
    const started = procs.children;
    await procs.stopAll();
    procs = new ProcessHarness();
    for (const c of started) expect(() => process.kill(c.pid, 0), `${c.name} pid ${c.pid}`).toThrow();
    if (!lan) return;
    for (let i = 0; i < lan.hosts.length; i++) lan.linkUp(i);
    expect(lan.hosts.flatMap((h) => h.ns.pids())).toEqual([]);
  });
  afterAll(() => {
    if (!lan) return;
    const names = lan.hosts.map((h) => h.ns.name);
    expect(lan.destroy()).toEqual([]);
    expect(listNamespaces().filter((n) => names.includes(n))).toEqual([]);
  });
  return {
    lan: () => {
      lan ??= createLan({ hosts }); // throws NetnsUnavailable naming what is missing
      return lan;
    },
    procs: () => procs,
  };
}

/** Matches a `joined` or `view` event whose view has `n` members (and, optionally, not `gone`). */
export const viewOf =
  (n: number, gone?: string) =>
  (e: ChildEvent): boolean => {
    if (e.event !== 'view' && e.event !== 'joined') return false;
    const members = (e.members ?? (e.view as { members: string[] } | undefined)?.members) as string[];
    return members?.length === n && (gone === undefined || !members.includes(gone));
  };

/** How {@link startBank} starts its replicas. */
export interface BankOptions {
  /** IP multicast on the LAN (default), or unicast fan-out. */
  multicast?: boolean;
  /** Bind every replica to `0.0.0.0:port` (the container layout); seeds are then each host's
   * address with that port. Default: each host's address, any free port. */
  wildcardPort?: number;
  /** The membership file of the replica on `host` (`JoinOptions.membershipFile`). */
  membershipFile?: (host: number) => string;
  /** The seeds to join with. Default: the addresses of the replicas started. */
  seeds?: string[];
}

/**
 * Starts a bank replica on each of `hosts`, joins them with every one's address as seeds, and
 * waits for a view of all of them.
 */
export async function startBank(
  ctx: LanContext,
  hosts: number[],
  opts: BankOptions = {},
): Promise<{ replicas: Replica[]; seeds: string[] }> {
  const lan = ctx.lan();
  const wild = opts.wildcardPort;
  const started = await Promise.all(
    hosts.map(async (host) => {
      const ip = lan.host(host).address;
      const args = wild === undefined ? ['--host', ip] : ['--host', '0.0.0.0', '--port', String(wild)];
      if (opts.multicast !== false) args.push('--mcast-group', MCAST_GROUP);
      const child = await ctx.procs().start(REPLICA, {
        name: `replica@${ip}`,
        wrapper: lan.wrapper(host),
        args,
        ready: 'ready',
        readyTimeoutMs: 30_000,
      });
      const bound = child.events.find((e) => e.event === 'ready')!.address as string;
      return { child, host, address: wild === undefined ? bound : `${ip}:${wild}` };
    }),
  );
  const seeds = opts.seeds ?? started.map((s) => s.address);
  const replicas = await Promise.all(
    started.map(async (s) => {
      const file = opts.membershipFile?.(s.host);
      const join = { cmd: 'join', seeds, layers: LAYERS, ...(file ? { membershipFile: file } : {}) };
      const joined = await s.child.request(join, 'joined', 20_000);
      return {
        ...s,
        self: joined.self as string,
        joinedWith: (joined.view as { members: string[] }).members,
      };
    }),
  );
  await Promise.all(
    replicas.map((r) =>
      r.joinedWith.length === hosts.length ? undefined : r.child.waitFor(viewOf(hosts.length), 15_000),
    ),
  );
  return { replicas, seeds };
}

/** Starts the client process on `host` and connects it to `seeds`. */
export async function startClient(
  ctx: LanContext,
  host: number,
  seeds: string[],
): Promise<{ child: Child; contact: string }> {
  const lan = ctx.lan();
  const child = await ctx.procs().start(CLIENT, {
    name: `client@${lan.host(host).address}`,
    wrapper: lan.wrapper(host),
    ready: 'ready',
    readyTimeoutMs: 30_000,
  });
  const connected = await child.request(
    { cmd: 'connect', host: lan.host(host).address, seeds },
    'connected',
    10_000,
  );
  return { child, contact: connected.contact as string };
}

export interface AuditEntry {
  member: string;
  status: string;
  value?: { total: number; accounts: number };
}

/** One `all`-mode audit through the client process. */
export async function audit(client: Child): Promise<{ viewId: number; entries: AuditEntry[] }> {
  const r = await client.request(
    { cmd: 'audit' },
    (e) => e.event === 'audit' || e.event === 'call-error',
    15_000,
  );
  if (r.event !== 'audit') throw new Error(`audit failed: ${r.name}: ${r.message}`);
  return r as never;
}

/** One deposit through the client process; resolves with the new balance. */
export async function deposit(client: Child, account: string, amount: number): Promise<number> {
  const r = await client.request(
    { cmd: 'deposit', account, amount },
    (e) => e.event === 'deposit' || e.event === 'call-error',
    15_000,
  );
  if (r.event !== 'deposit') throw new Error(`deposit failed: ${r.name}: ${r.message}`);
  return r.value as number;
}

/** A replica's own balances, read through its command channel (not the network). */
export async function balances(r: Replica): Promise<Record<string, number>> {
  const s = await r.child.request({ cmd: 'state' }, 'state');
  return (s.app as { balances: Record<string, number> }).balances;
}

/**
 * Waits until replica `r` holds exactly `expected` (a first-mode reply only says the contact
 * applied the call; another replica may apply it a little later).
 */
export async function untilBalances(r: Replica, expected: Record<string, number>, ms = 5_000): Promise<void> {
  const want = JSON.stringify(Object.entries(expected).sort());
  let got: Record<string, number> = {};
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((res) => setTimeout(res, 20))) {
    got = await balances(r);
    if (JSON.stringify(Object.entries(got).sort()) === want) return;
  }
  throw new Error(
    `${r.child.name} holds ${JSON.stringify(got)}, not ${JSON.stringify(expected)}, after ${ms} ms`,
  );
}
