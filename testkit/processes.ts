/**
 * A small harness for tests and benchmarks that need real child processes (fail-over, real sockets
 * across process boundaries).
 *
 * Parent side: {@link ProcessHarness} starts `node <file> [args]` children (with tsx's loader for a
 * `.ts` file), reads a
 * line-oriented JSON protocol from their stdout (one `{"event": "...", ...}` object per line), writes
 * commands to their stdin (one JSON object per line), keeps their stderr for error messages, kills
 * them by pid (`SIGKILL` on demand, for fail-over tests) and guarantees cleanup: {@link
 * ProcessHarness.stopAll} kills every child it started, and a process-wide `exit`/`SIGINT`/`SIGTERM`
 * hook kills whatever is still alive when the parent goes away.
 *
 * Child side: {@link emit} prints an event line and {@link onCommands} reads command lines. A child
 * that calls {@link onCommands} also exits when its stdin closes, which is what happens when the
 * parent dies without running any hook (e.g. the parent was itself SIGKILLed), so no child outlives
 * its parent.
 *
 * @example
 * ```ts
 * const procs = new ProcessHarness();
 * try {
 *   const echo = await procs.start('test/support/fixtures/echo-child.ts', { ready: 'ready' });
 *   echo.send({ cmd: 'echo', text: 'hi' });
 *   const reply = await echo.waitFor('echo');
 *   await echo.kill(); // SIGKILL; resolves once the child is reaped
 * } finally {
 *   await procs.stopAll();
 * }
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** One parsed line of a child's stdout. `event` is always a string; the rest is whatever it sent. */
export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

/** A predicate over events, or an event name to match exactly. */
export type EventMatch = string | ((e: ChildEvent) => boolean);

/** How a child ended: exit code, or the signal that killed it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of `ProcessHarness.start`: arguments, environment, and what to wait for. */
export interface StartOptions {
  /** Command-line arguments after the script path. */
  args?: string[];
  /** A label for error messages; defaults to the script's base name. */
  name?: string;
  /** Working directory; defaults to the parent's. */
  cwd?: string;
  /** Extra environment variables (merged over the parent's environment). */
  env?: Record<string, string>;
  /** Extra `node` flags (before tsx's `--import`, if any). */
  nodeArgs?: string[];
  /** When set, `start` resolves only once the child has printed this event (the ready line). */
  ready?: EventMatch;
  /** Timeout for `ready`, in ms. Default 10 000 (tsx compiles the child on first start). */
  readyTimeoutMs?: number;
  /**
   * A command that runs `node` for us, e.g. `['ip', 'netns', 'exec', ns]` (testkit/netns.ts):
   * the child is spawned as `wrapper[0] ...wrapper[1..] node ...`. The wrapper must exec `node` in
   * place (not fork it), so that the pid we kill is node's own; when the ready event carries a
   * `pid` field, `start` checks that it is the spawned pid and fails (killing both) otherwise.
   */
  wrapper?: readonly string[];
}

/** Default timeout for {@link Child.waitFor}, in ms. */
export const DEFAULT_WAIT_MS = 5_000;
/** How much stderr (and non-JSON stdout) is kept per child, in characters: the tail is kept. */
const OUTPUT_CAP = 64 * 1024;

/**
 * The `--import` specifier for tsx, for children that are TypeScript files: resolved from this
 * file so children work from any cwd, and only when needed, since compiled children need no tsx.
 */
function tsxLoader(script: string): string[] {
  if (!/\.[cm]?ts$/.test(script)) return [];
  try {
    return ['--import', import.meta.resolve('tsx')];
  } catch {
    throw new Error(`${script} is TypeScript: install tsx to run it as a child, or run its compiled .js`);
  }
}

