// Refusal notices cannot be signed, so anyone able to send from a seed's address can forge one.
// With a key, a packet of the seed that the stack accepted (so it verified) outweighs a refusal
// in the seed's name, before or after it came (runtime/group/join-watch.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JoinError } from '../../runtime/errors.js';
import { JoinWatch, MAX_WATCHED, noAnswerHint } from '../../runtime/group/join-watch.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/packet.js';
import { REFUSAL_GRACE_MS } from '../../runtime/wire/refusal.js';

const SEED = '127.0.0.1:7001';
const refusal = (reason: string, keyId: string) =>
  encodePacket({
    type: PacketType.Discovery,
    flags: 0,
    groupId: groupIdOf('g'),
    sender: { node: 0x666, inc: 1 },
    headers: [['refused', reason, keyId, '']],
    payload: new Uint8Array(0),
  });
const packetOfTheGroup = encodePacket({
  type: PacketType.Discovery,
  flags: 0,
  groupId: groupIdOf('g'),
  sender: { node: 0x777, inc: 1 },
  headers: [[0]],
  payload: new Uint8Array(0),
});

/** A watch as the driver of a joiner with key id `keyId` ('' without a key) holds it. */
function watch(keyId: string) {
  const failures: JoinError[] = [];
  const w = new JoinWatch(
    'g',
    [SEED],
    '127.0.0.1:7002',
    () => '00000001.1',
    keyId,
    (e) => failures.push(e),
  );
  return { w, failures };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('join watch: refusal notices forged in a seed’s name', () => {
  it('with a key, a refusal from an address whose packets verified is dropped, whichever came first', () => {
    for (const acceptedFirst of [true, false]) {
      const { w, failures } = watch('ours');
      if (acceptedFirst) {
        expect(w.onPacket(packetOfTheGroup, SEED)).toBe(false);
        w.onAccepted(SEED);
      }
      expect(w.onPacket(refusal('key', 'theirs'), SEED)).toBe(true); // never reaches the stack
      if (!acceptedFirst) {
        expect(w.onPacket(packetOfTheGroup, SEED)).toBe(false);
        w.onAccepted(SEED);
      }
      vi.advanceTimersByTime(REFUSAL_GRACE_MS + 1);
      expect(failures).toEqual([]);
      expect(w.timeoutError(30_000).code).toBe('JOIN_TIMEOUT');
      w.close();
    }
  });

  it('with a key, a refusal from a seed nothing verified from is the answer after the grace', () => {
    const { w, failures } = watch('ours');
    w.onPacket(packetOfTheGroup, SEED); // heard, but the stack refused it (another key)
    w.onPacket(refusal('key', 'theirs'), SEED);
    vi.advanceTimersByTime(REFUSAL_GRACE_MS + 1);
    expect(failures.map((e) => e.code)).toEqual(['JOIN_KEY_MISMATCH']);
  });

  it('without a key an accepted packet proves nothing: the refusal stands', () => {
    const { w, failures } = watch('');
    w.onPacket(packetOfTheGroup, SEED);
    w.onAccepted(SEED);
    w.onPacket(refusal('needkey', 'theirs'), SEED);
    vi.advanceTimersByTime(REFUSAL_GRACE_MS + 1);
    expect(failures.map((e) => e.code)).toEqual(['JOIN_KEY_MISMATCH']);
  });
});

describe('join watch: a flood from invented addresses while joining', () => {
  it('keeps the seeds and at most MAX_WATCHED other addresses, and still says what it heard', () => {
    const { w, failures } = watch('');
    for (let i = 0; i < 20_000; i++) {
      const from = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9`;
      w.onPacket(packetOfTheGroup, from);
      w.onPacket(refusal('group', ''), from);
    }
    w.onPacket(packetOfTheGroup, SEED);
    const kept = w as unknown as { heard: Set<string>; refusals: Map<string, unknown> };
    expect(kept.heard.size).toBeLessThanOrEqual(MAX_WATCHED + 1);
    expect(kept.refusals.size).toBeLessThanOrEqual(MAX_WATCHED + 1);
    expect(kept.heard.has(SEED)).toBe(true); // a seed is kept whatever came before
    const e = w.timeoutError(30_000);
    expect(e.code).toBe('JOIN_TIMEOUT');
    expect(e.message).toContain(`and ${20_000 - MAX_WATCHED} packets from further addresses, not kept`);
    expect(failures).toEqual([]);
  });

  it('addresses heard but not kept are not known to have refused: a seed’s refusal waits for the timeout', () => {
    const { w, failures } = watch('');
    for (let i = 0; i < MAX_WATCHED + 10; i++) w.onPacket(packetOfTheGroup, `10.0.${i >> 8}.${i & 255}:9`);
    for (let i = 0; i < MAX_WATCHED; i++) w.onPacket(refusal('group', ''), `10.0.${i >> 8}.${i & 255}:9`);
    w.onPacket(refusal('group', ''), SEED);
    vi.advanceTimersByTime(REFUSAL_GRACE_MS + 1);
    expect(failures).toEqual([]);
    w.close();
  });
});

describe('join watch: a join that heard nothing says what in its own set-up is wrong', () => {
  const noAnswer = (address: string, seeds: string[], aliases: string[] = []) =>
    new JoinWatch(
      'g',
      seeds,
      address,
      () => '00000001.1',
      '',
      () => {},
      aliases,
    ).timeoutError(30_000).message;

  it('a loopback transport with a seed on another host: no packet can leave (EINVAL)', () => {
    // docs/api.md's chat program before it bound a transport: seeds 10.0.0.1, default 127.0.0.1.
    const m = noAnswer('127.0.0.1:35236', ['10.0.0.1:7000']);
    expect(m).toContain('nothing answered at the seeds');
    expect(m).toContain(
      'listens on a loopback address (127.0.0.1:35236), from which no packet reaches 10.0.0.1:7000',
    );
  });

  it('a member on a random port with local seeds cannot found the group', () => {
    // docs/observability.md's replica before it bound its seed: three copies each waited 30 s.
    const seeds = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];
    expect(noAnswer('127.0.0.1:43835', seeds)).toContain('is not at one of the seeds');
  });

  it('no hint when the member is at its seed (the others are simply not up)', () => {
    const seeds = ['127.0.0.1:7001', '127.0.0.1:7002'];
    expect(noAnswerHint('127.0.0.1:7001', seeds)).toBe('');
    expect(noAnswerHint('10.0.0.2:7000', ['10.0.0.1:7000', '10.0.0.2:7000'])).toBe('');
    // A wildcard-bound transport receives at the seed through an alias.
    expect(noAnswerHint('0.0.0.0:7001', ['10.0.0.1:7001'], ['10.0.0.1:7001'])).toBe('');
    expect(noAnswerHint('[::1]:7001', ['[::1]:7001'])).toBe('');
  });
});
