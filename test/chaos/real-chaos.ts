/**
 * Real-process chaos: `--replicas` ledger replica processes (test/rpc/fixtures/ledger-replica.ts)
 * over UDP on 127.0.0.1 and two non-member clients in this process. For `--seconds`, a seeded
 * schedule SIGKILLs replicas (each replaced by a fresh process that joins), and SIGSTOPs others
 * for 0.1–3 s (past failure detection: excluded, then back and rejoining), never more than a
 * minority down at once. The clients append unique entries, some through `slowAppend` (async work
 * up to 300 ms, which a pause or an exclusion can cut), and settle every call: one client with
 * `autoReissue`, the other by `outcome()` and `reissue()` after any failure, until answered.
 *
 * With `--lan` every replica runs on its own host of a LAN of network namespaces on a bridge
 * (testkit/netns.ts; needs root and iproute2), the clients on the bridge's own address, and the
 * schedule also partitions the network: a minority of the hosts (with `--max-down`, up to that
 * many) is cut off from the rest, sometimes from the clients too, for 0.2–4 s and healed; or one
 * host's packets to another are dropped one way. Cuts are blackhole routes in the hosts' (and the
 * root) namespaces, so the kernel drops the datagrams as a dead link would.
 *
 * Then faults stop, the group settles, and every live replica's log must be identical, hold every
 * answered entry exactly once at the position its reply named, and hold nothing no client sent.
 * Exit 0 and a summary line when that holds; exit 1 with the violations otherwise. The schedule is
 * seeded; the processes' timing is not, so a seed reproduces the faults, not the interleaving.
 *
 *   npx tsx test/chaos/real-chaos.ts [--seed 1] [--seconds 60] [--replicas 5] [--outstanding 8]
 *                                    [--max-down N] [--lan]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, OutcomeUnknownError, type Replies, type TroupeClient } from '../../runtime/rpc/index.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { tcp } from '../../runtime/transport/tcp.js';
import { TEST_SECURITY } from '../support/key.js';
import { createLan, ip, type Lan } from '../support/netns.js';
import { type Child, ProcessHarness } from '../support/processes.js';

const USAGE =
  'usage: npm run chaos -- [--seed 1] [--seconds 60] [--replicas 5] [--outstanding 8] [--max-down N] [--lan] [--tcp]\n' +
  '  --max-down N  members down at once, at most (default: a minority; more lets the group lose\n' +
  '                its majority and found itself again)\n' +
  '  --lan         one network namespace per replica on a bridge, and partitions besides kills\n' +
  '                and pauses (root and iproute2)\n' +
  '  --tcp         replicas and clients run over the TCP transport instead of UDP\n' +
  '  --amnesia     replicas keep no membership file: a replacement remembers nothing of the view\n' +
  "                its slot's killed replica was in (default: one file per slot, as --data-dir)\n" +
  "  --replies     a quarter of the appends ask every member's reply (`all`) or a majority's:\n" +
  '                every member that answers must name the same position, and no reply may be\n' +
  '                flagged divergent\n' +
  '  --insecure    no group key: replicas and clients run keyless (clients prove their\n' +
  '                addresses with cookies, docs/rpc.md)\n' +
  "  --skew MS     each replica's wall clock is off by up to MS either way (its own draw), and\n" +
  '                the schedule also steps one by MS, forward then back (test/chaos/skew-clock.mjs)\n' +
  "  --state-mb N  every replica's replicated state carries N MB more (a ballast field): joins\n" +
  '                and rejoins transfer it while the faults go on; every live replica must end\n' +
  '                with all of it';
let parsed: ReturnType<typeof parseFlags>;
try {
  parsed = parseFlags();
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const flags = parsed.values;
function parseFlags() {
  return parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      seed: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '60' },
      replicas: { type: 'string', default: '5' },
      outstanding: { type: 'string', default: '8' },
      'max-down': { type: 'string' },
      lan: { type: 'boolean', default: false },
      tcp: { type: 'boolean', default: false },
      amnesia: { type: 'boolean', default: false },
      replies: { type: 'boolean', default: false },
      insecure: { type: 'boolean', default: false },
      skew: { type: 'string' },
      'state-mb': { type: 'string' },
    },
  });
}
const SEED = Number(flags.seed);
const SECONDS = Number(flags.seconds);
const N = Number(flags.replicas);
const OUTSTANDING = Number(flags.outstanding);
/**
 * Members down (killed and not yet replaced, or stopped) at once, at most: a minority, unless
 * `--max-down` says more. Then the group can lose its majority and must found itself again from
 * the most advanced survivor (docs/protocol.md, "Re-founding"), and what only the dead held is
 * lost by design: answered entries may be missing, so only agreement and at-most-once are checked.
 */