/** Whether `pid`'s parent is `parent` (Linux `/proc`; false where it cannot be read). */
function isChildOf(pid: number, parent: number): boolean {
  try {
    return new RegExp(`^PPid:\\s+${parent}$`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every child started by any harness in this process and not yet reaped: the exit hook kills these. */
const live = new Set<Child>();
let hooksInstalled = false;

function killLiveSync(): void {
  for (const c of live) c.killSync('SIGKILL');
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killLiveSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killLiveSync();
      // Listening to a signal replaces Node's default "die"; restore it if nobody else listens.
      process.off(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function describe(match: EventMatch): string {
  return typeof match === 'string' ? `event "${match}"` : `event matching ${match.name || 'predicate'}`;
}

function matches(match: EventMatch, e: ChildEvent): boolean {
  return typeof match === 'string' ? e.event === match : match(e);
}

function appendCapped(buf: string, more: string): string {
  const s = buf + more;
  return s.length > OUTPUT_CAP ? s.slice(s.length - OUTPUT_CAP) : s;
}

interface Waiter {
  match: EventMatch;
  resolve: (e: ChildEvent) => void;
  /** Fails the wait because the child exited (`why` says how). */
  fail: (why: string) => void;
}

/** One running (or finished) child process. Create with {@link ProcessHarness.start}. */
export class Child {
  /** The child's pid: the identity used to kill it. */
  readonly pid: number;
  readonly name: string;
  /** Every event the child printed, in order (consumed or not). */
  readonly events: ChildEvent[] = [];
  /** Resolves when the child has exited and been reaped (its pid is gone). Never rejects. */
  readonly exited: Promise<ChildExit>;

  #proc: ChildProcess;
  #exit: ChildExit | undefined;
  #stderr = '';
  #stdout = '';
  /** Events not yet consumed by a `waitFor`. */
  #pending: ChildEvent[] = [];
  #waiters: Waiter[] = [];

  /** @internal use {@link ProcessHarness.start}. */
  constructor(proc: ChildProcess, name: string) {
    if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = proc.pid;
    this.name = name;
    this.#proc = proc;
    live.add(this);
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      this.#stderr = appendCapped(this.#stderr, chunk);
    });
    if (proc.stdout) {
      const lines = createInterface({ input: proc.stdout, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on('line', (line) => this.#onLine(line));
    }
    // Writing to a child that just died raises EPIPE on stdin; the exit is reported through `exited`.
    proc.stdin?.on('error', () => {});
    // 'close' (not 'exit'): by then the pid is reaped and stdout fully read.
    this.exited = new Promise<ChildExit>((resolve) => {
      proc.on('close', (code, signal) => {
        this.#exit = { code, signal };
        live.delete(this);
        for (const w of this.#waiters.splice(0)) w.fail(`exited (${this.#exitText()})`);
        resolve(this.#exit);
      });
    });
  }

  /** Whether the child is still running (not yet reaped). */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** How the child ended, once it has. */
  get exit(): ChildExit | undefined {
    return this.#exit;
  }

  /** Everything the child wrote to stderr (the last 64 KB). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Lines of stdout that were not JSON events (the last 64 KB). */
  get stdout(): string {
    return this.#stdout;
  }

  /** Sends one command: `cmd` becomes a single JSON line on the child's stdin. */
  send(cmd: Record<string, unknown>): void {
    if (!this.alive) throw this.#error(`cannot send ${JSON.stringify(cmd)}: exited (${this.#exitText()})`);
    this.#proc.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  /**
   * Resolves with the first not-yet-consumed event that matches, consuming it (events that do not
   * match stay queued for later waits). Rejects after `timeoutMs`, or as soon as the child exits,
   * with the child's stderr tail in the message.
   */
  waitFor(match: EventMatch, timeoutMs = DEFAULT_WAIT_MS): Promise<ChildEvent> {
    const i = this.#pending.findIndex((e) => matches(match, e));
    if (i >= 0) return Promise.resolve(this.#pending.splice(i, 1)[0]!);
    if (!this.alive)
      return Promise.reject(this.#error(`exited (${this.#exitText()}) before ${describe(match)}`));
    return new Promise<ChildEvent>((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        fail: (why) => {
          clearTimeout(timer);
          reject(this.#error(`${why} before ${describe(match)}`));
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(this.#error(`timed out after ${timeoutMs} ms waiting for ${describe(match)}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Sends a command and waits for the matching reply event. */
  request(cmd: Record<string, unknown>, reply: EventMatch, timeoutMs = DEFAULT_WAIT_MS): Promise<ChildEvent> {
    const p = this.waitFor(reply, timeoutMs);
    this.send(cmd);
    return p;
  }

  /**
   * Kills the child by pid (default `SIGKILL`) and resolves once it is reaped, so that afterwards
   * `process.kill(pid, 0)` throws. A no-op for a child that already exited.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ChildExit> {
    this.killSync(signal);
    return this.exited;
  }

  /** Sends `signal` to the pid without waiting (used by the exit hook, which cannot await). */
  killSync(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // ESRCH: it died on its own in the meantime; 'close' will report it.
    }
  }

  #onLine(line: string): void {
    let parsed: unknown;
    try {
      parsed = line.startsWith('{') ? JSON.parse(line) : undefined;
    } catch {
      parsed = undefined;
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      typeof (parsed as { event?: unknown }).event !== 'string'
    ) {
      this.#stdout = appendCapped(this.#stdout, `${line}\n`);
      return;
    }
    const e = parsed as ChildEvent;
    this.events.push(e);
    const w = this.#waiters.findIndex((x) => matches(x.match, e));
    if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(e);
    else this.#pending.push(e);
  }

  #exitText(): string {
    const x = this.#exit;
    if (!x) return 'running';
    return x.signal ? `signal ${x.signal}` : `code ${x.code}`;
  }

  #error(what: string): Error {
    const tail = this.#stderr.trim().split('\n').slice(-20).join('\n');
    const recent = this.events
      .slice(-5)
      .map((e) => JSON.stringify(e))
      .join('\n  ');
    return new Error(
      `${this.name} (pid ${this.pid}): ${what}` +
        (tail ? `\n--- stderr (tail) ---\n${tail}` : '') +
        (recent ? `\n--- last events ---\n  ${recent}` : ''),
    );
  }
}

/**
 * Starts children and owns them: {@link stopAll} kills every child this harness started. Use one per
 * test file or benchmark run and call `stopAll()` in `afterEach`/`finally`.
 */
export class ProcessHarness {
  readonly #children: Child[] = [];

  /** Every child this harness started (running or not), in start order. */
  get children(): readonly Child[] {
    return this.#children;
  }

  /**
   * Spawns `node <file> ...args` (`node --import tsx` for a `.ts` file). `file` is resolved against `cwd` (default: the
   * parent's cwd). With `ready`, resolves only after that event (and kills the child if it does not
   * come in time).
   */
  async start(file: string, opts: StartOptions = {}): Promise<Child> {
    installExitHooks();
    const cwd = opts.cwd ?? process.cwd();
    const script = path.resolve(cwd, file);
    const nodeArgv = [...(opts.nodeArgs ?? []), ...tsxLoader(script), script, ...(opts.args ?? [])];
    const [command, ...prefix] = opts.wrapper?.length ? opts.wrapper : [process.execPath];
    const proc = spawn(
      command!,
      opts.wrapper?.length ? [...prefix, process.execPath, ...nodeArgv] : nodeArgv,
      {
        cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const name = opts.name ?? path.basename(file).replace(/\.[cm]?[jt]s$/, '');
    if (proc.pid === undefined) {
      const err = await new Promise<Error>((resolve) => proc.once('error', resolve));
      throw new Error(`${name}: could not start ${command}: ${err.message}`);
    }
    const child = new Child(proc, name);
    this.#children.push(child);
    if (opts.ready !== undefined) {
      let ready: ChildEvent;
      try {
        ready = await child.waitFor(opts.ready, opts.readyTimeoutMs ?? 10_000);
      } catch (err) {
        await child.kill();
        throw err;
      }
      if (opts.wrapper?.length && typeof ready.pid === 'number' && ready.pid !== child.pid) {
        // The wrapper forked: killing our pid would not reach node. Kill both and refuse. The
        // printed pid is the child's word only (in another pid namespace it names some other
        // process): it is signalled only if it is our spawned process's own child.
        if (isChildOf(ready.pid, child.pid)) {
          try {
            process.kill(ready.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await child.kill();
        throw new Error(
          `${name}: the wrapper ${opts.wrapper.join(' ')} forked (node is pid ${ready.pid}, spawned pid ${child.pid}); it must exec node in place`,
        );
      }
    }
    return child;
  }

  /**
   * Kills every child this harness started that is still alive, by pid, and waits until each is
   * reaped. With `graceMs > 0`, sends `SIGTERM` first and `SIGKILL` only to those still alive after
   * `graceMs`. Safe to call more than once.
   */
  async stopAll(opts: { graceMs?: number } = {}): Promise<void> {
    const running = this.#children.filter((c) => c.alive);
    const grace = opts.graceMs ?? 0;
    if (grace > 0) {
      for (const c of running) c.killSync('SIGTERM');
      await Promise.race([
        Promise.all(running.map((c) => c.exited)),
        new Promise((resolve) => setTimeout(resolve, grace)),
      ]);
    }
    await Promise.all(running.map((c) => c.kill('SIGKILL')));
  }
}

// ---------------------------------------------------------------------------------------------
// Child side

/** Prints one event line on stdout: `{"event": event, ...fields}`. */
export function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ ...fields, event })}\n`);
}

/** A command line read from stdin. `cmd` names the command by convention. */
export interface ChildCommand {
  cmd?: string;
  [key: string]: unknown;
}

/**
 * Reads commands from stdin, one JSON object per line, and calls `handler` for each (in order; an
 * async handler is awaited before the next command runs). A handler that throws is reported as an
 * `{"event":"error","message":...}` line. When stdin closes (the parent is gone or closed it) the
 * child exits with `onEnd`'s code (default 0), so a child never outlives its parent.
 */
export function onCommands(
  handler: (cmd: ChildCommand) => void | Promise<void>,
  opts: { onEnd?: () => number | undefined } = {},
): void {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  let chain: Promise<void> = Promise.resolve();
  lines.on('line', (line) => {
    if (!line.trim()) return;
    chain = chain.then(async () => {
      try {
        await handler(JSON.parse(line) as ChildCommand);
      } catch (err) {
        emit('error', { message: err instanceof Error ? err.message : String(err), line });
      }
    });
  });
  lines.on('close', () => process.exit(opts.onEnd?.() ?? 0));
}
