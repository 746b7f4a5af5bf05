import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench` compiles the bench and the bank example (`tsconfig.bench.json`, into
 * `.bench-build/`) against the package build (`dist/`, what `import 'troupe'` resolves to) and runs
 * that JavaScript, as users run the package; `npm run bench:tsx` runs the sources under tsx.
 */
const COMPILED = import.meta.url.endsWith('.js');
/** The repository root, or `.bench-build/` when this module is the compiled one. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The child script `file` (a `.ts` path from the repository root) as this run executes it: its
 * compiled `.js` under `.bench-build/` when the bench runs compiled, else the source itself.
 *
 * @example
 * ```ts
 * const client = await ctx.procs.start(script('bench/children/rpc-client.ts'), { ready: 'ready' });
 * ```
 */
export function script(file: string): string {
  return COMPILED ? path.join(ROOT, file.replace(/\.ts$/, '.js')) : file;
}