const MINORITY = Math.floor((N - 1) / 2);
const MAX_DOWN = flags['max-down'] === undefined ? MINORITY : Number(flags['max-down']);
const REPLICA = 'test/rpc/fixtures/ledger-replica.ts';
/** `--skew`: the largest offset of a replica's wall clock from the clients', and each step's size. */
const SKEW_MS = flags.skew === undefined ? undefined : Number(flags.skew);
if (SKEW_MS !== undefined && !(SKEW_MS >= 0)) {
  console.error(`--skew takes milliseconds, not '${flags.skew}'\n${USAGE}`);
  process.exit(2);
}
/** `--state-mb`: MB of ballast in each replica's replicated state (0: none). */
const STATE_MB = flags['state-mb'] === undefined ? 0 : Number(flags['state-mb']);
if (!(STATE_MB >= 0 && STATE_MB <= 256)) {
  console.error(`--state-mb takes 0 to 256 MB, not '${flags['state-mb']}'\n${USAGE}`);
  process.exit(2);
}
/**
 * Each slot's membership file (`JoinOptions.membershipFile`, what `troupe serve --data-dir`
 * keeps): a replacement reads the view its slot's killed replica was last in, as a restarted
 * replica with its data directory would. Undefined with `--amnesia`.
 */
const MEMORY_DIR = flags.amnesia ? undefined : mkdtempSync(join(tmpdir(), 'troupe-chaos-'));
const memoryOf = (slot: number) =>
  MEMORY_DIR ? { membershipFile: join(MEMORY_DIR, `slot-${slot}.json`) } : {};
// A /24 of its own per run (by pid), so two runs, or a run and the netns tests (10.88.0.0/24),
// never share an address on the root namespace's bridges.
const SUBNET = `10.89.${process.pid % 250}`;
/** With `--lan`: host i of the LAN runs replica slot i; the clients use the bridge's address. */
const lan: Lan | undefined = flags.lan
  ? createLan({ hosts: N, subnet: SUBNET, prefix: 'troupe-chaos' })
  : undefined;
const CLIENT_ADDRESS = `${SUBNET}.250`;
if (lan) ip(['addr', 'add', `${CLIENT_ADDRESS}/24`, 'dev', lan.bridge]);
// Failure detection a loaded 2-CPU machine keeps (as test/rpc/multiprocess.test.ts).
const LAYERS = { gms: { heartbeatMs: 100, suspectMs: 1_000, bootstrapMs: 200, joinRetryMs: 50 } };
/** How long a call may take to settle (through fail-overs and reissues) before it counts as lost. */
const SETTLE_MS = 60_000;
/**
 * How long the group may take to settle after the faults: a member excluded again and again
 * waits out rejoin damping before it comes back (`rejoinDampMs`, 5 s by default, doubling up to
 * 16×: 80 s; docs/api.md), then joins and takes the state.
 */
const GROUP_SETTLE_MS = 16 * 5_000 + 60_000;
/** Past this long after a stop or a cut, a member not excluded yet was not excluded (suspectMs,
 * then partitionMs, 3 s by default, and a margin). */
