import { parseArgs } from 'node:util';
import { type AfdpEvent, BulkError, MAX_CATALOG } from '../bulk/afdp.js';
import { parseKey, readKeyFile } from '../launch/key.js';
import type { Stack } from '../stack/stack.js';
import { type Transport, udp } from '../transport/index.js';
import { type AuthKey, checkSecurity } from '../wire/auth.js';
import { collect, openBundle } from './bundle.js';
import { ProgressBar } from './progress.js';
import { build, Driver, startReceiver } from './receiver.js';

const USAGE = `usage:
  troupe dist <path...> --to <group> --seeds host:port,... [--key-file F | --insecure]
      [--min-gap MS] [--rate-floor BYTES_PER_S [--floor-grace MS]] [--dead-ms MS]
  troupe dist receive --dir <dir> --to <group> [--host H] [--port P] [--once] [--key-file F | --insecure]
Both take --multicast group:port to cast by IP multicast (on --host's interface) instead of fan-out.
--rate-floor: a receiver slower than this (after --floor-grace ms, default 2000) is dropped and
reported, and resend requests never pace the others below it. --dead-ms: a receiver silent this
long is dropped (default 3000).
The group key comes from --key-file or TROUPE_KEY; without one, --insecure is required.`;

/** Where `distMain` writes; tests capture it. */
export interface DistIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where the sender's progress bar is drawn (raw, with `\r`); none when absent. */
  progress?: (s: string) => void;
}

function securityFrom(values: { 'key-file'?: string; insecure?: boolean }): {
  key?: AuthKey;
  insecure?: boolean;
} {
  // Decoded as the launcher decodes it (hex or base64), so `troupe dist` and `troupe serve`
  // given one key file hold the same key.
  const file = values['key-file'];
  const key =
    file !== undefined
      ? readKeyFile(file)
      : process.env.TROUPE_KEY
        ? parseKey(process.env.TROUPE_KEY, 'TROUPE_KEY')
        : undefined;
  const sec = { ...(key ? { key } : {}), ...(values.insecure ? { insecure: true } : {}) };
  checkSecurity(sec, 'troupe dist');
  return sec;
}

/** The UDP transport: fan-out by default, IP multicast with `--multicast group:port`. */
function transportFor(values: Values, port = 0): Promise<Transport> {
  const mc = values.multicast;
  if (!mc) return udp({ host: values.host, port });
  const [multicastGroup, p] = mc.split(':');
  return udp({
    host: values.host,
    port,
    mode: 'multicast',
    multicastGroup: multicastGroup!,
    multicastPort: Number(p),
    ...(values.host !== undefined ? { multicastInterface: values.host } : {}),
  });
}

/**
 * `troupe dist`: push files to every receiver of a group at once (AFDP), or run a receiver.
 * Resolves to the process exit code: 0 when every receiver holds every file, 1 when one was
 * dropped or absent, 2 on a usage error.
 */
