/**
 * `troupe trace <requestId> --group NAME --seeds A,B` and `troupe status --group NAME --seeds
 * A,B`: ask a live group's members and print what they know. Written as functions the `troupe`
 * bin calls with its arguments; they print and return an exit code, and throw nothing.
 */
import { TroupeError } from '../errors.js';
import { LaunchError } from '../launch/errors.js';
import { parseKey, readKeyFile } from '../launch/key.js';
import type { AuthKey } from '../wire/auth.js';
import type { MemberStatus } from './observer.js';
import { type MemberAnswer, type QueryOptions, queryGroup } from './query.js';
import type { RequestTrace, TraceStep } from './traces.js';

/** Where a command writes. Default: the process's stdout and stderr. */
export interface CommandIO {
  out(line: string): void;
  err(line: string): void;
  env?: Record<string, string | undefined>;
}

const PROCESS_IO: CommandIO = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  env: process.env,
};

interface Parsed {
  positional: string[];
  query: QueryOptions;
  json: boolean;
  flags: ReadonlyMap<string, string>;
}

/** Options shared by the commands: `--group`, `--seeds`, `--key-file` (or `TROUPE_KEY`) or `--insecure`, `--timeout`, `--json`. */
function parse(argv: readonly string[], env: Record<string, string | undefined>): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--insecure') flags.set('insecure', 'true');
    else if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
      const value = inline ?? argv[++i];
      if (value === undefined) throw new TroupeError('CLI_USAGE', `--${name} needs a value`);
      flags.set(name, value);
    } else positional.push(a);
  }
  for (const name of flags.keys())
    if (!['group', 'seeds', 'key-file', 'timeout', 'insecure', 'host', 'watch', 'count'].includes(name))
      throw new TroupeError('CLI_USAGE', `unknown option --${name}`);
  const group = flags.get('group');
  if (!group) throw new TroupeError('CLI_USAGE', '--group NAME is required');
  const seeds = (flags.get('seeds') ?? '').split(',').filter((s) => s !== '');
  if (seeds.length === 0) throw new TroupeError('CLI_USAGE', '--seeds HOST:PORT[,HOST:PORT...] is required');
  // As `troupe serve`: the flag, else TROUPE_KEY_FILE, else TROUPE_KEY.
  const keyFile = flags.get('key-file') ?? (env.TROUPE_KEY_FILE || undefined);
  const keyText = keyFile === undefined ? env.TROUPE_KEY || undefined : undefined;
  // As `connect()`: a key, or no key on purpose. Asking a keyless group in the clear is a choice
  // the operator makes, not what a forgotten --key-file silently does.
  if (keyFile === undefined && keyText === undefined && !flags.has('insecure'))
    throw new TroupeError(
      'CLI_USAGE',
      'a group key is required (--key-file F, TROUPE_KEY_FILE or TROUPE_KEY), or --insecure for a group that has none',
    );
  if ((keyFile !== undefined || keyText !== undefined) && flags.has('insecure'))
    throw new TroupeError('CLI_USAGE', '--insecure with a key: give one or the other');
  // Read as `troupe serve` reads it (hex or base64, decoded), so the key file a group was started
  // with is the key these commands sign with. Before, the file's text itself was the key, and
  // no group started by `troupe serve --key-file` could be asked (JOIN_KEY_MISMATCH).
  let key: AuthKey | undefined;
  try {
    if (keyFile !== undefined) key = readKeyFile(keyFile);
    else if (keyText !== undefined) key = parseKey(keyText, 'TROUPE_KEY');
  } catch (e) {
    if (e instanceof LaunchError) throw new TroupeError('CLI_USAGE', e.message);
    throw e;
  }
  const timeout = flags.get('timeout');
  const timeoutMs = timeout === undefined ? undefined : Number(timeout);
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0))
    throw new TroupeError('CLI_USAGE', `--timeout must be a positive number of ms, not ${timeout}`);
  const host = flags.get('host');
  return {
    positional,
    json,
    flags,
    query: {
      group,
      seeds,
      ...(key !== undefined ? { key } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(host !== undefined ? { host } : {}),
    },
  };
}