const EXCLUSION_SHOWS_MS = LAYERS.gms.suspectMs + 3_000 + 2_000;

// The schedule's draws apart from the workload's, so a seed gives the same faults however the
// calls interleave.
const rand = seededRandom(SEED);
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const work = seededRandom(SEED + 0x9e3779b9);
/** Each replica's clock offset under `--skew`, drawn apart so the schedule stays the seed's. */
const skewDraw = seededRandom(SEED + 0x5bd1e995);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const t0 = Date.now();
const log = (line: string) => console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);

interface Replica {
  child: Child;
  address: string;
  /** Its host on the LAN (`--lan`); a replacement takes the slot of the replica it replaces. */
  slot: number;
  /** Until when the network cuts it off (`--lan`), if it does. */
  cutUntil?: number;
  /** Until when it is stopped (SIGSTOP), if it is. */
  pausedUntil?: number;
  joined: boolean;
  /** After a stop longer than failure detection: events from here on tell whether it is back. */
  rejoinFrom?: number;
  /** When it ran again (resumed, or its cut healed) after such a stop. */
  backAt?: number;
}

const procs = new ProcessHarness();
const replicas: Replica[] = [];
/** Replicas killed (their events still tell which histories the group went through). */
const killed: Replica[] = [];
const counts = {
  kills: 0,
  pauses: 0,
  /** `--skew`: wall clock steps sent to replicas. */
  clockSteps: 0,
  partitions: 0,
  oneWay: 0,
  calls: 0,
  answered: 0,
  retried: 0,
  lost: 0,
  /**
   * Calls that ended in OUTCOME_UNKNOWN: first sent before the group was founded again, with no
   * record of them in the new history (docs/rpc.md, "When the whole group loses its majority").
   * Right only in a run whose group changed history; else each is a violation.
   */
  unknown: 0,
  /** Histories of the group the replicas said (`Group.history`): more than one after a re-founding. */
  histories: 0,
  /** `--replies`: answers that came as every member's (or a majority's) replies. */
  multiReplies: 0,
};
const violations: string[] = [];

/**
 * Each slot's port, from its first replica: with membership files a replacement binds it again,
 * as a restarted replica with a data directory comes back at its configured address.
 */
const slotPorts = new Map<number, string>();

/** Starts a replica process (on host `slot` of the LAN with `--lan`). */
function spawn(slot: number): Promise<Child> {
  const port = MEMORY_DIR ? slotPorts.get(slot) : undefined;
  const tcpArgs = [
    ...(flags.tcp ? ['--tcp'] : []),
    ...(flags.insecure ? ['--insecure'] : []),
    ...(port ? ['--port', port] : []),
    ...(STATE_MB > 0 ? ['--ballast-mb', String(STATE_MB)] : []),
  ];
  // A wall clock off by up to SKEW_MS, the process's own draw, stepped on SIGUSR2.
  const skew =
    SKEW_MS === undefined
      ? {}
      : {
          nodeArgs: ['--import', new URL('./skew-clock.mjs', import.meta.url).href],
          env: {
            TROUPE_CHAOS_SKEW_MS: String(Math.round((skewDraw() * 2 - 1) * SKEW_MS)),
            TROUPE_CHAOS_STEP_MS: String(SKEW_MS),
          },
        };
  const where = lan
    ? {
        wrapper: lan.wrapper(slot),
        args: ['--host', lan.host(slot).address, ...tcpArgs],
        name: `replica@${lan.host(slot).address}`,
      }
    : { args: tcpArgs };
  return procs.start(REPLICA, { ready: 'ready', readyTimeoutMs: 30_000, ...skew, ...where });
}

async function startReplica(seeds: () => string[], slot: number): Promise<Replica> {
  const child = await spawn(slot);
  const r: Replica = {
    child,
    address: child.events.find((e) => e.event === 'ready')!.address as string,
    slot,
    joined: false,
  };
  replicas.push(r);
  await child.request(
    { cmd: 'join', seeds: [...new Set([...seeds(), r.address])], layers: LAYERS, ...memoryOf(slot) },
    'joined',
    30_000,
  );
  r.joined = true;
  return r;
}

