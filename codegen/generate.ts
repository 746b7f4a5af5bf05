/**
 * Turns models into the files of one output directory. Pure apart from formatting: the
 * same model always yields the same bytes (sorted, LF, no timestamps), which is what
 * `troupe gen --check` relies on.
 */
import * as path from 'node:path';
import type { IdlFile } from '../idl/model.js';
import { printIdl } from '../idl/printer.js';
import { emitClient } from './emit-client.js';
import { emitModel } from './emit-model.js';
import { header } from './emit-ts.js';
import { formatTs } from './format.js';

/** Root of the troupe sources (the directory holding `idl/` and `runtime/`). */
export const TROUPE_ROOT = path.resolve(import.meta.dirname, '..');

export interface GenerateOptions {
  /** Output directory; imports of troupe modules are made relative to it. */
  outDir: string;
  /** Directory biome runs in (whose biome.json applies); default: the current directory. */
  cwd?: string;
  /** Where troupe's `idl/` and `runtime/` live (default: this checkout). */
  troupeRoot?: string;
  /** Skip formatting (for speed in tests that do not compare bytes). */
  format?: boolean;
}

function relImport(from: string, to: string): string {
  const r = path.relative(from, to).split(path.sep).join('/');
  return r.startsWith('.') ? r : `./${r}`;
}

/** Files for one model per service, keyed by path relative to `outDir`, sorted. */
export function generateFiles(models: IdlFile[], opts: GenerateOptions): Map<string, string> {
  const root = opts.troupeRoot ?? TROUPE_ROOT;
  const outDir = path.resolve(opts.outDir);
  const cwd = opts.cwd ?? process.cwd();
  const idlImport = relImport(outDir, path.join(root, 'idl'));
  const apiImport = `${relImport(outDir, path.join(root, 'runtime', 'rpc'))}/api.js`;
  const fmt = (text: string, name: string) =>
    opts.format === false ? text : formatTs(text, path.join(outDir, name), cwd);

  const files = new Map<string, string>();
  for (const model of models) {
    for (const svc of model.services) {
      files.set(`${svc.name}.troupe.idl`, header(svc.name) + printIdl(model));
      files.set(`${svc.name}.client.ts`, fmt(emitClient(model, svc, apiImport), `${svc.name}.client.ts`));
      files.set(`${svc.name}.model.ts`, fmt(emitModel(model, svc, idlImport), `${svc.name}.model.ts`));
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}
