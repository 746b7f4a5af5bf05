/**
 * The `troupe` command line: code generation, its drift check, and IDL tools.
 * `main` never throws and never exits the process, so it is testable in-process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { diffIdl, formatChanges, hasBreaking } from '../idl/diff.js';
import { parseIdl, parseIdlWithComments } from '../idl/parser.js';
import { printIdl } from '../idl/printer.js';
import { TroupeError } from '../runtime/errors.js';
import { checkCompiles } from './compile-check.js';
import { UsageError } from './errors.js';
import { HELP } from './help.js';
import { checkOutput, loadTargets, type Target, targetFiles, targetProject, writeOutput } from './targets.js';
import { GENERATOR_VERSION } from './version.js';

/** Process exit codes; documented in docs/idl.md. */
export const EXIT = {
  OK: 0,
  /** `gen --check` found stale files, `idl diff` found a breaking change, `idl fmt --check` found unformatted files. */
  CHECK_FAILED: 1,
  /** Unknown command or flag, missing argument. */
  USAGE: 2,
  /** Bad input: IDL syntax error, a service that cannot be extracted, a missing file. */
  INPUT: 3,
  /** A bug in troupe: an unexpected exception (run with --debug for the stack). */
  INTERNAL: 4,
} as const;

/** Where output goes; tests pass buffers. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  cwd: string;
}

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['--out', '--project', '--idl', '--config']);
const BOOL_FLAGS = new Set(['--check', '--write', '--allow-any', '--debug', '--help', '--version']);

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) positional.push(a);
    else if (VALUE_FLAGS.has(a)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      flags.set(a, v);
    } else if (BOOL_FLAGS.has(a)) flags.set(a, true);
    else throw new UsageError(`unknown option '${a}' (see troupe --help)`);
  }
  return { positional, flags };
}

function str(p: Parsed, flag: string): string | undefined {
  const v = p.flags.get(flag);
  return typeof v === 'string' ? v : undefined;
}

function readText(io: Io, file: string): string {
  try {
    return fs.readFileSync(path.resolve(io.cwd, file), 'utf8');
  } catch {
    throw new TroupeError('INPUT', `cannot read '${file}'`);
  }
}

function gen(p: Parsed, io: Io): number {
  const out = str(p, '--out');
  const idl = str(p, '--idl');
  let targets: Target[];
  if (idl || p.positional.length > 0) {
    if (!out) throw new UsageError('--out <dir> is required with --idl or source files');
    if (idl && p.positional.length > 0) throw new UsageError('give either --idl or source files, not both');
    targets = [
      idl
        ? { idl, out }
        : {
            files: p.positional,
            out,
            project: str(p, '--project') ?? 'tsconfig.json',
            allowAny: p.flags.has('--allow-any'),
            defaultProject: !p.flags.has('--project'),
          },
    ];
  } else {
    if (out) throw new UsageError('--out needs --idl or source files');
    targets = loadTargets(io.cwd, str(p, '--config') ?? 'troupe.json');
  }
  const check = p.flags.has('--check');
  let stale = 0;
  for (const t of targets) {
    if (!('idl' in t)) {
      const project = targetProject(t, io.cwd);
      io.err(
        project
          ? `troupe: compiler options from ${path.relative(io.cwd, project) || project}`
          : `troupe: no ${t.project}: default compiler options (strict, ES2022, nodenext)`,
      );
    }
    const output = targetFiles(t, io.cwd);
    if (check) {
      for (const s of checkOutput(output, path.resolve(io.cwd, t.out))) {
        io.err(`stale: ${path.join(t.out, s.file)} (${s.reason})`);
        stale++;
      }
    } else {
      checkCompiles(output.files, path.resolve(io.cwd, t.out), targetProject(t, io.cwd));
      const { written, removed } = writeOutput(output, path.resolve(io.cwd, t.out));
      for (const f of written) io.out(`wrote ${path.join(t.out, f)}`);
      for (const f of removed) io.out(`removed ${path.join(t.out, f)} (no longer generated)`);
    }
  }
  if (stale > 0) {
    io.err(`${stale} generated file(s) are stale; run 'troupe gen' and commit the result`);
    return EXIT.CHECK_FAILED;
  }
  if (check) io.out('generated files are up to date');
  return EXIT.OK;
}

function idlCommand(p: Parsed, io: Io): number {
  const [sub, ...files] = p.positional;
  if (sub === 'fmt') {
    if (files.length === 0) throw new UsageError('idl fmt needs at least one file');
    let unformatted = 0;
    for (const f of files) {
      const text = readText(io, f);
      const { model, comments } = parseIdlWithComments(text, f);
      const formatted = printIdl(model, comments);
      if (p.flags.has('--check')) {
        if (formatted !== text) {
          io.err(`not formatted: ${f}`);
          unformatted++;
        }
      } else if (p.flags.has('--write')) {
        if (formatted !== text) fs.writeFileSync(path.resolve(io.cwd, f), formatted);
      } else io.out(formatted.trimEnd());
    }
    return unformatted > 0 ? EXIT.CHECK_FAILED : EXIT.OK;
  }
  if (sub === 'diff') {
    if (files.length !== 2) throw new UsageError('idl diff needs exactly two files: OLD NEW');
    const [a, b] = files as [string, string];
    const changes = diffIdl(parseIdl(readText(io, a), a), parseIdl(readText(io, b), b));
    if (changes.length === 0) io.out('no changes');
    else io.out(formatChanges(changes));
    return hasBreaking(changes) ? EXIT.CHECK_FAILED : EXIT.OK;
  }
  throw new UsageError(sub ? `unknown idl command '${sub}' (fmt, diff)` : 'idl needs a command: fmt or diff');
}

/** Runs the CLI on `argv` (without `node` and the script) and returns the exit code. */
export function main(argv: string[], io: Io = defaultIo()): number {
  const debug = argv.includes('--debug');
  try {
    const [cmd, ...rest] = argv;
    const p = parseArgs(rest);
    if (cmd === undefined || cmd === '--help' || cmd === 'help' || p.flags.has('--help')) {
      io.out(HELP);
      return cmd === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (cmd === '--version') {
      io.out(GENERATOR_VERSION);
      return EXIT.OK;
    }
    if (cmd === 'gen') return gen(p, io);
    if (cmd === 'idl') return idlCommand(p, io);
    throw new UsageError(`unknown command '${cmd}' (see troupe --help)`);
  } catch (e) {
    // One line per error for people and CI logs; the stack only on request.
    if (debug && e instanceof Error && e.stack) io.err(e.stack);
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    io.err(`troupe: error: ${message}`);
    if (e instanceof UsageError) return EXIT.USAGE;
    if (e instanceof TroupeError) return EXIT.INPUT;
    return EXIT.INTERNAL;
  }
}

function defaultIo(): Io {
  return {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    cwd: process.cwd(),
  };
}