/** Replacements started and not yet joined (or failed). */
const replacements = new Set<Promise<unknown>>();
const live = () => replicas.filter((r) => r.child.alive);
/**
 * Whether `r` is a member now, as far as it said: joined, not stopped, and (after a stop long
 * enough to be excluded) installed a view again since, with no `partitioned` after it.
 */
function up(r: Replica): boolean {
  if (!r.joined || r.pausedUntil !== undefined || r.cutUntil !== undefined) return false;
  const since = r.child.events.slice(r.rejoinFrom ?? 0);
  const last = since.findLast((e) => e.event === 'view' || e.event === 'partitioned');
  if (r.rejoinFrom === undefined || last !== undefined) return last?.event !== 'partitioned';
  // Neither excluded nor back in a new view yet: past the time an exclusion would have shown
  // (suspicion, then a member hearing no majority stops), it never was. Without this, a member
  // stopped or cut long without being excluded counted as down for good, and the schedule,
  // seeing a minority down, ran out of faults (LAN seed 8: 3 faults in 60 s).
  return Date.now() - (r.backAt ?? 0) > EXCLUSION_SHOWS_MS;
}
const down = () => replicas.filter((r) => r.child.alive && !up(r)).length + (N - live().length);

/** One fault, or none when a minority is already down. */
async function fault(): Promise<void> {
  if (down() >= MAX_DOWN) return;
  const candidates = live().filter(up);
  const target = candidates[between(0, candidates.length - 1)];
  if (!target) return;
  if (SKEW_MS !== undefined && rand() < 0.2) {
    counts.clockSteps++;
    log(`clock step of pid ${target.child.pid} by ${SKEW_MS} ms (forward, then back)`);
    target.child.killSync('SIGUSR2');
    return;
  }
  if (lan) {
    const x = rand();
    if (x < 0.35) return partition(candidates);
    if (x < 0.5) return oneWay(candidates);
  }
  if (rand() < 0.35) {
    counts.kills++;
    log(`SIGKILL pid ${target.child.pid} at ${target.address}`);
    await target.child.kill('SIGKILL');
    replicas.splice(replicas.indexOf(target), 1);
    killed.push(target);
    const replacing = startReplica(() => live().map((r) => r.address), target.slot).then(
      (r) => log(`replacement pid ${r.child.pid} joined at ${r.address}`),
      (e) => violations.push(`a replacement replica did not join: ${(e as Error).message.split('\n')[0]}`),
    );
    replacements.add(replacing);
    void replacing.finally(() => replacements.delete(replacing));
    return;
  }
  const ms = rand() < 0.5 ? between(100, 900) : between(1_200, 3_000);
  counts.pauses++;
  log(`SIGSTOP pid ${target.child.pid} for ${ms} ms`);
  target.pausedUntil = Date.now() + ms;
  target.child.killSync('SIGSTOP');
  setTimeout(() => resume(target, ms), ms);
}

function resume(r: Replica, stoppedMs: number): void {
  if (r.pausedUntil === undefined) return;
  r.pausedUntil = undefined;
  // Stopped about as long as suspectMs or longer: it may have been excluded, and counts as down
  // until it installs a view again.
  if (stoppedMs >= LAYERS.gms.suspectMs * 0.8) {
    r.rejoinFrom = r.child.events.length;
    r.backAt = Date.now();
  }
  r.child.killSync('SIGCONT');
}

/** Directed cuts in force (`--lan`): `from>to`, host indexes, -1 for the clients' address. */
const cuts = new Set<string>();
const addressOf = (host: number) => (host < 0 ? CLIENT_ADDRESS : lan!.host(host).address);

