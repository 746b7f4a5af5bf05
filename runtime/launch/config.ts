/**
 * A replica process's configuration, from (highest first) command-line flags, `TROUPE_*`
 * environment variables and a JSON config file. The key is never a flag value: only a file
 * (`--key-file`, `TROUPE_KEY_FILE`, `keyFile`) or the `TROUPE_KEY` variable.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { LEVELS, type LevelName } from '../observe/logger.js';
import type { AuthKey } from '../wire/auth.js';
import { LaunchError } from './errors.js';
import { parseKey, readKeyFile } from './key.js';

/** How replicas reach each other. */
export type LaunchTransport = 'udp' | 'multicast' | 'tcp';

/** Options of a replica process (see `troupe serve --help`). */
export interface LaunchOptions {
  /** The group's name. Default: the service's name. */
  group?: string;
  /** Address to bind and to be reached at. Default `127.0.0.1`. */
  host?: string;
  /** Port to bind; `0` (the default) lets the kernel pick one. */
  port?: number;
  /** Members to contact, `host:port` (host names are resolved at start). Default: none, found a group alone. */
  seeds?: string | readonly string[];
  /** `udp` (unicast fan-out, the default), `multicast` (IP multicast) or `tcp`. */
  transport?: LaunchTransport;
  /** IP multicast group and port (transport `multicast`). Defaults `239.255.42.99`, `45299`. */
  multicastGroup?: string;
  multicastPort?: number;
  /** The group key, already read; or {@link keyFile}. */
  key?: AuthKey;
  /** File holding the group key (hex or base64). */
  keyFile?: string;
  /** Run without a key: packets are neither authenticated nor replay-protected. */
  insecure?: boolean;
  /** Print events as JSON lines on stdout (`joined`, `view`, `left`) instead of prose on stderr. */
  json?: boolean;
  /** Where the generated model is (`troupe serve`): default `generated/<service>.model.js` next to the module. */
  model?: string;
  /** Which exported `@Service` class to serve (`troupe serve`), when the module exports several. */
  service?: string;
  /**
   * Open the metrics server on this port (0: any free one): Prometheus `/metrics`, `/status`,
   * `/trace/<requestId>` and the live group page. Default: none.
   */
  metricsPort?: number;
  /** The metrics server's bind address. Default `127.0.0.1` (this host only). */
  metricsHost?: string;
  /** Lowest level logged (pino JSON lines on stderr), or `silent`. Default `info`. */
  logLevel?: LevelName | 'silent';
  /**
   * This replica's own directory (created if missing): it keeps the last view it installed in
   * `membership-<group>.json` there, so after a crash and restart it remembers the view it was
   * in and cannot help found a second group beside a running one (`JoinOptions.membershipFile`).
   * One directory per replica. Default: none (a restarted replica remembers nothing).
   */
  dataDir?: string;
  /**
   * Also receive `troupe dist` pushes into this directory: an AFDP receiver of the transfer
   * group named like the replica's group, with its key, on {@link host}:{@link receivePort}.
   * Default: none.
   */
  receiveDir?: string;
  /** The receiver's UDP port (`receiveDir`); `0` (the default) lets the kernel pick one. */
  receivePort?: number;
  /**
   * The receiver also listens on this IP multicast group (`receiveDir`), on {@link host}'s
   * interface, so a sender with `troupe dist --multicast <group:port>` reaches the whole fleet
   * with one datagram per chunk. Default: none (unicast only).
   */
  receiveMulticast?: { group: string; port: number };
}

/** Help for the flags {@link readLaunchOptions} reads. */
export const LAUNCH_HELP = `Options (flag, environment variable, config file key):
  --group NAME        TROUPE_GROUP      group       group name (default: the service name)
  --host ADDR         TROUPE_HOST       host        bind address (default 127.0.0.1)
  --port N            TROUPE_PORT       port        port to bind (default 0: any free port)
  --seeds H:P,...     TROUPE_SEEDS      seeds       members to contact; host names allowed
  --transport T       TROUPE_TRANSPORT  transport   udp (fan-out, default) | multicast | tcp
  --mcast-group IP    TROUPE_MCAST_GROUP  multicastGroup   (default 239.255.42.99)
  --mcast-port N      TROUPE_MCAST_PORT   multicastPort    (default 45299)
  --key-file PATH     TROUPE_KEY_FILE   keyFile     group key file (make one: troupe keygen)
                      TROUPE_KEY                    the key itself, hex or base64
  --insecure          TROUPE_INSECURE=1 insecure    run without a key (no authentication)
  --model PATH                          model       generated model (default generated/<service>.model.js)
  --service NAME                        service     exported class to serve, if several
  --json                                json        JSON lines on stdout instead of prose
  --metrics-port N    TROUPE_METRICS_PORT metricsPort  serve /metrics, /status, the live page (0: any port)
  --metrics-host ADDR TROUPE_METRICS_HOST metricsHost  its bind address (default 127.0.0.1)
  --log-level L       TROUPE_LOG_LEVEL  logLevel    trace|debug|info|warn|error|fatal|silent (default info)
  --data-dir DIR      TROUPE_DATA_DIR   dataDir     this replica's own directory: it remembers its last
                                        view there across a crash (recommended; one per replica)
  --receive-dir DIR   TROUPE_RECEIVE_DIR  receiveDir   also take troupe dist pushes into DIR
                                        (troupe dist <path> --to <group> --seeds <receive addresses>)
  --receive-port N    TROUPE_RECEIVE_PORT receivePort  the receiver's UDP port (default 0: any free port)
  --receive-mcast G:P TROUPE_RECEIVE_MCAST receiveMcast  the receiver also joins IP multicast group G,
                                        port P (troupe dist --multicast G:P reaches every receiver at once)
  --config FILE       TROUPE_CONFIG                 JSON file with the keys above`;

