/**
 * A logger interface with pino's levels and call shape (`log.info({ member, view }, 'msg')`),
 * so a pino logger can be passed as is, and a small JSON-lines logger for when none is.
 */
import { TroupeError } from '../errors.js';

/** Pino's level names, lowest first. */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof LEVELS;

type LogFn = (fields: Record<string, unknown>, msg: string) => void;

/** What troupe logs to; a `pino` logger satisfies it. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
}

const nothing: LogFn = () => {};

/** Logs nothing: the library's default. */
export const silentLogger: Logger = {
  trace: nothing,
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
  fatal: nothing,
};

export interface LoggerOptions {
  /** Lowest level written, or `silent`. Default `info`. */
  level?: LevelName | 'silent';
  /** Where lines go. Default `process.stderr`. */
  write?: (line: string) => void;
  /** Fields on every line (pino's `base`), e.g. `{ service: 'bank' }`. */
  base?: Record<string, unknown>;
  /** Clock for the `time` field (ms since the epoch). Default `Date.now`. */
  now?: () => number;
}

/**
 * A logger writing one JSON object per line in pino's format: `level` (number), `time`, the
 * `base` fields, the call's fields, `msg`. Unknown levels are a `TroupeError` `LOG_BAD_LEVEL`.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'debug', base: { service: 'bank' } });
 * log.warn({ member: 'a1b2:1', view: 3 }, 'member suspected');
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (level !== 'silent' && !(level in LEVELS))
    throw new TroupeError(
      'LOG_BAD_LEVEL',
      `unknown log level '${level}' (one of ${Object.keys(LEVELS).join(', ')}, silent)`,
    );
  const min = level === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[level];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? Date.now;
  const base = options.base ?? {};
  const at =
    (n: number): LogFn =>
    (fields, msg) => {
      if (n < min) return;
      let line: string;
      try {
        line = JSON.stringify({ level: n, time: now(), ...base, ...fields, msg });
      } catch {
        line = JSON.stringify({ level: n, time: now(), ...base, msg, unserializable: true });
      }
      write(`${line}\n`);
    };
  return {
    trace: at(LEVELS.trace),
    debug: at(LEVELS.debug),
    info: at(LEVELS.info),
    warn: at(LEVELS.warn),
    error: at(LEVELS.error),
    fatal: at(LEVELS.fatal),
  };
}
