import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `troupe` and `troupe/<entry>` resolve to the sources, as tsconfig.json's `paths` do for tsc and tsx.
const entry = (name: string) => fileURLToPath(new URL(`./entry/${name}.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^troupe$/, replacement: entry('troupe') },
      { find: /^troupe\/(client|group|idl|codegen|testkit)$/, replacement: entry('$1') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