const FLAGS = {
  group: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  seeds: { type: 'string' },
  transport: { type: 'string' },
  'mcast-group': { type: 'string' },
  'mcast-port': { type: 'string' },
  'key-file': { type: 'string' },
  insecure: { type: 'boolean' },
  model: { type: 'string' },
  service: { type: 'string' },
  json: { type: 'boolean' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'log-level': { type: 'string' },
  'data-dir': { type: 'string' },
  'receive-dir': { type: 'string' },
  'receive-port': { type: 'string' },
  'receive-mcast': { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Configuration read from argv and the environment, with the positional arguments. */
export interface LaunchConfig {
  options: LaunchOptions;
  positional: string[];
  help: boolean;
}

function port(v: unknown, from: string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new LaunchError('CONFIG', `${from}: '${v}' is not a port (0-65535)`);
  return n;
}

function transport(v: unknown, from: string): LaunchTransport {
  if (v === 'udp' || v === 'multicast' || v === 'tcp') return v;
  throw new LaunchError('CONFIG', `${from}: transport '${v}' is not udp, multicast or tcp`);
}

function readConfigFile(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LaunchError(
      'CONFIG',
      `cannot read config file '${file}': ${(e as Error).message.split('\n')[0]}`,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new LaunchError('CONFIG', `config file '${file}' must hold a JSON object`);
  }
  const known = new Set(Object.keys(FLAGS).map((k) => k.replace(/-(.)/g, (_, c: string) => c.toUpperCase())));
  for (const k of ['multicastGroup', 'multicastPort', 'keyFile']) known.add(k);
  for (const k of Object.keys(raw)) {
    if (k === 'key')
      throw new LaunchError('CONFIG', `config file '${file}': put the key in a key file ("keyFile")`);
    if (!known.has(k)) throw new LaunchError('CONFIG', `config file '${file}': unknown key '${k}'`);
  }
  return raw as Record<string, unknown>;
}

/**
 * Reads a replica process's options from `argv` (flags and positional arguments), `env` and the
 * config file either names. Checks every value; the key is read here, so a missing or bad key
 * fails before anything binds. `troupe serve` and `runReplica` use it.
 *
 * @example
 * ```ts
 * const { options, positional } = readLaunchOptions(['--port', '7001', '--seeds', 'a:7001,b:7001', 'bank.js']);
 * ```
 */
export function readLaunchOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): LaunchConfig {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new LaunchError('CONFIG', `${(e as Error).message} (see troupe serve --help)`);
  }
  const f = parsed.values;
  const configFile = f.config ?? env.TROUPE_CONFIG;
  const file = configFile ? readConfigFile(configFile) : {};
  const fileDir = configFile ? path.dirname(path.resolve(configFile)) : process.cwd();
  const pick = (flag: unknown, envName: string, key: string): { v: unknown; from: string } | undefined => {
    if (flag !== undefined) return { v: flag, from: `--${key}` };
    if (env[envName] !== undefined && env[envName] !== '') return { v: env[envName], from: envName };
    if (file[key] !== undefined) return { v: file[key], from: `${configFile}: ${key}` };
    return undefined;
  };
  const str = (p: { v: unknown; from: string } | undefined): string | undefined => {
    if (p === undefined) return undefined;
    if (typeof p.v !== 'string') throw new LaunchError('CONFIG', `${p.from} must be a string`);
    return p.v;
  };
  const o: LaunchOptions = {};
  const group = str(pick(f.group, 'TROUPE_GROUP', 'group'));
  if (group !== undefined) o.group = group;
  const host = str(pick(f.host, 'TROUPE_HOST', 'host'));
  if (host !== undefined) o.host = host;
  const p = pick(f.port, 'TROUPE_PORT', 'port');
  if (p) o.port = port(p.v, p.from);
  const s = pick(f.seeds, 'TROUPE_SEEDS', 'seeds');
  if (s) {
    if (typeof s.v !== 'string' && !(Array.isArray(s.v) && s.v.every((x) => typeof x === 'string'))) {
      throw new LaunchError('CONFIG', `${s.from} must be "host:port,..." or a list of them`);
    }
    o.seeds = s.v as string | string[];
  }
  const t = pick(f.transport, 'TROUPE_TRANSPORT', 'transport');
  if (t) o.transport = transport(t.v, t.from);
  const mg = str(pick(f['mcast-group'], 'TROUPE_MCAST_GROUP', 'multicastGroup'));
  if (mg !== undefined) o.multicastGroup = mg;
  const mp = pick(f['mcast-port'], 'TROUPE_MCAST_PORT', 'multicastPort');
  if (mp) o.multicastPort = port(mp.v, mp.from);
  // A multicast group given without a transport can only mean IP multicast.
  if (o.multicastGroup !== undefined && o.transport === undefined) o.transport = 'multicast';
  const model = str(pick(f.model, '', 'model'));
  if (model !== undefined) o.model = f.model !== undefined ? model : path.resolve(fileDir, model);
  const service = str(pick(f.service, '', 'service'));
  if (service !== undefined) o.service = service;
  if (f.json ?? file.json === true) o.json = true;
  const metricsPort = pick(f['metrics-port'], 'TROUPE_METRICS_PORT', 'metricsPort');
  if (metricsPort) o.metricsPort = port(metricsPort.v, metricsPort.from);
  const metricsHost = str(pick(f['metrics-host'], 'TROUPE_METRICS_HOST', 'metricsHost'));
  if (metricsHost !== undefined) o.metricsHost = metricsHost;
  const ll = pick(f['log-level'], 'TROUPE_LOG_LEVEL', 'logLevel');
  if (ll) {
    if (ll.v !== 'silent' && !(typeof ll.v === 'string' && ll.v in LEVELS))
      throw new LaunchError(
        'CONFIG',
        `${ll.from}: log level '${ll.v}' is not one of ${Object.keys(LEVELS).join(', ')}, silent`,
      );
    o.logLevel = ll.v as LevelName | 'silent';
  }
  const dd = pick(f['data-dir'], 'TROUPE_DATA_DIR', 'dataDir');
  const dataDir = str(dd);
  if (dataDir !== undefined)
    o.dataDir = dd!.from.startsWith(`${configFile}:`) ? path.resolve(fileDir, dataDir) : dataDir;
  const rd = pick(f['receive-dir'], 'TROUPE_RECEIVE_DIR', 'receiveDir');
  const receiveDir = str(rd);
  // A directory named in the config file is relative to that file, like the key file.
  if (receiveDir !== undefined)
    o.receiveDir = rd!.from.startsWith(`${configFile}:`) ? path.resolve(fileDir, receiveDir) : receiveDir;
  const rp = pick(f['receive-port'], 'TROUPE_RECEIVE_PORT', 'receivePort');
  if (rp) {
    if (o.receiveDir === undefined)
      throw new LaunchError('CONFIG', `${rp.from} without --receive-dir: where should received files go?`);
    o.receivePort = port(rp.v, rp.from);
  }
  const rm = pick(f['receive-mcast'], 'TROUPE_RECEIVE_MCAST', 'receiveMcast');
  if (rm) {
    if (o.receiveDir === undefined)
      throw new LaunchError('CONFIG', `${rm.from} without --receive-dir: where should received files go?`);
    const m = typeof rm.v === 'string' ? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d+)$/.exec(rm.v) : null;
    if (!m || !isMulticastIPv4(m[1]!))
      throw new LaunchError(
        'CONFIG',
        `${rm.from}: '${String(rm.v)}' is not an IPv4 multicast group:port (e.g. 239.255.77.1:47001)`,
      );
    o.receiveMulticast = { group: m[1]!, port: port(m[2], rm.from) };
  }
  const insecure = f.insecure ?? (env.TROUPE_INSECURE === '1' || file.insecure === true);
  // A key file named in the config file is relative to that file, not to the working directory.
  const kf = pick(f['key-file'], 'TROUPE_KEY_FILE', 'keyFile');
  if (kf) {
    const name = str(kf)!;
    o.keyFile = kf.from.startsWith(`${configFile}:`) ? path.resolve(fileDir, name) : name;
    o.key = readKeyFile(o.keyFile);
  } else if (env.TROUPE_KEY) o.key = parseKey(env.TROUPE_KEY, 'TROUPE_KEY');
  if (insecure) {
    if (o.key !== undefined) throw new LaunchError('CONFIG', 'give a key or --insecure, not both');
    o.insecure = true;
  }
  return { options: o, positional: parsed.positionals, help: f.help === true };
}

/** Whether `ip` (dotted IPv4) is in 224.0.0.0/4. */
function isMulticastIPv4(ip: string): boolean {
  const octets = ip.split('.').map(Number);
  return octets.every((o) => o <= 255) && octets[0]! >= 224 && octets[0]! <= 239;
}
