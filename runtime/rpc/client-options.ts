/**
 * What a client is configured with, and the checks that refuse a bad configuration before any
 * socket opens: `connect`'s options, its clock and timers, and the options of one call
 * (`invoke`, `reissue`, `outcome`) as plain JavaScript may pass them. Every refusal is a typed
 * error naming the option (`RpcConfigError`, `CallOptionError`).
 */

import { steadyNow } from '../clock.js';
import type { ObserveSink } from '../observe/events.js';
import { unknownOption } from '../options.js';
import type { Transport } from '../transport/types.js';
import type { AuthKey } from '../wire/auth.js';
import { CallOptionError, RpcConfigError } from './errors.js';

/** Options of `connect`: the group, where to find it, its key, the transport and timings. */
export interface ConnectOptions {
  /** The group's name (its packets carry the hash of it). */
  group: string;
  /** Addresses (`host:port`, host names too) of members to ask for the view first. */
  seeds: readonly string[];
  /**
   * How `seeds` become addresses. Default with `connect`: `resolveSeeds` (DNS, IPv4
   * first; `SEED_NO_PORT`/`SEED_UNRESOLVED` at once). Called at connect and again, at most once
   * per `contactTimeoutMs`, while the client looks for a new contact, so a seed name that now
   * points elsewhere (a replica moved) is found there. Members compare addresses, not names.
   */
  resolve?: (seeds: readonly string[]) => Promise<string[]>;
  /** Transport to use; default: a new unicast UDP socket on `host` (closed by `close()`). */
  transport?: Transport;
  /** Bind address of the default UDP transport. Default `127.0.0.1`. */
  host?: string;
  /** Default deadline of a call (ms) when neither the call nor the method sets one. Default 10 s. */
  timeoutMs?: number;
  /** How long `connect` waits for a first view. Default 5 s. */
  connectTimeoutMs?: number;
  /**
   * Least retransmission interval, and the timer's tick. A call is sent again only after the
   * observed round trip plus four times its deviation (whichever is longer; doubling per attempt,
   * up to 16×), so a loaded group that answers slowly gets no duplicate calls. Default 100 ms.
   */
  retransmitMs?: number;
  /** Heartbeat interval to the contact (and view refresh). Default 250 ms. */
  heartbeatMs?: number;
  /** Contact silence after which it counts as failed. Default 1 s. */
  contactTimeoutMs?: number;
  /** On contact failure, resend pending calls (same ids) to the next contact instead of rejecting them. */
  autoReissue?: boolean;
  /** This client's id (1–64 of `[A-Za-z0-9_-]`); default random. Request ids are `clientId:counter`. */
  clientId?: string;
  /** Failed and timed-out calls remembered for `reissue` (also after a reissue). Default 1024. */
  remember?: number;
  /**
   * Clock and timers. Default: {@link steadyNow} (wall time at start, never stepped: a stepped
   * wall clock would fail over every call at once, or stop retransmissions) and the global
   * timers (interval timers unref'd). The
   * deterministic simulator (test/sim/rpc-world.ts) passes virtual ones.
   */
  timers?: ClientTimers;
  /** Node id in this client's packets' sender endpoint. Default random. */
  node?: number;
  /**
   * The group's key (string or bytes, at least 32 bytes, or `{ current, previous }` during a
   * roll; else `AuthConfigError` `AUTH_BAD_KEY`): the replicas' `JoinReplicaOptions.key`.
   * Required unless `insecure: true` (else `KEY_REQUIRED`). Packets are then signed and
   * verified; a client whose key differs from the group's (or that has none for a keyed
   * group) hears no member and gets `NoContactError`.
   */
  key?: AuthKey;
  /** Connect without a key, on purpose (the group must be insecure too). */
  insecure?: boolean;
  /** With `key`: encrypt packets (AES-256-GCM), as the replicas do (`JoinReplicaOptions.encrypt`). */
  encrypt?: boolean;
  /** Metrics, logs and traces of this client (e.g. an `Observer`, docs/observability.md). */
  observe?: ObserveSink;
}

/** What the client needs of time: a clock and timers. */
export interface ClientTimers {
  now(): number;
  /** Runs `fn` once after `ms`; returns a handle for {@link ClientTimers.clear}. */
  after(ms: number, fn: () => void): unknown;
  clear(handle: unknown): void;
  /** Runs `fn` every `ms` until cleared; must not keep a process alive on its own. */
  every(ms: number, fn: () => void): unknown;
}

/** Steady clock and the global timers (interval timers unref'd). */
export const REAL_TIMERS: ClientTimers = {
  now: steadyNow,
  after: (ms, fn) => setTimeout(fn, ms),
  clear: (h) => {
    clearTimeout(h as NodeJS.Timeout);
    clearInterval(h as NodeJS.Timeout);
  },
  every: (ms, fn) => setInterval(fn, ms).unref(),
};

