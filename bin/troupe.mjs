#!/usr/bin/env node
// Launcher for the `troupe` CLI: troupe ships TypeScript sources, so register tsx's loader
// in-process and run codegen/cli.ts. Exit codes are documented in docs/idl.md.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../codegen/cli.ts');
process.exitCode = main(process.argv.slice(2));
