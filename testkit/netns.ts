/**
 * Network namespaces for tests: one private namespace (the multicast transport test), or a small
 * LAN of namespaces on one Linux bridge (the multi-host tests in test/netns). Needs root and
 * iproute2 (`ip`); {@link checkNetnsTools} says clearly which one is missing. Nothing is skipped:
 * a test that needs a namespace fails when it cannot have one.
 *
 * Every name carries a per-run id (pid, counter, random), so parallel runs (vitest's workers, two CI jobs
 * on one machine) never collide: each LAN has its own bridge, so all LANs may use the same
 * addresses (`10.88.0.x/24`) without seeing each other. {@link Lan.destroy} deletes what it
 * created (namespaces, veth pairs, the bridge) and reports anything still there; a process-wide
 * `exit` hook deletes whatever a crashed test left.
 *
 * Processes run inside a namespace with `ip netns exec <ns> <command>`: `ip` switches namespace
 * and then execs the command in place (no fork), so the pid of the spawned `ip` is the pid of the
 * command itself and killing it by pid reaches it ({@link ProcessHarness}'s `wrapper` option,
 * `Lan.wrapper(i)`).
 *
 * @example
 * ```ts
 * const lan = createLan({ hosts: 3 });           // bridge + 3 namespaces, 10.88.0.1..3
 * try {
 *   const child = await procs.start(script, { wrapper: lan.wrapper(0), args: ['--host', lan.hosts[0]!.address] });
 *   lan.linkDown(0);                             // pull host 0's cable (bridge side)
 *   lan.linkUp(0);
 * } finally {
 *   await procs.stopAll();
 *   expect(lan.destroy()).toEqual([]);           // names still present afterwards
 * }
 * ```
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Thrown when the machine cannot run namespace tests: the message names what is missing. */
export class NetnsUnavailable extends Error {
  override name = 'NetnsUnavailable';
}

let toolsChecked = false;

/**
 * Checks that `ip` (iproute2) exists and that we are root; throws {@link NetnsUnavailable}
 * naming what is missing. Cheap after the first call.
 */
export function checkNetnsTools(): void {
  if (toolsChecked) return;
  if (process.platform !== 'linux')
    throw new NetnsUnavailable(`network namespaces need Linux; this is ${process.platform}`);
  try {
    execFileSync('ip', ['-V'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5_000 });
  } catch (e) {
    throw new NetnsUnavailable(
      `the 'ip' command (iproute2) is missing or broken: ${stderrOf(e)}; install iproute2 (apt-get install iproute2)`,
    );
  }
  if (process.getuid?.() !== 0)
    throw new NetnsUnavailable(
      `network namespace tests need root (uid 0) for 'ip netns add', veth and bridges; uid is ${process.getuid?.()}`,
    );
  toolsChecked = true;
}

