// joinReplica takes the group's options and the replica's; one it does not know (plain
// JavaScript, a misspelling) is refused before any socket opens, naming the near one, as
// connect and joinGroup do. Before, `validat` was ignored until "a replica needs the generated
// request validator", and `recast: 100` silently kept the 5 s default.
import { expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { RpcConfigError } from '../../runtime/rpc/errors.js';
import { joinReplica } from '../../runtime/rpc/join.js';

const refused = async (opts: Record<string, unknown>): Promise<RpcConfigError> => {
  const e = await joinReplica(new Bank(), 'bank', {
    seeds: ['127.0.0.1:1'],
    insecure: true,
    validate: validateBankRequest,
    ...opts,
  } as never).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(RpcConfigError);
  return e as RpcConfigError;
};

it('refuses an option neither the group nor the replica takes, naming the near one', async () => {
  expect((await refused({ recast: 100 })).message).toMatch(
    /joinReplica: unknown option 'recast' \(did you mean 'recastMs'\?\)/,
  );
  expect((await refused({ transprot: {} })).message).toMatch(
    /joinReplica: unknown option 'transprot'; it takes/,
  );
  // The group's own `state` and `on` are the replica's to set: not options of joinReplica's.
  expect((await refused({ on: {} })).message).toMatch(/unknown option 'on'/);
});
