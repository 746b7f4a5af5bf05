/**
 * The group key the tests use (troupe is secure by default: `joinGroup`, `joinReplica` and
 * `connect` need a key or `insecure: true`). Tests of the keyless path pass `insecure: true`
 * themselves.
 */
export const TEST_KEY = 'troupe test key: 32+ bytes of not-so-secret';

/** Spread into `joinGroup`/`joinReplica`/`connect` options. */
export const TEST_SECURITY = { key: TEST_KEY } as const;
