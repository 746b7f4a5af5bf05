// Runs the live tests that still fail on an open finding (not in `npm test`):
//   npx vitest run --config test/wire/vitest.open.config.ts
import { fileURLToPath } from 'node:url';
import base from '../../vitest.config.js';

export default {
  ...base,
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: { ...base.test, include: ['test/wire/*.open.ts'] },
};