/**
 * Control characters but tab (C0, DEL, C1): member ids, methods and error messages come from the
 * members' answers, and an escape sequence among them would reach the operator's terminal (which
 * it can make clear the screen, retitle the window or print lines that are not there).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its job
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/** `line` with every control character shown as a `\uXXXX` escape. */
export function printable(line: string): string {
  return line.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `troupe trace --help` and `troupe status --help`. */
const OPTIONS_HELP = `Options:
  --group NAME        the group's name (required)
  --seeds H:P,...     members to ask; host names allowed (required)
  --key-file PATH     the group key file (as given to troupe serve); or TROUPE_KEY_FILE, or
                      TROUPE_KEY, hex or base64
  --insecure          the group runs without a key
  --timeout MS        how long to wait for the members' answers
  --host ADDR         the local address to send from (default 127.0.0.1)
  --json              one JSON document instead of text`;

const TRACE_HELP = `Usage: troupe trace <requestId> --group NAME --seeds H:P,... (--key-file PATH | --insecure) [options]

Prints where a request went in a live group, as one timeline: its contact, the order, and each
replica's apply and reply. Exit 0 when some member knows the request, 1 when none does or the
group cannot be reached, 2 on a usage error.

${OPTIONS_HELP}`;

const STATUS_HELP = `Usage: troupe status --group NAME --seeds H:P,... (--key-file PATH | --insecure) [options]

Prints each member's view, role, applied requests, health, recent view changes, suspicions,
slow requests and divergence alarms (docs/observability.md). Exit 0 when every member of the
view answered, 1 otherwise, 2 on a usage error.

${OPTIONS_HELP}
  --watch MS          ask again every MS ms (calls per second from the difference)
  --count N           with --watch: stop after N rounds`;

/** True when the command was asked for its help: `--help` or `-h` anywhere before a value. */
function wantsHelp(argv: readonly string[], io: CommandIO, text: string): boolean {
  if (!argv.includes('--help') && !argv.includes('-h')) return false;
  for (const line of text.split('\n')) io.out(line);
  return true;
}

async function run(given: CommandIO, fn: (io: CommandIO) => Promise<number>): Promise<number> {
  const io: CommandIO = {
    ...given,
    out: (line) => given.out(printable(line)),
    err: (line) => given.err(printable(line)),
  };
  try {
    return await fn(io);
  } catch (e) {
    io.err(`troupe: ${e instanceof TroupeError ? `${e.code}: ${e.message}` : String(e)}`);
    return e instanceof TroupeError && e.code === 'CLI_USAGE' ? 2 : 1;
  }
}

/** One line of a request's timeline: which member, which step, when. */
export interface TimelineEntry extends TraceStep {
  member: string;
}

/** Every member's steps of one request, merged in time order. */
export function timeline(traces: readonly RequestTrace[]): TimelineEntry[] {
  return traces.flatMap((t) => t.steps.map((s) => ({ ...s, member: t.member }))).sort((a, b) => a.at - b.at);
}

function describe(s: TimelineEntry): string {
  const parts: string[] = [];
  if (s.step === 'received') parts.push(`from ${s.peer}${s.count ? ` (${s.count} copies)` : ''}`);
  if (s.step === 'ordered') parts.push(`view ${s.viewId}`, `gseq ${s.gseq}`, `contact ${s.peer}`);
  if (s.step === 'applying') parts.push(`${s.method}`);
  if (s.step === 'outcome')
    parts.push(
      `${s.status}${s.ok === false ? ' (threw)' : ''}`,
      ...(s.ms !== undefined ? [`ran ${s.ms.toFixed(3)} ms`] : []),
    );
  if (s.step === 'replied') parts.push(`to ${s.peer}`);
  return parts.join(', ');
}

/**
 * `troupe trace <requestId> --group NAME --seeds A,B (--key-file F | --insecure) [--timeout MS]
 * [--json]`: where the request went at every member of the live group, as one timeline. Exit 0
 * when some member knows it, 1 when none does or the group cannot be reached, 2 on a usage error.
 */
export function traceCommand(argv: readonly string[], given: CommandIO = PROCESS_IO): Promise<number> {
  return run(given, async (io) => {
    if (wantsHelp(argv, io, TRACE_HELP)) return 0;
    const p = parse(argv, io.env ?? {});
    const id = p.positional[0];
    if (!id || p.positional.length !== 1)
      throw new TroupeError('CLI_USAGE', 'usage: troupe trace <requestId> --group NAME --seeds A,B');
    const answers = await queryGroup(p.query, 'trace', [id]);
    const traces = answers.flatMap((a) => (a.value ? [a.value as RequestTrace] : []));
    const lines = timeline(traces);
    if (p.json)
      io.out(JSON.stringify({ requestId: id, members: answers.map(summary), timeline: lines }, jsonSafe));
    else {
      io.out(
        `request ${id} in group ${p.query.group}: ${traces.length} of ${answers.length} members know it`,
      );
      const t0 = lines[0]?.at ?? 0;
      for (const s of lines)
        io.out(
          `  +${(s.at - t0).toFixed(3).padStart(9)} ms  ${s.member.padEnd(20)} ${s.step.padEnd(9)} ${describe(s)}`,
        );
      for (const a of answers) if (a.error) io.out(`  ${a.member}: ${a.error.code} ${a.error.message}`);
    }
    return traces.length > 0 ? 0 : 1;
  });
}

/**
 * `troupe status --group NAME --seeds A,B (--key-file F | --insecure) [--json] [--watch MS
 * [--count N]]`: every member's view, role, applied requests (and how many behind the furthest),
 * calls per second (with `--watch`), RSS, recent view changes, suspicions, slow requests and
 * divergence alarms. `--watch MS` asks again every MS ms and prints the whole status each time
 * (after the first, with calls/s from the difference), until interrupted or `--count` rounds.
 * Exit 0 when every member of the view answered (the last round), 1 otherwise, 2 on a usage
 * error.
 *
 * @example
 * ```sh
 * troupe status --group bank --seeds 127.0.0.1:7001 --key-file bank.key --watch 1000
 * ```
 */
export function statusCommand(argv: readonly string[], given: CommandIO = PROCESS_IO): Promise<number> {
  return run(given, async (io) => {
    if (wantsHelp(argv, io, STATUS_HELP)) return 0;
    const p = parse(argv, io.env ?? {});
    if (p.positional.length !== 0)
      throw new TroupeError('CLI_USAGE', 'usage: troupe status --group NAME --seeds A,B');
    const watchMs = positiveFlag(p.flags, 'watch');
    const count = positiveFlag(p.flags, 'count') ?? (watchMs === undefined ? 1 : Number.POSITIVE_INFINITY);
    if (watchMs === undefined && count !== 1) throw new TroupeError('CLI_USAGE', '--count needs --watch MS');
    let before: Snapshot | undefined;
    let code = 1;
    for (let round = 0; round < count; round++) {
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, watchMs));
      const answers = await queryGroup(p.query, 'status', []);
      const now: Snapshot = { at: performance.now(), applied: appliedOf(answers) };
      if (p.json) io.out(JSON.stringify(answers, jsonSafe));
      else for (const line of statusLines(p.query.group, answers, rates(before, now))) io.out(line);
      before = now;
      code = answers.every((a) => a.value) ? 0 : 1;
    }
    return code;
  });
}

