/**
 * Type-checks generated stubs before they are written, so `troupe gen` never leaves a stub that
 * does not compile. `troupe` imports resolve to the troupe running this check (its sources or
 * its declaration files), the version the stubs were generated for.
 */
import * as path from 'node:path';
import { type CompilerOptions, Project, ts } from 'ts-morph';
import { InputError } from './errors.js';
import { DEFAULT_COMPILER_OPTIONS } from './extract.js';

/** This troupe's entry points, without extension: `entry/client.ts` in a checkout, `.d.ts` in dist. */
const ENTRY_DIR = path.resolve(import.meta.dirname, '..', 'entry');

/**
 * Checks the generated `.ts` files of `files` (names relative to `outDir`) with the project's
 * compiler options (or the defaults); throws one {@link InputError} naming the first error.
 */
export function checkCompiles(
  files: Map<string, string>,
  outDir: string,
  tsconfig: string | undefined,
): void {
  const base = tsconfig
    ? new Project({ tsConfigFilePath: tsconfig, skipAddingFilesFromTsConfig: true }).getCompilerOptions()
    : (DEFAULT_COMPILER_OPTIONS as CompilerOptions);
  const options: CompilerOptions = {
    ...base,
    noEmit: true,
    skipLibCheck: true,
    paths: {
      ...base.paths,
      troupe: [path.join(ENTRY_DIR, 'troupe')],
      'troupe/*': [path.join(ENTRY_DIR, '*')],
    },
  };
  // Only types are checked: where output would go, and what it must sit under, does not matter
  // (and troupe's own files may be outside the project's rootDir).
  for (const k of [
    'baseUrl',
    'rootDir',
    'rootDirs',
    'outDir',
    'composite',
    'declaration',
    // These need `declaration`, `composite` or `incremental`: left alone, they are an options
    // error (e.g. `tsc --init`'s declarationMap) and gen refuses every stub.
    'declarationMap',
    'declarationDir',
    'emitDeclarationOnly',
    'isolatedDeclarations',
    'incremental',
    'tsBuildInfoFile',
  ] as const) {
    delete options[k];
  }
  const project = new Project({ compilerOptions: options, skipFileDependencyResolution: false });
  const sources = [...files]
    .filter(([name]) => name.endsWith('.ts'))
    .map(([name, text]) => project.createSourceFile(path.join(outDir, name), text, { overwrite: true }));
  for (const sf of sources) {
    const diag = sf.getPreEmitDiagnostics().find((d) => d.getCategory() === ts.DiagnosticCategory.Error);
    if (!diag) continue;
    const where = `${path.basename(sf.getFilePath())}:${diag.getLineNumber() ?? 0}`;
    // The compiler's own message (ts-morph's getMessageText() wraps a chain in its own class).
    const text = ts.flattenDiagnosticMessageText(diag.compilerObject.messageText, ' ');
    throw new InputError(
      `generated ${where} would not compile: ${text} (nothing was written; rename what it names, or report a troupe bug)`,
    );
  }
}
