// A `status` or `trace` answer that is not of its shape (from a member of a buggy release, or
// from anyone able to answer from a member's address: without a key, a spoofed source) used to
// end `troupe status` with a bare `TypeError` (`stats` missing), a `RangeError` (a time no `Date`
// holds) or, with `--json`, a `TypeError` for a `bigint`: the operator saw none of the other
// members. Each such answer is now that member's error, `OBSERVE_MALFORMED_ANSWER`, naming the
// field; the other members are shown (FINDINGS 130).
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { readStatusAnswer } from '../../runtime/observe/answers.js';
import { statusCommand, traceCommand } from '../../runtime/observe/cli.js';
import { Observer } from '../../runtime/observe/observer.js';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { encodeClientPacket, readClientPacket } from '../../runtime/rpc/protocol.js';
import { memberId } from '../../runtime/stack/member.js';
import { groupIdOf } from '../../runtime/wire/packet.js';

const GROUP = 'ledger';
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/**
 * Fake members of a keyless group on real UDP sockets: each answers a `hello` with the view of
 * them all (echoing its nonce) and a `$troupe` call with `answers[i](method, args)`.
 */
async function fakeGroup(answers: ((method: string, args: unknown[]) => unknown)[]): Promise<string[]> {
  const groupId = groupIdOf(GROUP);
  const socks = await Promise.all(
    answers.map(async () => {
      const s = createSocket('udp4');
      sockets.push(s);
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      return s;
    }),
  );
  const addresses = socks.map((s) => `127.0.0.1:${s.address().port}`);
  const endpoints = socks.map((_, i) => ({ node: 0x5000 + i, inc: 1 }));
  const members = endpoints.map(memberId);
  socks.forEach((s, i) => {
    const me = endpoints[i]!;
    s.on('message', (bytes, rinfo) => {
      const drops = { malformed: 0, foreign: 0, unauthenticated: 0, replayed: 0 };
      const p = readClientPacket(new Uint8Array(bytes), groupId, undefined, drops)?.packet;
      const reply = (q: Parameters<typeof encodeClientPacket>[0]) =>
        s.send(encodeClientPacket(q, groupId, me), rinfo.port, rinfo.address);
      // A keyless view as a member of this release sends it: its cookie for the address and the
      // echo of the hello's nonce (the query takes no view without it).
      if (p?.kind === 'hello')
        reply({
          kind: 'view',
          member: members[i]!,
          viewId: 1,
          members,
          addresses,
          cookie: new Uint8Array(8).fill(1),
          ...(p.nonce !== undefined ? { echo: p.nonce } : {}),
        });
      else if (p?.kind === 'call') {
        const value = answers[i]!(p.method, decodeValue(p.args) as unknown[]);
        reply({
          kind: 'reply',
          id: p.id,
          member: members[i]!,
          viewId: 1,
          members,
          result: { ok: true, value: encodeValue(value) },
        });
      }
    });
  });
  return addresses;
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} } };
}

const good = () => new Observer().status();

describe('troupe status with a malformed answer', () => {
  const cases: [string, unknown][] = [
    ['stats missing (a bare TypeError before)', { ...good(), stats: undefined }],
    [
      'a view change at a time no Date holds (a RangeError before)',
      { ...good(), views: [{ at: 1e20, viewId: 1, members: [], joined: [], left: [], failed: [] }] },
    ],
    ['not an object at all', 'hello'],
    [
      'a flush time that is a string (a TypeError before)',
      {
        ...good(),
        views: [{ at: 0, viewId: 1, members: ['a'], joined: [], left: [], failed: [], flushMs: 'x' }],
      },
    ],
  ];
  for (const [name, bad] of cases)
    it(`skips that member with a typed error and shows the others: ${name}`, async () => {
      // The malformed one first: the header and view changes are read from the first status.
      const seeds = await fakeGroup([() => bad, () => good()]);
      const c = capture();
      const code = await statusCommand(
        ['--group', GROUP, '--seeds', seeds[0]!, '--insecure', '--timeout', '2000'],
        c.io,
      );
      expect(c.err).toEqual([]);
      expect(code).toBe(1); // not every member answered a status
      const rows = c.out.filter((l) => l.startsWith('  0000500'));
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(/00005000\.1 .* OBSERVE_MALFORMED_ANSWER: malformed status answer: /);
      expect(rows[1]).toMatch(/^ {2}00005001\.1 +127\.0\.0\.1:\d+ +(coordinator|member)/);
    });

  it('with --json, a bigint in an answer is that member error, and the output is JSON', async () => {
    const seeds = await fakeGroup([() => good(), () => ({ ...good(), rssBytes: 2n ** 62n })]);
    const c = capture();
    const code = await statusCommand(['--group', GROUP, '--seeds', seeds[0]!, '--insecure', '--json'], c.io);
    expect(c.err).toEqual([]);
    expect(code).toBe(1);
    const doc = JSON.parse(c.out[0]!) as { member: string; value?: unknown; error?: { code: string } }[];
    expect(doc[0]!.value).toBeDefined();
    expect(doc[1]!.error).toMatchObject({ code: 'OBSERVE_MALFORMED_ANSWER' });
  });
});

describe('troupe trace with a malformed answer', () => {
  it('prints the timeline of the members that answered one, and the malformed one as an error', async () => {
    const trace = (_m: string, args: unknown[]) => ({
      requestId: args[0],
      member: '00005000.1',
      steps: [{ step: 'received', at: 1_000, peer: '127.0.0.1:9' }],
    });
    const seeds = await fakeGroup([
      trace,
      () => ({ requestId: 'c:1', member: 'x', steps: [{ step: 'ordered', at: 'soon' }] }),
    ]);
    const c = capture();
    const code = await traceCommand(['c:1', '--group', GROUP, '--seeds', seeds[0]!, '--insecure'], c.io);
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    expect(c.out[0]).toBe(`request c:1 in group ${GROUP}: 1 of 2 members know it`);
    expect(c.out.join('\n')).toMatch(
      /00005001\.1: OBSERVE_MALFORMED_ANSWER malformed trace answer: steps\[0\]\.at is not a finite number/,
    );
  });
});

it('readStatusAnswer keeps the known fields of a good status and names the bad field', () => {
  const s = good();
  expect(readStatusAnswer(decodeValue(encodeValue(s)))).toEqual(s);
  expect(() => readStatusAnswer({ ...s, stats: { com: { sent: '1' } } })).toThrow(
    expect.objectContaining({ code: 'OBSERVE_MALFORMED_ANSWER', path: 'stats.com.sent' }),
  );
  expect(readStatusAnswer({ ...s, extra: 2n })).not.toHaveProperty('extra');
});
