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

// The shared files keep vitest's default of one worker fewer than the CPUs (one, on this
// project's 2-CPU machines). Two workers there cut the suite from ~660 to ~520 s at load 5, but at
// load 10-13 (other work on the machine) they made it slower (963 s) and timing-bound tests
// failed (a 60 s timeout, a rate floor, a 150 ms contact timeout): CI must not flake.

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
        test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: ALONE },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
