/**
 * A group of replicas of one service in this process, over UDP on 127.0.0.1 with fast failure
 * detection and the test key (or none), and a client connected to it: the set-up of the codegen
 * tests that carry generated types through real replicas, and of the keyless-client tests.
 */
import type { RequestValidator } from '../../idl/validate.js';
import type { Group } from '../../runtime/group/group.js';
import { connect, joinReplica, type Replica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import type { SecurityOptions } from '../../runtime/wire/auth.js';
import { TEST_SECURITY } from './key.js';
import { until } from './until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

export interface UdpReplicas {
  groups: Group[];
  /** The replicas, in the order of `seeds`. */
  replicas: Replica<object>[];
  /** The members' addresses (each seeds the others). */
  seeds: string[];
  client: TroupeClient;
  /** Closes the client and makes every replica leave. */
  close(): Promise<void>;
}

/**
 * `members` replicas of `make()` in group `name`, once they share a view, and a client; under
 * the test key unless `security` says otherwise (`{ insecure: true }`: a keyless group).
 *
 * @example
 * ```ts
 * const g = await udpReplicas(() => new Shapes(), 'shapes', validateShapesRequest);
 * const shapes = ShapesClient.connect(g.client);
 * await g.close();
 * ```
 */
export async function udpReplicas(
  make: () => object,
  name: string,
  validate: RequestValidator,
  members = 3,
  security: SecurityOptions = TEST_SECURITY,
): Promise<UdpReplicas> {
  const ts = await Promise.all(Array.from({ length: members }, () => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  const made = await Promise.all(
    ts.map((transport) =>
      joinReplica(make(), name, { seeds, transport, layers: FAST, validate, ...security }),
    ),
  );
  const groups = made.map((m) => m.group);
  const close = async (client?: TroupeClient): Promise<void> => {
    await client?.close();
    await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  };
  try {
    await until(
      () => groups.every((g) => g.view?.members.length === members),
      5_000,
      `a ${members}-member view`,
    );
    const client = await connect({ group: name, seeds, ...security });
    return { groups, replicas: made.map((m) => m.replica), seeds, client, close: () => close(client) };
  } catch (e) {
    await close();
    throw e;
  }
}