/** Drops (or, `on` false, passes again) what host `from` sends to host `to`. */
function cut(from: number, to: number, on: boolean): void {
  const key = `${from}>${to}`;
  if (on === cuts.has(key)) return;
  const args = ['route', on ? 'add' : 'del', 'blackhole', `${addressOf(to)}/32`];
  if (from < 0) ip(args);
  else lan!.host(from).ns.ip(args);
  if (on) cuts.add(key);
  else cuts.delete(key);
}

/** How long a cut lasts: often below failure detection, often past it. */
const cutMs = () => (rand() < 0.5 ? between(200, 900) : between(1_200, 4_000));

/** Cuts a minority of the hosts (up to what `--max-down` allows) off from the rest, then heals. */
function partition(candidates: Replica[]): void {
  const room = Math.min(MAX_DOWN - down(), candidates.length - 1);
  if (room < 1) return;
  const side = [...candidates].sort(() => rand() - 0.5).slice(0, between(1, room));
  const rest = live().filter((r) => !side.includes(r));
  // The clients stay with both sides, with the rest, or (the hard case) with the cut-off side
  // only: their contact there cannot order anything, and must not answer as if it had.
  const x = rand();
  const clients = x < 0.4 ? 'both' : x < 0.75 ? 'rest' : 'side';
  const ms = cutMs();
  log(
    `partition ${side.map((r) => r.slot).join(',')} | ${rest.map((r) => r.slot).join(',')}` +
      `${clients === 'both' ? '' : ` (the clients with ${clients === 'rest' ? 'the rest' : 'the cut-off side'})`} for ${ms} ms`,
  );
  counts.partitions++;
  const pairs: [number, number][] = [];
  for (const a of side) {
    for (const b of rest) pairs.push([a.slot, b.slot], [b.slot, a.slot]);
    if (clients === 'rest') pairs.push([a.slot, -1], [-1, a.slot]);
    a.cutUntil = Date.now() + ms;
  }
  if (clients === 'side') for (const b of rest) pairs.push([b.slot, -1], [-1, b.slot]);
  for (const [f, t] of pairs) cut(f, t, true);
  setTimeout(() => heal(side, pairs, ms), ms);
}

/** Drops one host's packets to another, one way, then heals. */
function oneWay(candidates: Replica[]): void {
  if (MAX_DOWN - down() < 2 || candidates.length < 2) return;
  const [a, b] = [...candidates].sort(() => rand() - 0.5) as [Replica, Replica];
  const ms = cutMs();
  log(`one-way cut ${a.slot} -> ${b.slot} for ${ms} ms`);
  counts.oneWay++;
  // Either end may be suspected (one hears nothing, the other's messages go unanswered).
  a.cutUntil = b.cutUntil = Date.now() + ms;
  const pairs: [number, number][] = [[a.slot, b.slot]];
  cut(a.slot, b.slot, true);
  setTimeout(() => heal([a, b], pairs, ms), ms);
}

function heal(members: Replica[], pairs: [number, number][], cutFor: number): void {
  for (const [f, t] of pairs) cut(f, t, false);
  for (const r of members) {
    if (r.cutUntil === undefined) continue;
    r.cutUntil = undefined;
    // Cut about as long as suspectMs or longer: it may have been excluded, and counts as down
    // until it installs a view again.
    if (cutFor >= LAYERS.gms.suspectMs * 0.8) {
      r.rejoinFrom = r.child.events.length;
      r.backAt = Date.now();
    }
  }
}

/** What the clients sent and what they were told: entry → the position its reply named. */
const sent = new Set<string>();
const answered = new Map<string, number>();

