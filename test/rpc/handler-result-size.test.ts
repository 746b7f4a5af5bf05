// A handler's result the group cannot carry (over `maxMessage`) still ends its call. The holder
// cast its completion (`done`) with the result; the cast threw MESSAGE_TOO_LARGE inside the
// handler chain, so no `done` was ordered and the call stayed `pending` at every replica for
// ever: the caller timed out, outcome() never settled, reissue() timed out too (session 19's
// review of handler locks). Now the completion carries MESSAGE_TOO_LARGE as the call's error.
// Three real members over UDP on 127.0.0.1.
import { afterEach, expect, it } from 'vitest';
import type { IdlFile, MethodDecl } from '../../idl/model.js';
import { createValidator } from '../../idl/validate.js';
import type { Group } from '../../runtime/group/group.js';
import { connect, type TroupeClient } from '../../runtime/rpc/client.js';
import { Handler, Service } from '../../runtime/rpc/decorators.js';
import { joinReplica } from '../../runtime/rpc/join.js';
import type { Replica } from '../../runtime/rpc/replica.js';
import { freePorts } from '../../testkit/ports.js';
import { TEST_SECURITY } from '../support/key.js';

@Service('big')
class Big {
  @Handler('h')
  blob(n: number): string {
    return 'y'.repeat(n);
  }
}

const method: MethodDecl = {
  name: 'blob',
  kind: 'handler',
  params: [{ name: 'n', type: { kind: 'prim', name: 'f64' }, optional: false }],
  returns: { kind: 'prim', name: 'string' },
  throws: [],
  options: { reply: 'first' },
  lock: 'h',
};
const model: IdlFile = {
  package: 'big',
  version: 1,
  types: [],
  errors: [],
  services: [{ name: 'big', methods: [method] }],
};
const validate = createValidator(model, 'big');

let members: { replica: Replica<Big>; group: Group }[] = [];
let client: TroupeClient | undefined;
afterEach(async () => {
  await client?.close();
  await Promise.all(members.map((m) => m.group.leave(200).catch(() => {})));
  members = [];
  client = undefined;
});

it('a handler result over maxMessage ends the call with MESSAGE_TOO_LARGE at every replica', async () => {
  const ports = await freePorts(3);
  const seeds = ports.map((p) => `127.0.0.1:${p}`);
  const { udp } = await import('../../runtime/transport/udp.js');
  members = await Promise.all(
    ports.map(async (port) =>
      joinReplica(new Big(), 'big', {
        ...TEST_SECURITY,
        seeds,
        validate,
        maxMessage: 16_384,
        transport: await udp({ host: '127.0.0.1', port }),
      }),
    ),
  );
  client = await connect({ group: 'big', seeds, ...TEST_SECURITY, timeoutMs: 5_000 });
  expect(await client.invoke('big', 'blob', [100])).toBe('y'.repeat(100));
  const requestId = client.newRequestId();
  await expect(client.invoke('big', 'blob', [20_000], { requestId })).rejects.toMatchObject({
    code: 'MESSAGE_TOO_LARGE',
  });
  for (const m of members) expect(m.replica.outcome(requestId).status).toBe('committed');
  expect(members.map((m) => m.replica.stats().internalErrors)).toEqual([0, 0, 0]);
});
