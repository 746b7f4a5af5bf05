/**
 * Formats generated TypeScript with the project's own Biome, so committed output passes
 * `biome check` as written. Without Biome installed, output is left as emitted (still valid).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';

let biomeBin: string | null | undefined;

function findBiome(cwd: string): string | null {
  if (biomeBin !== undefined) return biomeBin;
  for (const base of [path.join(cwd, 'package.json'), import.meta.filename]) {
    try {
      biomeBin = createRequire(base).resolve('@biomejs/biome/bin/biome');
      return biomeBin;
    } catch {
      // Not installed next to this base; try the next one.
    }
  }
  biomeBin = null;
  return null;
}

/** Returns `source` formatted as the file `fileName` would be by `biome format` run in `cwd`. */
export function formatTs(source: string, fileName: string, cwd: string): string {
  const bin = findBiome(cwd);
  if (!bin) return source;
  // Only the base name: the real output path may sit in a folder biome.json ignores (e.g.
  // golden files), and biome echoes ignored files unformatted.
  const r = spawnSync(process.execPath, [bin, 'format', `--stdin-file-path=${path.basename(fileName)}`], {
    input: source,
    cwd,
    encoding: 'utf8',
  });
  // A formatter failure must not lose output: keep the unformatted (valid) text.
  return r.status === 0 && r.stdout ? r.stdout : source;
}