/** Settles one call: waits for it, and after any failure asks its outcome and reissues it. */
async function settle(client: TroupeClient, id: string, first: Promise<unknown>): Promise<unknown> {
  const deadline = Date.now() + SETTLE_MS;
  let attempt: Promise<unknown> = first;
  for (;;) {
    try {
      return await attempt;
    } catch (e) {
      // The group was founded again without a record of it: the client will not send it again.
      if (e instanceof OutcomeUnknownError || Date.now() > deadline) throw e;
      counts.retried++;
      try {
        const o = await client.outcome(id, { timeoutMs: 5_000 });
        if (o.status === 'committed') {
          if (o.error) throw o.error;
          return o.value;
        }
      } catch {
        // No member answered in time: reissue anyway (the group never runs it twice).
      }
      await sleep(50);
      attempt = client.reissue(id);
    }
  }
}

async function worker(client: TroupeClient, name: string, until: number): Promise<void> {
  let n = 0;
  while (Date.now() < until) {
    const entry = `${name}-${n++}`;
    const slow = work() < 0.15;
    const id = client.newRequestId();
    sent.add(entry);
    counts.calls++;
    // Drawn only with --replies, so the other seeds' workloads stay as they were.
    const r = flags.replies ? work() : 1;
    const reply = r < 0.125 ? 'all' : r < 0.25 ? 'majority' : 'first';
    const call = slow
      ? client.invoke('ledger', 'slowAppend', [entry, 10 + Math.floor(work() * 290)], {
          requestId: id,
          reply,
        })
      : client.invoke('ledger', 'append', [entry], { requestId: id, reply });
    try {
      let at = positionOf(entry, await settle(client, id, call));
      if (at === NO_POSITION) {
        const o = await client.outcome(id, { timeoutMs: 5_000 });
        at = o.status === 'committed' ? o.value : `outcome ${o.status}`;
      }
      if (typeof at !== 'number')
        violations.push(`${entry}: the reply ${JSON.stringify(at)} is not a position`);
      else answered.set(entry, at);
      counts.answered++;
    } catch (e) {
      if (e instanceof OutcomeUnknownError) {
        counts.unknown++;
        log(`${entry} (${id}) ended unknown: ${e.message}`);
      } else {
        counts.lost++;
        log(`${entry} (${id}) not settled in ${SETTLE_MS} ms: ${(e as Error).message}`);
      }
    }
  }
}

/**
 * The position a reply names: the value itself (`first`, or an outcome's), or for `all` and
 * `majority` the one every member that answered `ok` names alike (a disagreement or a
 * `divergent` flag is a violation: the replicas applied the calls in different orders).
 */
const NO_POSITION = Symbol('no member answered');
function positionOf(entry: string, reply: unknown): unknown {
  if (typeof reply !== 'object' || reply === null || !('entries' in reply)) return reply;
  const r = reply as Replies<unknown>;
  counts.multiReplies++;
  const values = new Set(r.entries.filter((e) => e.status === 'ok').map((e) => JSON.stringify(e.value)));
  if (r.divergent)
    violations.push(`${entry}: the replies were flagged divergent: ${JSON.stringify(r.entries)}`);
  // No member answered (each failed or timed out): it ran or not; its outcome says.
  if (values.size === 0) return NO_POSITION;
  if (values.size !== 1) {
    violations.push(
      `${entry}: the members' replies name ${values.size} positions: ${JSON.stringify(r.entries)}`,
    );
    return undefined;
  }
  return JSON.parse([...values][0]!);
}

interface LedgerState {
  entries: string[];
  /** `--state-mb`: the ballast's size and checksum at this replica. */
  ballast?: { bytes: number; sum: number };
}
async function states(): Promise<
  {
    r: Replica;
    view?: { id: number; members: string[] };
    app: LedgerState;
    group?: Record<string, Record<string, number>>;
  }[]
> {
  return Promise.all(
    live().map(async (r) => {
      const s = await r.child.request({ cmd: 'state' }, 'state', 5_000);
      return {
        r,
        view: s.view as { id: number; members: string[] } | undefined,
        app: s.app as LedgerState,
        group: s.group as Record<string, Record<string, number>> | undefined,
      };
    }),
  );
}

