// A join that cannot succeed says why, over real UDP on loopback (issue 12, "Errors a user can
// act on"): nothing at the seeds, a member of another group, a member with another key (or one
// side without a key), and too few seeds up to found the group are four different typed errors,
// each naming what it saw; the refusals come within a second, not at `joinTimeoutMs`.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import {
  ForeignGroupError,
  JoinError,
  JoinTimeoutError,
  KeyMismatchError,
  NoAnswerError,
} from '../../runtime/errors.js';
import { type Group, type JoinOptions, joinGroup } from '../../runtime/group/group.js';
import { joinReplica } from '../../runtime/rpc/join.js';
import type { Transport } from '../../runtime/transport/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { authKeyId } from '../../runtime/wire/auth.js';
import { groupIdOf } from '../../runtime/wire/packet.js';

const KEY = 'the group key of the join test!!';
const OTHER = 'another key, not the join test!!';
const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
/** Transports given to joins that failed: a failed join leaves a transport it was given open. */
let transports: Transport[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(300).catch(() => {})));
  await Promise.all(transports.map((t) => t.close()));
  groups = [];
  transports = [];
});

async function transport(): Promise<Transport> {
  const t = await udp({ host: '127.0.0.1' });
  transports.push(t);
  return t;
}

/** A group of one (itself its only seed), founded. */
async function alone(name: string, security: { key: string } | { insecure: true }): Promise<Group> {
  const transport = await udp({ host: '127.0.0.1' });
  const g = await joinGroup(name, { seeds: [transport.address], transport, layers: FAST, ...security });
  groups.push(g);
  return g;
}

/** Join and return what it rejected with, and after how long. */
async function failure(name: string, opts: JoinOptions): Promise<{ error: unknown; ms: number }> {
  const t0 = performance.now();
  const error = await joinGroup(name, { layers: FAST, ...opts }).then(
    (g) => {
      groups.push(g);
      return undefined;
    },
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - t0 };
}

/** Addresses where nothing listens (bound, then closed). */
async function deadAddresses(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    out.push(`127.0.0.1:${s.address().port}`);
    await new Promise<void>((r) => s.close(() => r()));
  }
  return out;
}

describe('join errors a user can act on, over real UDP', () => {
  it('a member of another group answers: ForeignGroupError naming it, within a second', async () => {
    const alpha = await alone('alpha', { insecure: true });
    // Two more seeds, down: founding needs two of the three (a joiner may found alone at one seed).
    const { error, ms } = await failure('beta', {
      seeds: [alpha.address, ...(await deadAddresses(2))],
      insecure: true,
      joinTimeoutMs: 10_000,
    });
    expect(error).toBeInstanceOf(ForeignGroupError);
    const e = error as ForeignGroupError;
    expect(e.code).toBe('JOIN_FOREIGN_GROUP');
    expect(e).toMatchObject({ address: alpha.address, groupId: groupIdOf('alpha'), groupName: 'alpha' });
    expect(e.message).toContain(alpha.address);
    expect(e.message).toContain("'alpha'");
    expect(ms).toBeLessThan(5_000);
    expect(alpha.view?.members).toEqual([alpha.self]);
  });

  it('a member with another key, or with one while the joiner has none, and back: KeyMismatchError', async () => {
    const keyed = await alone('kg', { key: KEY });
    const dead = await deadAddresses(2);
    const wrong = await failure('kg', { seeds: [keyed.address, ...dead], key: OTHER, joinTimeoutMs: 10_000 });
    expect(wrong.error).toBeInstanceOf(KeyMismatchError);
    expect(wrong.error).toMatchObject({
      code: 'JOIN_KEY_MISMATCH',
      address: keyed.address,
      theirs: authKeyId(KEY),
      ours: authKeyId(OTHER),
    });
    expect((wrong.error as Error).message).toContain(authKeyId(KEY));
    expect(wrong.ms).toBeLessThan(5_000);

    const keyless = await failure('kg', {
      seeds: [keyed.address, ...dead],
      insecure: true,
      joinTimeoutMs: 10_000,
    });
    expect(keyless.error).toBeInstanceOf(KeyMismatchError);
    expect(keyless.error).toMatchObject({ theirs: authKeyId(KEY), ours: '' });
    expect((keyless.error as Error).message).toContain('requires a key');

    const open = await alone('og', { insecure: true });
    const signed = await failure('og', { seeds: [open.address, ...dead], key: KEY, joinTimeoutMs: 10_000 });
    expect(signed.error).toBeInstanceOf(KeyMismatchError);
    expect(signed.error).toMatchObject({ theirs: '', ours: authKeyId(KEY) });
    expect((signed.error as Error).message).toContain('has no key');
    expect(keyed.view?.members).toEqual([keyed.self]);
    expect(open.view?.members).toEqual([open.self]);
  });

  it('two seeds starting together with different keys: each names the other, not a timeout', async () => {
    const [a, b] = await Promise.all([transport(), transport()]);
    const seeds = [a.address, b.address];
    const [ea, eb] = await Promise.all(
      [
        { transport: a, key: KEY },
        { transport: b, key: OTHER },
      ].map((o) => failure('pair', { seeds, ...o, joinTimeoutMs: 10_000 })),
    );
    expect(ea!.error).toBeInstanceOf(KeyMismatchError);
    expect(ea!.error).toMatchObject({ address: b.address, theirs: authKeyId(OTHER), ours: authKeyId(KEY) });
    expect(eb!.error).toMatchObject({ address: a.address, theirs: authKeyId(KEY), ours: authKeyId(OTHER) });
    expect(Math.max(ea!.ms, eb!.ms)).toBeLessThan(5_000);
  });

  it('nothing listens at the seeds: NoAnswerError naming them', async () => {
    const seeds = await deadAddresses(2);
    const t = await transport();
    const { error } = await failure('nobody', {
      seeds: [t.address, ...seeds],
      transport: t,
      insecure: true,
      joinTimeoutMs: 1_500,
    });
    expect(error).toBeInstanceOf(NoAnswerError);
    expect(error).toMatchObject({ code: 'JOIN_NO_ANSWER', seeds: [t.address, ...seeds] });
    for (const s of seeds) expect((error as Error).message).toContain(s);
  });

  it('too few seeds up to found the group: JoinTimeoutError says who answered and what founding needs', async () => {
    const [a, b] = await Promise.all([transport(), transport()]);
    const seeds = [a.address, b.address, ...(await deadAddresses(3))];
    const [ea, eb] = await Promise.all(
      [a, b].map((transport) =>
        failure('few', { seeds, transport, insecure: true, joinTimeoutMs: 1_500 }).then((r) => r.error),
      ),
    );
    for (const [e, other] of [
      [ea, b.address],
      [eb, a.address],
    ] as const) {
      expect(e).toBeInstanceOf(JoinTimeoutError);
      expect(e).toMatchObject({ code: 'JOIN_TIMEOUT', answered: [other] });
      expect((e as Error).message).toContain('2 of 5 seeds up, founding needs 3');
    }
  });

  it('joinReplica rejects with the typed error (no unhandled rejection)', async () => {
    const alpha = await alone('alpha', { insecure: true });
    const error = await joinReplica(new Bank(), 'bank', {
      seeds: [alpha.address, ...(await deadAddresses(2))],
      insecure: true,
      layers: FAST,
      joinTimeoutMs: 10_000,
      validate: validateBankRequest,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JoinError);
    expect(error).toBeInstanceOf(ForeignGroupError);
  });
});
