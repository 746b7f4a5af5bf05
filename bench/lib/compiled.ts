// The group entries run what users run: the package's compiled JavaScript (`npm run build`,
// dist/), not the TypeScript sources through tsx's loader, whose module hooks and source maps
// cost a member process CPU on the hot path and distort a profile. Their child scripts are
// compiled once per bench run (bench/tsconfig.children.json, into bench/.build/) and import
// `troupe/group` by the package's own name, which Node resolves to dist/ through `exports`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = process.cwd();
/** Set to run the children from source through tsx (while editing the runtime without rebuilding). */
export const SOURCE_ENV = 'TROUPE_BENCH_SOURCE';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

let compiled = false;

/**
 * The script to start for the child `bench/children/<name>.ts`: its compiled `.js` (compiling
 * the children on first use), or the `.ts` itself when {@link SOURCE_ENV} is `1`. Throws when
 * dist/ is missing or older than runtime/, so a run never measures stale code.
 */
export function childScript(name: string): string {
  if (process.env[SOURCE_ENV] === '1') return `bench/children/${name}.ts`;
  const dist = path.join(ROOT, 'dist/entry/group.js');
  if (!existsSync(dist))
    throw new Error(
      `bench: no ${dist}; run \`npm run build\` first (or set ${SOURCE_ENV}=1 to run from source)`,
    );
  if (statSync(dist).mtimeMs < newestMtime(path.join(ROOT, 'runtime')))
    throw new Error(`bench: dist/ is older than runtime/; run \`npm run build\` (or set ${SOURCE_ENV}=1)`);
  if (!compiled) {
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
    const r = spawnSync(tsc, ['-p', 'bench/tsconfig.children.json'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench: compiling bench/children failed:\n${r.stdout}${r.stderr}`);
    compiled = true;
  }
  return `bench/.build/${name}.js`;
}