export const CALL_OPTIONS: ReadonlySet<string> = new Set(['reply', 'timeoutMs', 'requestId']);
export const REISSUE_OPTIONS: ReadonlySet<string> = new Set(['reply', 'timeoutMs', 'rerun']);
export const OUTCOME_OPTIONS: ReadonlySet<string> = new Set(['timeoutMs']);
const REPLY_MODES: readonly string[] = ['first', 'all', 'majority', 'none'];
/**
 * Set by a generated stub on the options it passes when the caller's options named another reply
 * mode than the stub view's (plain JavaScript; typed code cannot): `invoke()` refuses the call.
 */
export const STUB_REPLY: unique symbol = Symbol('troupe.stubReply');

/** Longest deadline a timer takes (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Checks call options as plain JavaScript may pass them: a plain object with only the options
 * this call takes, each of its type and range. A generated stub passes on, as given, a value in
 * the options' place that is not an object, or an array of what stood from there on when it got
 * arguments past its options: both are refused here as too many arguments.
 */
export function checkCallOptions(opts: unknown, allowed: ReadonlySet<string>): void {
  if (opts === undefined) return;
  if (!isPlainObject(opts))
    throw new CallOptionError(
      'options',
      `call options must be a plain object, got ${Array.isArray(opts) ? `an array of ${opts.length}` : describe(opts)}: the method probably got too many arguments (a value past its parameters)`,
    );
  const asked = (opts as { [STUB_REPLY]?: unknown })[STUB_REPLY];
  if (asked !== undefined)
    throw new CallOptionError(
      'reply',
      `a stub call's reply mode is the view it is called on, not an option: call client.all.<method>(…) or client.majority.<method>(…) instead of passing reply ${describe(asked)}`,
    );
  // for…in and an own-key check, not Object.entries: the same keys without two arrays per call.
  for (const k in opts) {
    if (!Object.hasOwn(opts, k)) continue;
    const v = (opts as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (!allowed.has(k))
      throw new CallOptionError(k, `unknown call option '${k}' (allowed: ${[...allowed].join(', ')})`);
    if (k === 'reply' && (typeof v !== 'string' || !REPLY_MODES.includes(v)))
      throw new CallOptionError(k, `reply must be one of ${REPLY_MODES.join(', ')}, got ${describe(v)}`);
    if (k === 'timeoutMs' && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_TIMEOUT_MS))
      throw new CallOptionError(
        k,
        `timeoutMs must be a positive number of ms up to ${MAX_TIMEOUT_MS}, got ${describe(v)}`,
      );
    if (k === 'requestId' && typeof v !== 'string')
      throw new CallOptionError(k, `requestId must be a string, got ${describe(v)}`);
    if (k === 'rerun' && typeof v !== 'boolean')
      throw new CallOptionError(k, `rerun must be a boolean, got ${describe(v)}`);
  }
}

/** An object literal's kind: `{...}` or `Object.create(null)`, not an array, a Date or a class instance. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Every option `connect` takes: the compiler keeps it in step with {@link ConnectOptions}. */
const CONNECT_OPTIONS = {
  group: true,
  seeds: true,
  resolve: true,
  transport: true,
  host: true,
  timeoutMs: true,
  connectTimeoutMs: true,
  retransmitMs: true,
  heartbeatMs: true,
  contactTimeoutMs: true,
  autoReissue: true,
  clientId: true,
  remember: true,
  timers: true,
  node: true,
  key: true,
  insecure: true,
  encrypt: true,
  observe: true,
} as const satisfies Record<keyof ConnectOptions, true>;

/** Refuses bad connect options (from plain JavaScript too) with an `RpcConfigError`. */
export function checkConnectOptions(options: ConnectOptions): void {
  if (typeof options?.group !== 'string' || options.group.length === 0)
    throw new RpcConfigError('connect needs the group name (a non-empty string)');
  // A misspelt option (`connectTimeout`, `keyFile`) was ignored: the client then ran on a
  // default the caller meant to change, and failed later for a reason that named nothing.
  const unknown = unknownOption('connect', options, CONNECT_OPTIONS);
  if (unknown) throw new RpcConfigError(unknown);
  const seeds: unknown = options.seeds;
  if (!Array.isArray(seeds))
    throw new RpcConfigError(
      `connect: seeds must be an array of 'host:port' strings, got ${typeof seeds === 'string' ? `the string ${describe(seeds)}` : describe(seeds)}`,
    );
  if (seeds.length === 0 || seeds.some((a) => typeof a !== 'string'))
    throw new RpcConfigError('connect needs at least one seed address (host:port strings)');
  for (const k of [
    'timeoutMs',
    'connectTimeoutMs',
    'retransmitMs',
    'heartbeatMs',
    'contactTimeoutMs',
  ] as const) {
    const v = options[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_TIMEOUT_MS))
      throw new RpcConfigError(
        `${k} must be a positive number of ms up to ${MAX_TIMEOUT_MS}, got ${describe(v)}`,
      );
  }
  if (options.remember !== undefined && (!Number.isSafeInteger(options.remember) || options.remember < 1))
    throw new RpcConfigError(`remember must be a positive integer, got ${describe(options.remember)}`);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.slice(0, 40)}'`;
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return typeof v === 'symbol' ? 'a symbol' : String(v);
}
