/** Runnable entry for `troupe dist` (tsx runtime/distrib/cli.ts ...); bin/troupe routes `dist` here. */
import { distMain } from './main.js';

process.exitCode = await distMain(process.argv.slice(2));
