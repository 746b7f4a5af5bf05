import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `troupe` and `troupe/<entry>` resolve to the sources, as tsconfig.json's `paths` do for tsc and tsx.
const entry = (name: string) => fileURLToPath(new URL(`./entry/${name}.ts`, import.meta.url));
const alias = [
  { find: /^troupe$/, replacement: entry('troupe') },
  { find: /^troupe\/(client|group|idl|codegen|testkit)$/, replacement: entry('$1') },
];

// Files that run alone, after the rest: they measure rates, memory or a wall-clock bound against
// the same run's own baseline (a neighbour's load would move one side), drive a browser, bind
// fixed ports or IP multicast groups, or build network namespaces.
const ALONE = [
  'test/netns/**/*.test.ts',
  'test/wire/blast-*.test.ts',
  'test/observe/page*.test.ts',
  'test/observe/stuck-apply.test.ts',
  'test/observe/cli.test.ts',
  'test/observe/check-query.test.ts',
  'test/bulk/dist-memory.test.ts',
  'test/bulk/sender-hostile.test.ts',
  'test/group/state-receiver.test.ts',
  'test/rpc/slow-member.test.ts',
  'test/transport/udp.test.ts',
  'test/launch/receive-flag.test.ts',
  'test/launch/launch.test.ts',
  'test/group/review7.test.ts',
  'test/group/join-watch.test.ts',
  // A client that takes 150 ms of silence for a failed contact (QUICK_DETECTION), and a test of
  // event-loop turns: both failed once under a neighbour's load (three workers, load 13).
  'test/rpc/clock-step.test.ts',
  'test/rpc/stale-outcome.test.ts',
  'test/rpc/issues.test.ts',
  'test/rpc/outcome-sessions-handler.test.ts',
  'test/rpc/outcome-sessions.test.ts',
  'test/rpc/client.test.ts',
  'test/rpc/client-trust.test.ts',
  'test/group/cast-turns.test.ts',
];

// The shared files run in as many workers as CPUs, at most 4: two on this project's 2-CPU
// machines, where most shared files wait on timers and sockets rather than compute (the suite
// took 640 s with one worker and 437 s with two, quiet machine, every test passing). What failed
// beside a neighbour at load 10-13 is in ALONE (the rate floor, the 150 ms contact timeout) or has
// a timeout for its CPU (codegen's cli test), and so is anything measured against its own baseline.
const SHARED_WORKERS = Math.max(1, Math.min(4, availableParallelism()));

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Each project takes the settings above (`extends: true`); the shared files first, then the
    // others one at a time.
    projects: [
      {
        extends: true,
        test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: ALONE, maxWorkers: SHARED_WORKERS },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