async function main(): Promise<void> {
  log(
    `seed ${SEED}, ${N} replicas${lan ? ` on ${N} hosts of a LAN` : ''}, ${SECONDS} s, ` +
      `${OUTSTANDING} calls outstanding per client${STATE_MB > 0 ? `, ${STATE_MB} MB of state` : ''}`,
  );
  const first = await Promise.all(Array.from({ length: N }, (_, slot) => spawn(slot)));
  const seeds = first.map((c) => c.events.find((e) => e.event === 'ready')!.address as string);
  first.forEach((child, slot) => {
    const address = seeds[slot]!;
    slotPorts.set(slot, address.slice(address.lastIndexOf(':') + 1));
    replicas.push({ child, address, slot, joined: false });
  });
  await Promise.all(
    replicas.map(async (r) => {
      await r.child.request({ cmd: 'join', seeds, layers: LAYERS, ...memoryOf(r.slot) }, 'joined', 30_000);
      r.joined = true;
    }),
  );
  const common = {
    ...(flags.insecure ? { insecure: true as const } : TEST_SECURITY),
    group: 'ledger',
    seeds,
    timeoutMs: 10_000,
    ...(lan ? { host: CLIENT_ADDRESS } : {}),
  };
  // Over TCP each client brings its own transport (the default is UDP).
  const transport = async () =>
    flags.tcp ? { transport: await tcp({ host: lan ? CLIENT_ADDRESS : '127.0.0.1' }) } : {};
  const auto = await connect({ ...common, ...(await transport()), autoReissue: true });
  const manual = await connect({ ...common, ...(await transport()) });
  const until = Date.now() + SECONDS * 1_000;
  const calls = Promise.all(
    [auto, manual].flatMap((c, k) =>
      Array.from({ length: OUTSTANDING }, (_, i) => worker(c, `${k === 0 ? 'a' : 'm'}${i}`, until)),
    ),
  );
  while (Date.now() < until) {
    await sleep(between(300, 2_000));
    if (Date.now() < until) await fault();
  }
  for (const r of replicas) resume(r, Number.POSITIVE_INFINITY);
  for (const key of [...cuts]) {
    const [f, t] = key.split('>').map(Number) as [number, number];
    cut(f, t, false);
  }
  log('faults stopped; settling the calls');
  await calls;
  // A replacement started by the last kill may still be starting (a process start on a loaded
  // host takes seconds): it is one of the replicas that must settle, not one to stop unjoined.
  await Promise.all([...replacements]);
  // Settled: every live replica in one view of all of them, with the same log, for a while.
  const settleEnd = Date.now() + GROUP_SETTLE_MS;
  let last: Awaited<ReturnType<typeof states>> = [];
  for (;;) {
    last = await states().catch(() => []);
    const n = live().length;
    const same =
      last.length === n &&
      last.every(
        (s) =>
          s.view?.members.length === n &&
          s.view.id === last[0]!.view?.id &&
          JSON.stringify(s.app.entries) === JSON.stringify(last[0]!.app.entries),
      );
    if (same && replicas.every((r) => r.joined)) break;
    if (Date.now() > settleEnd) {
      // Why: the counters of each member not in the view of all (gms says whether it is joining,
      // what it sent and what it refused).
      for (const s of last)
        if (s.view?.members.length !== n)
          log(
            `pid ${s.r.child.pid} view ${s.view?.id ?? '-'}: ${JSON.stringify({ gms: s.group?.gms, group: s.group?.group })}`,
          );
      violations.push(
        `the group did not settle in ${GROUP_SETTLE_MS / 1000} s: ${last.map((s) => `${s.r.child.pid} view ${s.view?.id}/${s.view?.members.length} log ${s.app.entries.length}`).join(', ')} (${n} live)`,
      );
      break;
    }
    await sleep(500);
  }
  const log0 = last[0]?.app.entries ?? [];
  for (const s of last)
    if (JSON.stringify(s.app.entries) !== JSON.stringify(log0))
      violations.push(
        `replica pid ${s.r.child.pid}'s log (${s.app.entries.length}) differs from pid ${last[0]!.r.child.pid}'s (${log0.length})`,
      );
  if (STATE_MB > 0) {
    const want = Math.round(STATE_MB * 1024 * 1024);
    const sum0 = last[0]?.app.ballast?.sum;
    for (const s of last)
      if (s.app.ballast?.bytes !== want || s.app.ballast.sum !== sum0)
        violations.push(
          `replica pid ${s.r.child.pid}'s ballast is ${JSON.stringify(s.app.ballast)}, not ${want} bytes summing to ${sum0}`,
        );
  }
  const seen = new Map<string, number>();
  log0.forEach((e, i) => {
    if (seen.has(e)) violations.push(`${e} applied twice: positions ${seen.get(e)! + 1} and ${i + 1}`);
    else seen.set(e, i);
    if (!sent.has(e)) violations.push(`${e} at position ${i + 1} was never sent`);
  });
  let missing = 0;
  for (const [entry, at] of answered)
    if (MAX_DOWN > MINORITY) missing += seen.has(entry) ? 0 : 1;
    else if (log0[at - 1] !== entry)
      violations.push(`${entry}: the reply named position ${at}, which holds ${log0[at - 1] ?? 'nothing'}`);
  if (counts.lost > 0) violations.push(`${counts.lost} calls never settled`);
  const histories = new Set<number>();
  for (const r of [...killed, ...replicas])
    for (const e of r.child.events)
      if ((e.event === 'view' || e.event === 'state') && typeof e.history === 'number')
        histories.add(e.history);
  counts.histories = histories.size;
  if (counts.unknown > 0 && histories.size < 2)
    violations.push(`${counts.unknown} calls ended OUTCOME_UNKNOWN, but the group never changed history`);
  if (violations.length > 0)
    // What each replica process said (views, partitions, joins), for the one who reads this.
    for (const r of replicas) {
      console.log(`--- pid ${r.child.pid} (${r.child.alive ? 'alive' : 'dead'}, joined ${r.joined})`);
      for (const e of r.child.events.filter((x) => x.event !== 'state').slice(-15))
        console.log(`  ${JSON.stringify(e)}`);
      if (process.env.TROUPE_CHAOS_DUMP)
        writeFileSync(
          `${process.env.TROUPE_CHAOS_DUMP}/replica-${r.child.pid}.log`,
          `${r.child.events.map((e) => JSON.stringify(e)).join('\n')}\n--- stderr\n${r.child.stderr}`,
        );
      const err = r.child.stderr.trim();
      if (err) console.log(`  stderr: ${err.split('\n').slice(-10).join('\n  ')}`);
    }
  await Promise.all([auto.close(), manual.close()]);
  await procs.stopAll();
  if (MEMORY_DIR) rmSync(MEMORY_DIR, { recursive: true, force: true });
  const left = lan?.destroy() ?? [];
  if (left.length > 0) violations.push(`the LAN was not cleaned up: ${left.join(', ')}`);
  const summary = {
    seed: SEED,
    ...counts,
    log: log0.length,
    replicas: N,
    maxDown: MAX_DOWN,
    memory: MEMORY_DIR !== undefined,
    // The faults bit: exclusions the surviving processes went through (each a `partitioned`).
    exclusions: replicas.reduce(
      (n, r) => n + r.child.events.filter((e) => e.event === 'partitioned').length,
      0,
    ),
    ...(MAX_DOWN > MINORITY ? { answeredMissing: missing } : {}),
    violations: violations.length,
  };
  console.log(JSON.stringify(summary));
  for (const v of violations.slice(0, 50)) console.log(`VIOLATION ${v}`);
  process.exit(violations.length === 0 ? 0 : 1);
}

main().catch(async (e) => {
  console.error(e);
  await procs.stopAll();
  lan?.destroy();
  if (MEMORY_DIR) rmSync(MEMORY_DIR, { recursive: true, force: true });
  process.exit(2);
});
