// Runs the live tests that still fail on an open finding (not in `npm test`):
//   npx vitest run --config test/wire/vitest.open.config.ts
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    root: fileURLToPath(new URL('../..', import.meta.url)),
    test: { include: ['test/wire/*.open.ts'] },
  }),
);
