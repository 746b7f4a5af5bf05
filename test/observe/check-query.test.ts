// The `check` query over the wire: any host can send it to a keyless group (any key holder to a
// keyed one), and every check costs every replica a digest of its whole state. Unspaced, a burst
// of 30 such datagrams from outside a keyless bank group of 300,000 accounts blocked all three
// replicas for over 15 s (no deposit completed); session 25's hostile-input review.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { Group } from '../../runtime/group/group.js';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer } from '../../runtime/observe/observer.js';
import { queryGroup } from '../../runtime/observe/query.js';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { joinReplica, type Replica } from '../../runtime/rpc/index.js';
import { encodeClientPacket, readClientPacket } from '../../runtime/rpc/protocol.js';
import { udp } from '../../runtime/transport/udp.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { helloCookie } from '../support/cookie.js';
import { until } from '../support/until.js';
import { Dice, validateDice } from './fixtures/dice.js';
import { FAST } from './support.js';

let members: { group: Group; replica: Replica<Dice>; observer: Observer }[] = [];
afterEach(async () => {
  await Promise.all(members.map((m) => m.group.leave(500).catch(() => {})));
  for (const m of members) m.observer.close();
  members = [];
});

/** Three observed dice replicas without a key over UDP on 127.0.0.1; their seed addresses. */
async function keylessDice(): Promise<string[]> {
  const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  members = await Promise.all(
    ts.map(async (transport) => {
      const observer = new Observer({
        logger: createLogger({ level: 'silent' }),
        divergence: { checkEvery: 0 },
      });
      const { group, replica } = await joinReplica(new Dice(), 'dice', {
        insecure: true,
        seeds,
        transport,
        layers: FAST,
        validate: validateDice,
        observe: observer,
      });
      return { group, replica, observer };
    }),
  );
  await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
  return seeds;
}

const query = (id: string, method: string, cookie?: Uint8Array) =>
  encodeClientPacket(
    { kind: 'call', id, service: '$troupe', method, args: encodeValue([]), mode: 'first' },
    groupIdOf('dice'),
    { node: 0x1234, inc: 0 },
    undefined,
    undefined,
    cookie && { cookie },
  );

describe('observability queries from outside the group', () => {
  it('a burst of check queries from outside the group costs each replica one digest, not one each', async () => {
    const seeds = await keylessDice();
    const digests = members.map(() => 0);
    members.forEach((m, i) => {
      const digest = m.replica.digest.bind(m.replica);
      m.replica.digest = () => {
        digests[i]!++;
        return digest();
      };
    });
    const raw = createSocket('udp4');
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
    const answers: unknown[] = [];
    const drops = { malformed: 0, foreign: 0, unauthenticated: 0, replayed: 0 };
    raw.on('message', (b) => {
      const p = readClientPacket(new Uint8Array(b), groupIdOf('dice'), undefined, drops)?.packet;
      if (p?.kind === 'reply' && p.result.ok) answers.push(decodeValue(p.result.value));
    });
    try {
      const cookies = [await helloCookie(raw, 'dice', seeds[0]!), await helloCookie(raw, 'dice', seeds[1]!)];
      // 20 queries to each of two members, in one burst, from a host outside the group.
      for (let i = 1; i <= 40; i++) {
        const to = seeds[i % 2]!;
        raw.send(query(`x:${i}`, 'check', cookies[i % 2]), Number(to.split(':')[1]), '127.0.0.1');
      }
      await until(() => answers.length === 40, 5_000, 'every query answered');
      // Each answer names a check (the one started, or the recent one that covers it).
      expect(answers.every((a) => typeof a === 'string' && a.startsWith('chk-'))).toBe(true);
      await until(() => digests.every((n) => n >= 1), 5_000, 'the check applied');
      await new Promise((r) => setTimeout(r, 500));
      // At most one check per asked member (the two may start theirs before either is applied).
      expect(Math.max(...digests)).toBeLessThanOrEqual(2);
      expect(new Set(digests).size).toBe(1);
    } finally {
      raw.close();
    }
  }, 20_000);

  it('a member answers at most 20 a second: a status query is no reflector', async () => {
    // Without a key the source address of a query can be forged, and a 60-byte `status` query
    // drew a 2.2 KB answer (more as the member's history grows), as many as were asked.
    const seeds = await keylessDice();
    const raw = createSocket('udp4');
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
    let sent = 0;
    let got = 0;
    try {
      // From an address that proved itself (its packets carry the member's cookie): at most 20
      // answers a second. Before: 200 answers, ~37 times the bytes sent.
      const cookie = await helloCookie(raw, 'dice', seeds[0]!);
      raw.on('message', (b) => {
        got += b.length;
      });
      for (let i = 1; i <= 200; i++) {
        const p = query(`x:${i}`, 'status', cookie);
        sent += p.length;
        raw.send(p, Number(seeds[0]!.split(':')[1]), '127.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 800));
      expect(got).toBeLessThan(sent * 10);
      expect(members[0]!.replica.stats().observeLimited).toBeGreaterThanOrEqual(170);
      // From any other (forged) source, without the cookie: no answer, a notice smaller than each query.
      got = 0;
      sent = 0;
      for (let i = 201; i <= 400; i++) {
        const p = query(`x:${i}`, 'status');
        sent += p.length;
        raw.send(p, Number(seeds[0]!.split(':')[1]), '127.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 800));
      expect(got).toBeGreaterThan(0);
      expect(got).toBeLessThan(sent);
      expect(members[0]!.replica.stats().cookieNotices).toBe(200);
    } finally {
      raw.close();
    }
    // A second later the member answers again (the tools resend an unanswered query).
    await new Promise((r) => setTimeout(r, 1_000));
    const answers = await queryGroup({ group: 'dice', seeds }, 'status', []);
    expect(answers.every((a) => a.value !== undefined)).toBe(true);
  }, 20_000);
});
