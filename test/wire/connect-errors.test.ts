// A client that cannot connect says why, over real UDP on loopback (issue 12, "Errors a user can
// act on"): nothing at the seeds (NoContactError after connectTimeoutMs), a replica of another
// group (ForeignGroupError) and a replica with another key, or one side without a key
// (KeyMismatchError) are different typed errors; the refusals come within a second. A refusal
// forged from a seed's address does not fail a keyed client that a real replica answers.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { ForeignGroupError, KeyMismatchError } from '../../runtime/errors.js';
import type { Group } from '../../runtime/group/group.js';
import { type ConnectOptions, connect, type TroupeClient } from '../../runtime/rpc/client.js';
import { NoContactError } from '../../runtime/rpc/errors.js';
import { joinReplica } from '../../runtime/rpc/join.js';
import { udp } from '../../runtime/transport/udp.js';
import { authKeyId } from '../../runtime/wire/auth.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { encodeRefusal } from '../../runtime/wire/refusal.js';

const KEY = 'the group key of the connect test';
const OTHER = 'another key, not the connect test';
const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
let clients: TroupeClient[] = [];
let sockets: Socket[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(300).catch(() => {})));
  for (const s of sockets) s.close();
  groups = [];
  clients = [];
  sockets = [];
});

/** One bank replica, founded alone at its own address. */
async function replica(security: { key: string } | { insecure: true }): Promise<string> {
  const transport = await udp({ host: '127.0.0.1' });
  const { group } = await joinReplica(new Bank(), 'bank', {
    seeds: [transport.address],
    transport,
    layers: FAST,
    validate: validateBankRequest,
    ...security,
  });
  groups.push(group);
  return transport.address;
}

async function attempt(opts: ConnectOptions): Promise<{ error: unknown; ms: number }> {
  const t0 = performance.now();
  const error = await connect(opts).then(
    (c) => {
      clients.push(c);
      return undefined;
    },
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - t0 };
}

describe('connect errors a user can act on, over real UDP', () => {
  it('a replica of another group answers: ForeignGroupError naming it, within a second', async () => {
    const seed = await replica({ insecure: true });
    const { error, ms } = await attempt({
      group: 'shop',
      seeds: [seed],
      insecure: true,
      connectTimeoutMs: 5_000,
    });
    expect(error).toBeInstanceOf(ForeignGroupError);
    expect(error).toMatchObject({ code: 'JOIN_FOREIGN_GROUP', address: seed, groupId: groupIdOf('bank') });
    expect((error as Error).message).toContain("'bank'");
    expect(ms).toBeLessThan(1_500);
  });

  it('a replica with another key answers: KeyMismatchError naming both key ids, within a second', async () => {
    const seed = await replica({ key: KEY });
    const { error, ms } = await attempt({
      group: 'bank',
      seeds: [seed],
      key: OTHER,
      connectTimeoutMs: 5_000,
    });
    expect(error).toBeInstanceOf(KeyMismatchError);
    expect(error).toMatchObject({
      code: 'JOIN_KEY_MISMATCH',
      theirs: authKeyId(KEY),
      ours: authKeyId(OTHER),
    });
    expect(ms).toBeLessThan(1_500);
  });

  it('a keyed replica and a client without a key: KeyMismatchError saying a key is required', async () => {
    const seed = await replica({ key: KEY });
    const { error, ms } = await attempt({
      group: 'bank',
      seeds: [seed],
      insecure: true,
      connectTimeoutMs: 5_000,
    });
    expect(error).toBeInstanceOf(KeyMismatchError);
    expect((error as Error).message).toContain('requires a key');
    expect(ms).toBeLessThan(1_500);
  });

  it('a replica without a key and a keyed client: KeyMismatchError saying the replica has none', async () => {
    const seed = await replica({ insecure: true });
    const { error, ms } = await attempt({ group: 'bank', seeds: [seed], key: KEY, connectTimeoutMs: 5_000 });
    expect(error).toBeInstanceOf(KeyMismatchError);
    expect((error as Error).message).toContain('has no key');
    expect(ms).toBeLessThan(1_500);
  });

  it('nothing at the seeds: NoContactError after connectTimeoutMs', async () => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const dead = `127.0.0.1:${s.address().port}`;
    await new Promise<void>((r) => s.close(() => r()));
    const { error, ms } = await attempt({
      group: 'bank',
      seeds: [dead],
      insecure: true,
      connectTimeoutMs: 800,
    });
    expect(error).toBeInstanceOf(NoContactError);
    expect(ms).toBeGreaterThanOrEqual(750);
  });

  it('a refusal forged from another seed does not fail a keyed client that a replica answers', async () => {
    const seed = await replica({ key: KEY });
    // A second "seed" that answers every packet with a refusal notice, as a forger would.
    const forger = createSocket('udp4');
    sockets.push(forger);
    await new Promise<void>((r) => forger.bind(0, '127.0.0.1', r));
    const notice = encodeRefusal(groupIdOf('bank'), { node: 7, inc: 1 }, 'key', 'deadbeefdeadbeef', '');
    forger.on('message', (_m, rinfo) => forger.send(notice, rinfo.port, rinfo.address));
    const forged = `127.0.0.1:${forger.address().port}`;
    const { error } = await attempt({
      group: 'bank',
      seeds: [forged, seed],
      key: KEY,
      connectTimeoutMs: 5_000,
    });
    expect(error).toBeUndefined();
    const bank = clients[0]!;
    expect(await bank.invoke('bank', 'deposit', ['a', 5])).toBe(5);
  });
});
