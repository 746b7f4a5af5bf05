#!/usr/bin/env node
/**
 * The `troupe` command. Dispatches on the first word and loads only what that command needs:
 * `--help` and `--version` load nothing, `serve`, `keygen`, `trace`, `status` and `dist` load
 * the runtime, and only `gen`
 * and `idl` load the code generator (and with it ts-morph and its TypeScript compiler).
 */
const argv = process.argv.slice(2);
const cmd = argv[0];

// `troupe status | head -3`: the reader closed the pipe, which is an end, not an error (Node
// raised it as an unhandled 'error' event, with a stack trace). Not for `serve`: a replica whose
// event reader went away (`troupe serve --json | shipper`, the shipper restarting) exited 0 at
// its next line, without leaving the group, as if stopped on purpose (helper-119's review). It
// keeps serving, says so once on stderr, and writes no more events.
let stdoutGone = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (cmd === 'serve' && (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED')) {
    if (!stdoutGone)
      process.stderr.write('troupe: stdout was closed (EPIPE); events are no longer printed\n');
    stdoutGone = true;
    return;
  }
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

if (cmd === 'serve' || cmd === 'keygen') {
  const { launcherMain } = await import('../runtime/launch/cli.js');
  process.exitCode = await launcherMain(argv);
} else if (cmd === 'trace' || cmd === 'status') {
  const { OBSERVE_COMMANDS } = await import('../runtime/observe/cli.js');
  process.exitCode = await OBSERVE_COMMANDS[cmd]!(argv.slice(1));
} else if (cmd === 'dist') {
  const { distMain } = await import('../runtime/distrib/main.js');
  process.exitCode = await distMain(argv.slice(1));
} else if (cmd === 'gen' || cmd === 'idl') {
  const { main } = await import('../codegen/cli.js');
  process.exitCode = main(argv);
} else {
  const { HELP } = await import('../codegen/help.js');
  const { GENERATOR_VERSION } = await import('../codegen/version.js');
  if (cmd === '--version' || cmd === 'version') console.log(GENERATOR_VERSION);
  else if (cmd === undefined || cmd === '--help' || cmd === 'help') {
    console.log(HELP);
    // Bare `troupe` is a usage error (exit 2), asking for help is not.
    if (cmd === undefined) process.exitCode = 2;
  } else {
    console.error(`troupe: error: unknown command '${cmd}' (see troupe --help)`);
    process.exitCode = 2;
  }
}