export async function distMain(argv: readonly string[], io: DistIO = defaultIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    for (const line of USAGE.split('\n')) io.out(line);
    return 0;
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.err(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const group = values.to;
  if (!group) {
    io.err(`--to <group> is required\n${USAGE}`);
    return 2;
  }
  let sec: { key?: AuthKey };
  try {
    sec = securityFrom(values);
  } catch (e) {
    io.err(e instanceof Error ? e.message : String(e));
    return 2;
  }
  if (positionals[0] === 'receive') return receive(values, group, sec.key, io);
  if (positionals.length === 0) {
    io.err(USAGE);
    return 2;
  }
  return send(positionals, values, group, sec.key, io);
}

const rate = (bytes: number, ms: number): string =>
  `${((bytes * 1000) / Math.max(1, ms) / 2 ** 20).toFixed(1)} MB/s`;

/** This process's CPU time (user + system) since `from`, ms. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return Math.round((d.user + d.system) / 1000);
}

const defaultIO: DistIO = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  // A bar redrawn in place only makes sense on a terminal; logs get the summary lines alone.
  ...(process.stderr.isTTY ? { progress: (s: string) => process.stderr.write(s) } : {}),
};

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      to: { type: 'string' },
      seeds: { type: 'string' },
      dir: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      once: { type: 'boolean', default: false },
      'key-file': { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'min-gap': { type: 'string' },
      'join-window': { type: 'string' },
      'rate-floor': { type: 'string' },
      'floor-grace': { type: 'string' },
      'dead-ms': { type: 'string' },
      drop: { type: 'string' },
      multicast: { type: 'string' },
    },
  });
}

type Values = ReturnType<typeof parse>['values'];

async function send(
  paths: readonly string[],
  values: Values,
  group: string,
  key: AuthKey | undefined,
  io: DistIO,
): Promise<number> {
  const seeds = (values.seeds ?? '').split(',').filter((s) => s.length > 0);
  if (seeds.length === 0) {
    io.err(`--seeds is required: the receivers' addresses\n${USAGE}`);
    return 2;
  }
  const files = await collect(paths);
  // Read from the files as it is sent: the bundle is never held whole, only its head.
  const blob = openBundle(files);
  const transport = await transportFor(values);
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let resolve!: (code: number) => void;
  const finished = new Promise<number>((r) => {
    resolve = r;
  });
  const addressOf = new Map<string, string>();
  const modeOf = new Map<string, string>();
  /** One summary line per receiver, printed together at the end (under the bar, not through it). */
  const summary = new Map<string, string>();
  const bar = io.progress ? new ProgressBar(io.progress) : undefined;
  const onEvent = (e: AfdpEvent): void => {
    if (e.type === 'joined') addressOf.set(e.member, e.address);
    else if (e.type === 'mode') modeOf.set(e.member, e.mode);
    else if (e.type === 'progress') bar?.update(e);
    else if (e.type === 'done')
      summary.set(
        e.member,
        `receiver ${addressOf.get(e.member)} done: ${files.length} files, ${blob.size} bytes in ${Math.round(e.ms)} ms (${rate(blob.size, e.ms)}, ${modeOf.get(e.member) ?? 'multicast'})`,
      );
    else if (e.type === 'dropped')
      summary.set(
        e.member,
        `receiver ${addressOf.get(e.member)} DROPPED holding ${e.have} of ${e.count} chunks: ${e.reason}`,
      );
    else if (e.type === 'finished') {
      bar?.clear();
      for (const line of summary.values()) io.out(line);
      for (const a of e.absent) io.out(`receiver ${a} ABSENT: never joined`);
      io.out(
        `dist: ${e.done} done, ${e.dropped} dropped, ${e.absent.length} absent; ${blob.size} bytes in ${Math.round(performance.now() - started)} ms; ${e.sent} packets sent, ${e.resent} resent, ${e.skipped} held by all; cpu ${cpuMs(cpu0)} ms`,
      );
      resolve(e.dropped === 0 && e.absent.length === 0 ? 0 : 1);
    }
  };
  let stack: Stack;
  try {
    // Receivers see from the announced head what they already hold; a head too large for one
    // datagram is not announced, and everything is sent.
    const head = blob.head;
    stack = build(group, key, {
      seeds,
      source: blob,
      ...(head.length <= MAX_CATALOG ? { catalog: head } : {}),
      onEvent,
      ...(values['min-gap'] ? { minGapMs: Number(values['min-gap']) } : {}),
      ...(values['join-window'] ? { joinWindowMs: Number(values['join-window']) } : {}),
      ...(values['rate-floor'] ? { floorBytesPerSec: Number(values['rate-floor']) } : {}),
      ...(values['floor-grace'] ? { floorGraceMs: Number(values['floor-grace']) } : {}),
      ...(values['dead-ms'] ? { deadMs: Number(values['dead-ms']) } : {}),
    });
  } catch (e) {
    await transport.close();
    blob.close();
    if (!(e instanceof BulkError)) throw e;
    io.err(`${e.code}: ${e.message}\n${USAGE}`);
    return 2;
  }
  const driver = new Driver(stack, transport, () => {});
  driver.apply(
    stack.down(
      { type: 'cast', msg: { headers: [], payload: new Uint8Array(0) }, qos: { order: 'unreliable' } },
      driver.now(),
    ),
  );
  const code = await finished;
  await driver.close();
  blob.close();
  return code;
}

async function receive(values: Values, group: string, key: AuthKey | undefined, io: DistIO): Promise<number> {
  const dir = values.dir;
  if (!dir) {
    io.err(`--dir is required\n${USAGE}`);
    return 2;
  }
  let done!: () => void;
  const stopped = new Promise<void>((r) => {
    done = r;
  });
  const receiver = startReceiver({
    dir,
    group,
    ...(key !== undefined ? { key } : {}),
    transport: await transportFor(values, Number(values.port)),
    ...(values.drop ? { drop: Number(values.drop) } : {}),
    onPlaced: (r) => {
      io.out(`received ${r.written} files (${r.bytes} bytes) into ${dir}, ${r.held} already held`);
      if (values.once) done();
    },
    onProblem: (line, ended) => {
      io.err(`dist receive: ${line}`);
      if (values.once && ended) done();
    },
  });
  io.out(`listening ${receiver.address}`);
  const stop = (): void => done();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await stopped;
  // Let the completion status reach the sender (the layer repeats it until acknowledged).
  await new Promise((r) => setTimeout(r, values.once ? 300 : 0));
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  await receiver.close();
  return 0;
}