/** Runs `ip ...args` and returns its stdout; throws with the command and its stderr. */
export function ip(args: readonly string[], timeoutMs = 5_000): string {
  try {
    return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs }).toString();
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${stderrOf(e)}`);
  }
}

/** Like {@link ip}, for teardown: returns false instead of throwing. */
function ipQuiet(args: readonly string[]): boolean {
  try {
    ip(args);
    return true;
  } catch {
    return false;
  }
}

let made = 0;
/**
 * A short id unique to this run: our pid (unique among the processes running now), a counter
 * (unique within this process) and 2 random characters (against a leftover of a SIGKILLed run
 * whose pid was reused), in base 36: at most 9 characters, since interface names are limited to
 * 15 (`tr<id>p<n>`).
 */
function runId(): string {
  const rand = (randomBytes(2).readUInt16BE(0) % 1296).toString(36).padStart(2, '0');
  return `${process.pid.toString(36)}${(made++).toString(36)}${rand}`;
}

/** Names of every namespace that exists now (`ip netns list`). */
export function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Pids of the processes running in namespace `ns` (`ip netns pids`). */
export function namespacePids(ns: string): number[] {
  try {
    return ip(['netns', 'pids', ns])
      .split(/\s+/)
      .filter((s) => s.length > 0)
      .map(Number);
  } catch {
    return []; // the namespace is gone
  }
}

/** IPv4 multicast packet counters of a namespace (`/proc/net/netstat`, IpExt). */
export interface McastCounters {
  inMcastPkts: number;
  outMcastPkts: number;
}

/** Things to delete when this process exits without running its teardown. */
const created = new Set<{ destroy(): string[] }>();
let exitHook = false;
function track(x: { destroy(): string[] }): void {
  created.add(x);
  if (exitHook) return;
  exitHook = true;
  const destroyAll = (): void => {
    for (const c of created) c.destroy();
    created.clear();
  };
  process.on('exit', destroyAll);
  // Death by a signal emits no 'exit': clean up, then die of the signal as before (unless
  // somebody else handles it, e.g. the process harness, which re-raises it itself).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      destroyAll();
      process.off(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** One network namespace with its loopback up. Create with {@link createNamespace}. */
export class Namespace {
  #destroyed = false;

  /** @internal use {@link createNamespace} */
  constructor(readonly name: string) {}

  /** `ip netns exec <name>`: the prefix that runs a command inside this namespace. */
  get wrapper(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /** Runs `ip -n <name> ...args` (an `ip` command inside the namespace). */
  ip(args: readonly string[]): string {
    return ip(['-n', this.name, ...args]);
  }

  /** IPv4 multicast counters of this namespace's network stack. */
  mcastCounters(): McastCounters {
    const netstat = execFileSync('ip', ['netns', 'exec', this.name, 'cat', '/proc/net/netstat'], {
      timeout: 5_000,
    }).toString();
    const [names, values] = netstat
      .split('\n')
      .filter((l) => l.startsWith('IpExt:'))
      .map((l) => l.split(/\s+/));
    const get = (k: string): number => {
      const i = names?.indexOf(k) ?? -1;
      if (i < 0 || !values?.[i]) throw new Error(`no ${k} in the IpExt counters of ${this.name}`);
      return Number(values[i]);
    };
    return { inMcastPkts: get('InMcastPkts'), outMcastPkts: get('OutMcastPkts') };
  }

  /** Processes still running inside this namespace. */
  pids(): number[] {
    return namespacePids(this.name);
  }

  /**
   * Deletes the namespace (once). Returns what could not be cleaned up: names of namespaces
   * still listed, and `pid <n>` for processes still inside (a namespace with processes lives on).
   */
  destroy(): string[] {
    const left: string[] = this.pids().map((p) => `pid ${p} in ${this.name}`);
    if (!this.#destroyed) {
      this.#destroyed = true;
      ipQuiet(['netns', 'del', this.name]);
      created.delete(this);
    }
    if (listNamespaces().includes(this.name)) left.push(`namespace ${this.name}`);
    return left;
  }
}

/** Creates a namespace named `<prefix>-<run id>` with its loopback up. */
export function createNamespace(prefix = 'troupe'): Namespace {
  checkNetnsTools();
  const name = `${prefix}-${runId()}`;
  ip(['netns', 'add', name]);
  const ns = new Namespace(name);
  track(ns);
  try {
    ns.ip(['link', 'set', 'lo', 'up']);
  } catch (e) {
    ns.destroy();
    throw e;
  }
  return ns;
}

/** One host of a {@link Lan}: a namespace plugged into the bridge by a veth pair. */
export interface LanHost {
  ns: Namespace;
  /** Its IPv4 address on the LAN, e.g. `10.88.0.1`. */
  address: string;
  /** The veth end inside the namespace. */
  ifname: string;
  /** The veth end on the bridge (root namespace): the cable {@link Lan.linkDown} pulls. */
  port: string;
}

/** Options of {@link createLan}: how many hosts, and the addresses and names they take. */
export interface LanOptions {
  /** Number of hosts (namespaces). */
  hosts: number;
  /** The first three octets of the /24; host i gets `.i+1`. Default `10.88.0`. */
  subnet?: string;
  /** Namespace name prefix. Default `troupe-lan`. */
  prefix?: string;
}

/**
 * A bridge in the root namespace and `hosts` namespaces, each with one veth pair to it, an
 * address in a /24, a route for 224.0.0.0/4 on its LAN interface, and IP multicast on. IGMP
 * snooping is off on the bridge, so it floods multicast to every port (a plain hub-like LAN;
 * with snooping on and no querier, forwarding would depend on report timing).
 */
export class Lan {
  readonly id: string;
  readonly bridge: string;
  readonly hosts: LanHost[] = [];
  #destroyed = false;

  /** @internal use {@link createLan} */
  constructor(opts: LanOptions) {
    checkNetnsTools();
    this.id = runId();
    this.bridge = `trb${this.id}`;
    const subnet = opts.subnet ?? '10.88.0';
    const prefix = opts.prefix ?? 'troupe-lan';
    track(this);
    try {
      ip(['link', 'add', this.bridge, 'type', 'bridge', 'mcast_snooping', '0']);
      ip(['link', 'set', this.bridge, 'multicast', 'on', 'up']);
      for (let i = 0; i < opts.hosts; i++) {
        const ns = new Namespace(`${prefix}-${this.id}-${i + 1}`);
        ip(['netns', 'add', ns.name]);
        const host: LanHost = {
          ns,
          address: `${subnet}.${i + 1}`,
          ifname: 'eth0',
          port: `tr${this.id}p${i + 1}`,
        };
        this.hosts.push(host);
        ip(['link', 'add', host.port, 'type', 'veth', 'peer', 'name', host.ifname, 'netns', ns.name]);
        ip(['link', 'set', host.port, 'master', this.bridge, 'up']);
        ns.ip(['link', 'set', 'lo', 'up']);
        ns.ip(['addr', 'add', `${host.address}/24`, 'dev', host.ifname]);
        ns.ip(['link', 'set', host.ifname, 'multicast', 'on', 'up']);
        ns.ip(['route', 'add', '224.0.0.0/4', 'dev', host.ifname]);
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** The command prefix that runs a process on host `i`. */
  wrapper(i: number): string[] {
    return this.host(i).ns.wrapper;
  }

  /** Host `i` (0-based): its namespace, address and the veth cable to the bridge. */
  host(i: number): LanHost {
    const h = this.hosts[i];
    if (!h) throw new Error(`no host ${i} on LAN ${this.id} (${this.hosts.length} hosts)`);
    return h;
  }

  /** Pulls host `i`'s cable: its bridge port goes down (the host sees no carrier). */
  linkDown(i: number): void {
    ip(['link', 'set', this.host(i).port, 'down']);
  }

  /** Plugs host `i` back in. */
  linkUp(i: number): void {
    ip(['link', 'set', this.host(i).port, 'up']);
  }

  /**
   * Deletes every namespace, veth pair and the bridge (once; safe to call again) and returns what
   * is still there: namespaces, links, processes left in a namespace. `[]` means clean.
   */
  destroy(): string[] {
    const left: string[] = [];
    if (!this.#destroyed) {
      this.#destroyed = true;
      for (const h of this.hosts) {
        left.push(...h.ns.pids().map((p) => `pid ${p} in ${h.ns.name}`));
        ipQuiet(['netns', 'del', h.ns.name]);
        // Deleting the namespace destroys its veth end, and with it the pair; unless a process
        // keeps the namespace alive, so delete the bridge end as well.
        ipQuiet(['link', 'del', h.port]);
      }
      ipQuiet(['link', 'del', this.bridge]);
      created.delete(this);
    }
    const names = new Set(listNamespaces());
    for (const h of this.hosts) if (names.has(h.ns.name)) left.push(`namespace ${h.ns.name}`);
    for (const link of [this.bridge, ...this.hosts.map((h) => h.port)])
      if (ipQuiet(['link', 'show', link])) left.push(`link ${link}`);
    return left;
  }
}

/** Creates a {@link Lan}; see there. */
export function createLan(opts: LanOptions): Lan {
  return new Lan(opts);
}

function stderrOf(e: unknown): string {
  const stderr = (e as { stderr?: Buffer }).stderr;
  return stderr?.length ? stderr.toString().trim() : e instanceof Error ? e.message : String(e);
}
