/**
 * Generation targets (from troupe.json or the command line), and writing or checking their
 * output directories.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseIdl } from '../idl/parser.js';
import { parseHeader } from './emit-ts.js';
import { InputError } from './errors.js';
import { extractServiceSources } from './extract.js';
import { generateFiles } from './generate.js';

/** One output directory and where its contract comes from: source files or an IDL file. */
export type Target =
  | {
      files: string[];
      project: string;
      out: string;
      allowAny?: boolean;
      /** The project was not named: a missing tsconfig.json means default compiler options. */
      defaultProject?: boolean;
    }
  | { idl: string; out: string };

/** What one target generates, and the sources (relative to its output directory) it owns. */
export interface TargetOutput {
  files: Map<string, string>;
  /** Every source the target reads, as generated headers record it (see {@link sourceName}). */
  sources: Set<string>;
}

/** Names codegen writes; only these are considered when looking for orphans. */
const GENERATED = /\.(troupe\.idl|client\.ts|model\.ts)$/;

/** Reads `troupe.json`: `{ "targets": [{ "files": [...], "project": "tsconfig.json", "out": "dir" } | { "idl": "f", "out": "dir" }] }`. */
export function loadTargets(cwd: string, configFile: string): Target[] {
  const file = path.resolve(cwd, configFile);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`cannot read config '${configFile}': ${(e as Error).message.split('\n')[0]}`);
  }
  const targets = (raw as { targets?: unknown }).targets;
  if (!Array.isArray(targets)) throw new InputError(`${configFile}: expected { "targets": [...] }`);
  return targets.map((t: Record<string, unknown>, i) => {
    if (typeof t.out !== 'string') throw new InputError(`${configFile}: targets[${i}].out must be a string`);
    if (typeof t.idl === 'string') return { idl: t.idl, out: t.out };
    if (!Array.isArray(t.files) || !t.files.every((f) => typeof f === 'string')) {
      throw new InputError(`${configFile}: targets[${i}] needs "files" (source files) or "idl"`);
    }
    return {
      files: t.files as string[],
      project: typeof t.project === 'string' ? t.project : 'tsconfig.json',
      out: t.out,
      allowAny: t.allowAny === true,
      defaultProject: typeof t.project !== 'string',
    };
  });
}

/** Which compiler options a target's extraction uses, for the CLI to say: a file, or `undefined` (defaults). */
export function targetProject(t: Target, cwd: string): string | undefined {
  if ('idl' in t) return undefined;
  const file = path.resolve(cwd, t.project);
  if (fs.existsSync(file) || !t.defaultProject) return file;
  // Not named: the nearest tsconfig.json above, as tsc finds it from a subdirectory.
  for (let dir = path.dirname(path.dirname(file)); ; dir = path.dirname(dir)) {
    const up = path.join(dir, 'tsconfig.json');
    if (fs.existsSync(up)) return up;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** How a generated header names `file`: relative to the output directory, `/`-separated. */
export function sourceName(outDir: string, file: string): string {
  return path.relative(outDir, file).split(path.sep).join('/');
}

/** Generates a target's files in memory. */
export function targetFiles(t: Target, cwd: string): TargetOutput {
  const outDir = path.resolve(cwd, t.out);
  if ('idl' in t) {
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(cwd, t.idl), 'utf8');
    } catch {
      throw new InputError(`cannot read '${t.idl}'`);
    }
    const source = sourceName(outDir, path.resolve(cwd, t.idl));
    return {
      files: generateFiles([parseIdl(text, t.idl)], { outDir, cwd, sourceOf: () => source }),
      sources: new Set([source]),
    };
  }
  const tsconfig = targetProject(t, cwd);
  for (const f of [...(tsconfig ? [tsconfig] : []), ...t.files]) {
    if (!fs.existsSync(path.resolve(cwd, f))) throw new InputError(`cannot read '${f}'`);
  }
  const extracted = extractServiceSources({
    ...(tsconfig ? { tsconfig } : {}),
    files: t.files.map((f) => path.resolve(cwd, f)),
    root: cwd,
    allowAny: t.allowAny,
  });
  if (extracted.length === 0) throw new InputError(`no @Service class found in ${t.files.join(', ')}`);
  const sourceOf = new Map(extracted.map((e) => [e.model, sourceName(outDir, e.file)]));
  return {
    files: generateFiles(
      extracted.map((e) => e.model),
      { outDir, cwd, sourceOf: (m) => sourceOf.get(m) },
    ),
    sources: new Set(t.files.map((f) => sourceName(outDir, path.resolve(cwd, f)))),
  };
}

/**
 * Generated files in `outDir` that this target owns but no longer generates: their header
 * records one of the target's sources, and their name is not among its files (a renamed or
 * removed service). Files from other sources, and files without such a header, are not ours.
 */
export function orphans(out: TargetOutput, outDir: string): string[] {
  const present = fs.existsSync(outDir) ? fs.readdirSync(outDir).sort() : [];
  return present.filter((name) => {
    if (!GENERATED.test(name) || out.files.has(name)) return false;
    const source = parseHeader(firstLine(path.join(outDir, name)))?.source;
    return source !== undefined && out.sources.has(source);
  });
}

function firstLine(file: string): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const nl = text.indexOf('\n');
    return nl < 0 ? text : text.slice(0, nl);
  } catch {
    return '';
  }
}

/** Writes the files that differ and deletes the target's {@link orphans}; returns their names. */
export function writeOutput(out: TargetOutput, outDir: string): { written: string[]; removed: string[] } {
  fs.mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of out.files) {
    const file = path.join(outDir, name);
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) continue;
    fs.writeFileSync(file, text);
    written.push(name);
  }
  const removed = orphans(out, outDir);
  for (const name of removed) fs.rmSync(path.join(outDir, name));
  return { written, removed };
}

/** Compares generated files with the directory: changed, missing, and the target's {@link orphans}. */
export function checkOutput(out: TargetOutput, outDir: string): { file: string; reason: string }[] {
  const stale: { file: string; reason: string }[] = [];
  for (const [name, text] of out.files) {
    const file = path.join(outDir, name);
    if (!fs.existsSync(file)) stale.push({ file: name, reason: 'missing' });
    else if (fs.readFileSync(file, 'utf8') !== text) stale.push({ file: name, reason: 'differs' });
  }
  for (const name of orphans(out, outDir)) stale.push({ file: name, reason: 'no longer generated' });
  return stale;
}