/** A flag's value as a positive number of ms or rounds, or undefined when absent. */
function positiveFlag(flags: ReadonlyMap<string, string>, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0))
    throw new TroupeError('CLI_USAGE', `--${name} must be a positive number, not ${v}`);
  return n;
}

/** Requests each member had applied when asked, for calls per second between two rounds. */
interface Snapshot {
  at: number;
  applied: Map<string, number>;
}

function appliedOf(answers: readonly MemberAnswer[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of answers) {
    const s = a.value as MemberStatus | undefined;
    if (s) out.set(a.member, s.stats.replica?.applied ?? 0);
  }
  return out;
}

/**
 * How far each answering member trails in the order, as `troupe status` prints it: the members
 * at the newest view any of them applies compare the requests each took from the order since
 * (`replica.appliedView`, `appliedInView`: a joiner counts from its first view too, where the
 * `applied` methods this process ran would show it behind for good); one still applying an
 * earlier view reads `view N`, one of an earlier release `-`.
 */
function trailing(answers: readonly MemberAnswer[]): Map<string, string> {
  const at = new Map<string, { view: number; taken: number }>();
  for (const a of answers) {
    const r = (a.value as MemberStatus | undefined)?.stats.replica;
    if (r?.appliedView !== undefined && r.appliedInView !== undefined)
      at.set(a.member, { view: r.appliedView, taken: r.appliedInView });
  }
  const newest = Math.max(0, ...[...at.values()].map((p) => p.view));
  const most = Math.max(0, ...[...at.values()].filter((p) => p.view === newest).map((p) => p.taken));
  const out = new Map<string, string>();
  for (const a of answers) {
    const p = at.get(a.member);
    out.set(a.member, !p ? '-' : p.view === newest ? String(most - p.taken) : `view ${p.view}`);
  }
  return out;
}

