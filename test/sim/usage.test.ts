// The simulator's command lines answer a wrong flag or value with one line and exit 2, not a
// stack trace; `--help` lists the options and exits 0.
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

const tsx = (script: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', `test/sim/${script}`, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });

it.each([
  ['cli.ts', ['--bogus'], "Unknown option '--bogus'"],
  ['cli.ts', ['--faults', 'loss,nope'], "unknown fault 'nope'"],
  ['cli.ts', ['--seeds', 'x'], "expected N or A..B, got 'x'"],
  ['cli.ts', ['--rejoin', 'later'], "--rejoin: expected new, same or damped, got 'later'"],
  [
    'cli.ts',
    ['--stack', 'seq:gms:nak:com', '--timings', 'library'],
    '--timings library: the default group stack only',
  ],
  ['cli.ts', ['--rpc', '--stack', 'nak:pack:com'], '--stack: RPC mode needs a stack with gms'],
  ['cli.ts', ['--stack', 'fc:frag:stable:nak:pack:com'], "--stack: layer 'fc' requires 'total' below it"],
  ['cli.ts', ['--stack', 'foo:com'], "--stack: unknown layer 'foo'"],
  ['cli.ts', ['--stack', 'gms:nak:com'], '--stack: a stack with gms needs seq or total'],
  ['long.ts', ['--modes', 'nope'], "unknown mode 'nope'"],
  ['long.ts', ['--offset', 'x'], "--offset must be a count, got 'x'"],
])('%s %j: one line, exit 2', (script, args, message) => {
  const r = tsx(script, args);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain(message);
  expect(r.stderr).toContain('--help lists the options');
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

it.each(['cli.ts', 'long.ts'])('%s --help lists the options and exits 0', (script) => {
  const r = tsx(script, ['--help']);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('--seeds');
});
