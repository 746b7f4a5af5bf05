// A replica refuses a group whose key is not its own: a replica that signed client packets with
// another key than the group's would serve no client and say nothing.
import { describe, expect, it } from 'vitest';
import { Replica, RpcConfigError } from '../../runtime/rpc/index.js';
import { authKeyId } from '../../runtime/wire/auth.js';
import { Ledger, validateLedger } from './support/cluster.js';
import { FakeGroup, FakeNet } from './support/fake-group.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

/** A group handle that authenticates with `key` (as Group reports it). */
function keyedMember(key: string | undefined) {
  const m = new FakeGroup(new FakeNet(), 'ledger').join();
  return Object.assign(m, { authenticated: key !== undefined, keyId: key && authKeyId(key) });
}

describe('replica and group keys', () => {
  it('attaches when both have the same key, or neither has one', () => {
    expect(() =>
      new Replica(new Ledger(), { validate: validateLedger, key: A }).attach(keyedMember(A)),
    ).not.toThrow();
    expect(() =>
      new Replica(new Ledger(), { validate: validateLedger }).attach(keyedMember(undefined)),
    ).not.toThrow();
  });

  it('refuses another key, a missing key, and a key the group does not have', () => {
    expect(() =>
      new Replica(new Ledger(), { validate: validateLedger, key: B }).attach(keyedMember(A)),
    ).toThrow(/not the group's/);
    expect(() => new Replica(new Ledger(), { validate: validateLedger }).attach(keyedMember(A))).toThrow(
      RpcConfigError,
    );
    expect(() =>
      new Replica(new Ledger(), { validate: validateLedger, key: A }).attach(keyedMember(undefined)),
    ).toThrow(/the group does not/);
  });

  it('names keys without revealing them', () => {
    expect(authKeyId(A)).toMatch(/^[0-9a-f]{16}$/);
    expect(authKeyId(A)).not.toBe(authKeyId(B));
    expect(authKeyId(A)).toBe(authKeyId(new TextEncoder().encode(A)));
  });
});