function rates(before: Snapshot | undefined, now: Snapshot): Map<string, number> | undefined {
  if (!before) return undefined;
  const seconds = Math.max(1e-3, (now.at - before.at) / 1000);
  const out = new Map<string, number>();
  for (const [m, n] of now.applied) {
    const was = before.applied.get(m);
    if (was !== undefined && n >= was) out.set(m, (n - was) / seconds);
  }
  return out;
}

/**
 * JSON.stringify's replacer for answers: a `bigint` (msgpack's 64-bit integers) as a string.
 * Answers are read to their shape first (answers.ts), so this is a second line only.
 */
function jsonSafe(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

function summary(a: MemberAnswer): { member: string; address: string; error?: string } {
  return { member: a.member, address: a.address, ...(a.error ? { error: a.error.code } : {}) };
}

/** The terminal rendering of `troupe status`. */
export function statusLines(
  group: string,
  answers: readonly MemberAnswer[],
  callsPerSecond?: ReadonlyMap<string, number>,
): string[] {
  const out: string[] = [];
  const first = answers.find((a) => a.value)?.value as MemberStatus | undefined;
  out.push(
    `group ${group}: view ${first?.view?.id ?? '?'}, ${answers.length} members, coordinator ${first?.coordinator ?? '?'}`,
  );
  out.push(
    `  ${'member'.padEnd(20)} ${'address'.padEnd(22)} ${'role'.padEnd(34)} ${'view'.padStart(5)} ${'applied'.padStart(8)} ${'behind'.padStart(7)} ${'calls/s'.padStart(8)} ${'rss MB'.padStart(7)}`,
  );
  const behindOf = trailing(answers);
  for (const a of answers) {
    const s = a.value as MemberStatus | undefined;
    if (!s) {
      // A member that did not answer, or whose answer was not a status (its message says which field).
      out.push(
        `  ${a.member.padEnd(20)} ${a.address.padEnd(22)} ${a.error ? `${a.error.code}: ${a.error.message}` : 'no answer'}`,
      );
      continue;
    }
    const role = [
      s.coordinator === s.member ? 'coordinator' : 'member',
      ...(s.sequencer === s.member ? ['sequencer'] : []),
      ...(s.locks ?? []).filter((l) => l.holder === s.member).map((l) => `lock ${l.lock}`),
    ].join(', ');
    const applied = s.stats.replica?.applied ?? 0;
    const behind = behindOf.get(a.member) ?? '-';
    const rate = callsPerSecond?.get(a.member);
    out.push(
      `  ${a.member.padEnd(20)} ${a.address.padEnd(22)} ${role.padEnd(34)} ${String(s.view?.id ?? '-').padStart(5)} ${String(applied).padStart(8)} ${behind.padStart(7)} ${(rate === undefined ? '-' : rate.toFixed(0)).padStart(8)} ${(s.rssBytes / 1048576).toFixed(1).padStart(7)}`,
    );
  }
  const views = first?.views.slice(-5) ?? [];
  if (views.length) out.push('recent view changes:');
  for (const v of views) {
    const cause = [
      v.joined.length ? `joined ${v.joined.join(' ')}` : '',
      v.left.length ? `left ${v.left.join(' ')}` : '',
      v.failed.length ? `failed ${v.failed.join(' ')}` : '',
    ].filter((x) => x !== '');
    out.push(
      `  ${new Date(v.at).toISOString()} view ${v.viewId} [${v.members.length}] ${cause.join('; ') || 'formed'}${v.flushMs !== undefined ? ` (flush ${v.flushMs.toFixed(1)} ms)` : ''}`,
    );
  }
  const suspicions = answers
    .flatMap((a) =>
      ((a.value as MemberStatus | undefined)?.suspicions ?? []).map((x) => ({ by: a.member, ...x })),
    )
    .sort((x, y) => x.at - y.at)
    .slice(-5);
  if (suspicions.length) out.push('recent suspicions:');
  for (const x of suspicions)
    out.push(
      `  ${new Date(x.at).toISOString()} ${x.by} suspected ${x.member}, silent ${Math.round(x.silentMs)} ms`,
    );
  const slow = answers
    .flatMap((a) => ((a.value as MemberStatus | undefined)?.slow ?? []).map((t) => ({ by: a.member, t })))
    .map(({ by, t }) => ({ by, id: t.requestId, ms: traceMs(t) }))
    .sort((x, y) => y.ms - x.ms)
    .slice(0, 5);
  if (slow.length) out.push('slowest recent requests (receipt to reply at the contact):');
  for (const x of slow) out.push(`  ${x.id} ${x.ms.toFixed(1)} ms at ${x.by} (troupe trace ${x.id})`);
  // An async method running a second or more holds back every later request at its replica.
  const running = answers.flatMap((a) => {
    const r = (a.value as MemberStatus | undefined)?.applying;
    return r && r.ms >= 1_000 ? [{ by: a.member, ...r }] : [];
  });
  if (running.length) out.push('still applying (later requests wait behind them):');
  for (const r of running)
    out.push(`  ${r.requestId} ${r.method} for ${(r.ms / 1000).toFixed(1)} s at ${r.by}`);
  for (const a of answers) {
    const s = a.value as MemberStatus | undefined;
    for (const d of s?.divergences ?? [])
      out.push(
        `  DIVERGENCE seen by ${a.member}: checkpoint ${d.checkpoint} view ${d.viewId}, minority ${d.minority.join(' ') || '(no majority)'}, last requests ${Object.entries(
          d.lastRequests,
        )
          .map(([m, r]) => `${m}=${r ?? '-'}`)
          .join(' ')}${
          d.origins
            ? `, copies ${Object.entries(d.origins)
                .map(([m, o]) => `${m}<-${o}`)
                .join(' ')}`
            : ''
        }`,
      );
  }
  return out;
}

/** The observability subcommands of the `troupe` bin, by name: `troupe <name> ...argv`. */
export const OBSERVE_COMMANDS: Record<string, (argv: readonly string[], io?: CommandIO) => Promise<number>> =
  {
    trace: traceCommand,
    status: statusCommand,
  };

/** A traced request's span at one member: its first step to its last. */
function traceMs(t: RequestTrace): number {
  const first = t.steps[0];
  const last = t.steps[t.steps.length - 1];
  return first && last ? last.at - first.at : 0;
}
