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

/**
 * Where generated code imports troupe from: the package by name, as users install it. Inside
 * troupe's own repository these resolve through tsconfig.json `paths` (and vitest's aliases).
 */
export const CLIENT_IMPORT = 'troupe/client';
export const IDL_IMPORT = 'troupe/idl';

/** Options of the code generator: where it writes and how (the `troupe gen` CLI sets them). */
export interface GenerateOptions {
  /** Output directory. */
  outDir: string;
  /** Directory biome runs in (whose biome.json applies); default: the current directory. */
  cwd?: string;
  /** Skip formatting (for speed in tests that do not compare bytes). */
  format?: boolean;
  /**
   * The file a model came from, relative to `outDir` with `/` separators, recorded in each
   * generated file's header (see {@link header}); `troupe gen` passes it so that several
   * invocations can share an output directory. Without it the header names only the service.
   */
  sourceOf?: (model: IdlFile) => string | undefined;
}

/** Files for one model per service, keyed by path relative to `outDir`, sorted. */
export function generateFiles(models: IdlFile[], opts: GenerateOptions): Map<string, string> {
  const outDir = path.resolve(opts.outDir);
  const cwd = opts.cwd ?? process.cwd();
  const fmt = (text: string, name: string) =>
    opts.format === false ? text : formatTs(text, path.join(outDir, name), cwd);

  const files = new Map<string, string>();
  for (const model of models) {
    const source = opts.sourceOf?.(model);
    for (const svc of model.services) {
      const head = header(svc.name, source);
      files.set(`${svc.name}.troupe.idl`, head + printIdl(model));
      files.set(
        `${svc.name}.client.ts`,
        fmt(emitClient(model, svc, CLIENT_IMPORT, head), `${svc.name}.client.ts`),
      );
      files.set(`${svc.name}.model.ts`, fmt(emitModel(model, svc, IDL_IMPORT, head), `${svc.name}.model.ts`));
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}
