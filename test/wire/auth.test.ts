import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AUTH_TAG_BYTES,
  AuthConfigError,
  authKeyId,
  checkAuth,
  checkSecurity,
  DecodeError,
  decodeFixedHeader,
  decodePacket,
  ENCRYPTED_TAG_BYTES,
  encodePacket,
  FIXED_HEADER_BYTES,
  Flags,
  KeyRing,
  PacketAuth,
  PacketType,
  REPLAY_WINDOW,
  ReplayWindow,
} from '../../runtime/wire/index.js';

const KEY = 'a shared group key, 32 bytes lon';
const OTHER = 'another group key of many bytes!';

const packet = (node = 7, inc = 1) => ({
  type: PacketType.Stack,
  flags: Flags.Unicast,
  groupId: 42,
  sender: { node, inc },
  headers: [[1, 0, 12], [0]],
  payload: new Uint8Array([1, 2, 3, 4, 5]),
});

/** Verifies `bytes` at `auth`: 'ok' or the DecodeError code; anything else fails the test. */
function verdict(auth: PacketAuth | undefined, bytes: Uint8Array): string {
  try {
    checkAuth(auth, bytes, decodeFixedHeader(bytes));
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return e.code;
    throw e;
  }
}

describe('group keys', () => {
  it('refuses keys shorter than 32 bytes, and non-keys, with AuthConfigError AUTH_BAD_KEY', () => {
    for (const key of [
      '',
      'short',
      '16 bytes exactly',
      'x'.repeat(31),
      new Uint8Array(31),
      42 as never,
      null as never,
    ]) {
      let err: unknown;
      try {
        new PacketAuth(key);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AuthConfigError);
      expect((err as AuthConfigError).code).toBe('AUTH_BAD_KEY');
    }
    expect(() => new PacketAuth('x'.repeat(32))).not.toThrow();
    expect(() => new PacketAuth(new Uint8Array(32))).not.toThrow();
  });

  it('a string key and its UTF-8 bytes are the same key', () => {
    const bytes = new PacketAuth(KEY).encode(packet());
    expect(verdict(new PacketAuth(new TextEncoder().encode(KEY)), bytes)).toBe('ok');
  });
});

describe('PacketAuth: sign and verify', () => {
  it('round trip: flag, tag layout, counter from 0, the packet still decodes', () => {
    const tx = new PacketAuth(KEY);
    const rx = new PacketAuth(KEY);
    for (let i = 0; i < 3; i++) {
      const bytes = tx.encode(packet());
      const h = decodeFixedHeader(bytes);
      expect(h.flags).toBe(Flags.Unicast | Flags.Authenticated);
      expect(h.tagLength).toBe(AUTH_TAG_BYTES);
      const counter = new DataView(bytes.buffer, bytes.byteOffset + FIXED_HEADER_BYTES, 8).getBigUint64(0);
      expect(counter).toBe(BigInt(i));
      expect(verdict(rx, bytes)).toBe('ok');
      const p = decodePacket(bytes);
      expect(p.headers).toEqual([[1, 0, 12], [0]]);
      expect([...p.payload]).toEqual([1, 2, 3, 4, 5]);
    }
    expect(tx.nextCounter).toBe(3);
  });

  it('refuses every single altered byte, in the header, the counter, time, key id, MAC and body', () => {
    const tx = new PacketAuth(KEY);
    const original = tx.encode(packet());
    const regions = { header: 0, counter: 0, stamp: 0, mac: 0, body: 0 };
    for (let i = 0; i < original.length; i++) {
      for (const flip of [0x01, 0x80]) {
        const bytes = original.slice();
        bytes[i]! ^= flip;
        // A fresh receiver each time: only the alteration can make it refuse.
        let code: string;
        try {
          checkAuth(new PacketAuth(KEY), bytes, decodeFixedHeader(bytes));
          code = 'ok';
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          code = e.code;
        }
        expect(code, `byte ${i} ^ ${flip}`).not.toBe('ok');
        // Structural damage (magic, lengths, reserved bytes) is caught by the header parser;
        // everything else is the MAC's job.
        if (i >= 24 || [2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19].includes(i)) {
          if (code !== 'DECODE_BAD_TYPE') expect(code, `byte ${i} ^ ${flip}`).toBe('DECODE_UNAUTHENTICATED');
        }
      }
      if (i < 24) regions.header++;
      else if (i < 32) regions.counter++;
      else if (i < 40) regions.stamp++;
      else if (i < 56) regions.mac++;
      else regions.body++;
    }
    expect(regions).toMatchObject({ header: 24, counter: 8, stamp: 8, mac: 16 });
    expect(regions.body).toBeGreaterThan(5);
  });

  it('refuses a packet signed with another key, and one without a tag', () => {
    const rx = new PacketAuth(KEY);
    expect(verdict(rx, new PacketAuth(OTHER).encode(packet()))).toBe('DECODE_UNAUTHENTICATED');
    expect(verdict(rx, encodePacket(packet()))).toBe('DECODE_UNAUTHENTICATED');
    // A tag of the right length but no flag, and a flag with a tag of another length.
    const flagless = new PacketAuth(KEY).encode(packet());
    flagless[3]! &= ~Flags.Authenticated;
    expect(verdict(rx, flagless)).toBe('DECODE_UNAUTHENTICATED');
    const short = encodePacket({ ...packet(), flags: Flags.Authenticated, tag: new Uint8Array(8) });
    expect(verdict(rx, short)).toBe('DECODE_UNAUTHENTICATED');
    // None of these refusals created replay state.
    expect(rx.stats().authSenders).toBe(0);
  });

  it('an endpoint without a key refuses authenticated packets and accepts plain ones', () => {
    expect(verdict(undefined, new PacketAuth(KEY).encode(packet()))).toBe('DECODE_UNAUTHENTICATED');
    expect(verdict(undefined, encodePacket(packet()))).toBe('ok');
  });
});

describe('the tag is HMAC-SHA256 as docs/protocol.md specifies', () => {
  // What any implementation must compute: HMAC-SHA256 under HMAC(groupKey, 'troupe/mac'), over the
  // receiver's 8 bytes (node, incarnation; zeros for no one) and the packet without its 16 MAC
  // bytes (at FIXED_HEADER_BYTES + 16), truncated to 16 bytes. PacketAuth computes it from
  // one-shot hashes, not `createHmac`: this holds it to the same bytes, small and large packets.
  const macKey = createHmac('sha256', Buffer.from(KEY)).update('troupe/mac').digest();
  const expected = (bytes: Uint8Array, to: Uint8Array) => {
    const at = FIXED_HEADER_BYTES + 16;
    return createHmac('sha256', macKey)
      .update(to)
      .update(bytes.subarray(0, at))
      .update(bytes.subarray(at + 16))
      .digest()
      .subarray(0, 16);
  };
  const receiverBytes = (node: number, inc: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(node, 0);
    b.writeUInt32BE(inc, 4);
    return b;
  };

  it('for casts and addressed packets, 5 bytes to 100 KB of payload', () => {
    const tx = new PacketAuth(KEY);
    for (const size of [5, 1_500, 3_000, 100_000, 40]) {
      const payload = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
      for (const to of [undefined, { node: 0x89abcdef, inc: 3 }]) {
        const bytes = tx.encode({ ...packet(), payload }, to);
        const mac = bytes.subarray(FIXED_HEADER_BYTES + 16, FIXED_HEADER_BYTES + 32);
        const want = expected(bytes, to ? receiverBytes(to.node, to.inc) : Buffer.alloc(8));
        expect(Buffer.from(mac).equals(want)).toBe(true);
        expect(verdict(new PacketAuth(KEY), bytes) === 'ok').toBe(to === undefined);
      }
    }
  });
});

describe('replay protection', () => {
  it('refuses a packet accepted before, verbatim', () => {
    const tx = new PacketAuth(KEY);
    const rx = new PacketAuth(KEY);
    const a = tx.encode(packet());
    const b = tx.encode(packet());
    expect(verdict(rx, a)).toBe('ok');
    expect(verdict(rx, b)).toBe('ok');
    expect(verdict(rx, a)).toBe('DECODE_REPLAYED');
    expect(verdict(rx, b)).toBe('DECODE_REPLAYED');
  });

  it('accepts out-of-order packets within the window once each, refuses older ones', () => {
    const tx = new PacketAuth(KEY);
    const rx = new PacketAuth(KEY);
    const sent = Array.from({ length: REPLAY_WINDOW + 10 }, () => tx.encode(packet()));
    // Deliver the last one first: every earlier one within the window is still accepted, once.
    expect(verdict(rx, sent[REPLAY_WINDOW + 9]!)).toBe('ok');
    for (let i = REPLAY_WINDOW + 8; i >= 10; i--) expect(verdict(rx, sent[i]!), `counter ${i}`).toBe('ok');
    for (let i = REPLAY_WINDOW + 9; i >= 10; i -= 97) expect(verdict(rx, sent[i]!)).toBe('DECODE_REPLAYED');
    // Counters 0..9 are REPLAY_WINDOW or more below the highest (REPLAY_WINDOW + 9): too old.
    for (let i = 0; i < 10; i++) expect(verdict(rx, sent[i]!), `counter ${i}`).toBe('DECODE_REPLAYED');
  });

  it('keeps one window per sender endpoint (node and incarnation)', () => {
    const rx = new PacketAuth(KEY);
    const a = new PacketAuth(KEY).encode(packet(7, 1));
    const b = new PacketAuth(KEY).encode(packet(7, 2));
    const c = new PacketAuth(KEY).encode(packet(8, 1));
    expect([a, b, c].map((p) => verdict(rx, p))).toEqual(['ok', 'ok', 'ok']);
    expect([a, b, c].map((p) => verdict(rx, p))).toEqual(Array(3).fill('DECODE_REPLAYED'));
    expect(rx.stats().authSenders).toBe(3);
  });

  it('bounds the tracked endpoints, evicting the least recently heard', () => {
    const rx = new PacketAuth(KEY, { maxSenders: 4 });
    const first = Array.from({ length: 6 }, (_, n) => new PacketAuth(KEY).encode(packet(n + 1, 1)));
    for (const p of first.slice(0, 4)) expect(verdict(rx, p)).toBe('ok');
    // Hearing endpoint 1 again makes endpoint 2 the least recently heard.
    const tx1 = new PacketAuth(KEY);
    tx1.encode(packet(1, 1));
    expect(verdict(rx, tx1.encode(packet(1, 1)))).toBe('ok');
    expect(verdict(rx, first[4]!)).toBe('ok'); // evicts endpoint 2
    expect(verdict(rx, first[5]!)).toBe('ok'); // evicts endpoint 3
    expect(rx.stats()).toEqual({ authSenders: 4, authEvicted: 2 });
    // Endpoints still tracked refuse the replay; the cost of eviction: an evicted endpoint's
    // old packet is accepted once more (documented), then refused again.
    expect(verdict(rx, first[0]!)).toBe('DECODE_REPLAYED');
    expect(verdict(rx, first[3]!)).toBe('DECODE_REPLAYED');
    expect(verdict(rx, first[1]!)).toBe('ok');
    expect(verdict(rx, first[1]!)).toBe('DECODE_REPLAYED');
    // 10,000 endpoints later, still 4 tracked.
    for (let n = 0; n < 10_000; n++) verdict(rx, new PacketAuth(KEY).encode(packet(1000 + n, 1)));
    expect(rx.stats().authSenders).toBe(4);
    expect(rx.stats().authEvicted).toBe(2 + 1 + 10_000);
  });

  // verify remembers its last sender (id string, recency) and encode its last receiver's bytes:
  // neither memory may let one endpoint's packet be judged as another's.
  it('judges each packet by its own sender and receiver, whatever came just before', () => {
    const rx = new PacketAuth(KEY, { maxSenders: 2 });
    const a = new PacketAuth(KEY);
    const b = new PacketAuth(KEY);
    const a0 = a.encode(packet(1, 1));
    const b0 = b.encode(packet(2, 1));
    expect(verdict(rx, a0)).toBe('ok');
    // Packets of b that fail right after a's (one tampered, one authentic but stale: refused
    // after its sender was looked up), then b's genuine one: judged in b's own window.
    const bad = Uint8Array.from(b0);
    bad[bad.length - 1]! ^= 1;
    expect(verdict(rx, bad)).toBe('DECODE_UNAUTHENTICATED');
    const stale = new PacketAuth(KEY, { clock: () => Date.now() - 120_000 }).encode(packet(2, 1));
    expect(verdict(rx, stale)).toBe('DECODE_STALE');
    expect(verdict(rx, b0)).toBe('ok');
    expect(verdict(rx, b0)).toBe('DECODE_REPLAYED');
    expect(verdict(rx, a0)).toBe('DECODE_REPLAYED');
    // a twice in a row, then c: b is the least recently heard and is evicted, a is kept.
    expect(verdict(rx, a.encode(packet(1, 1)))).toBe('ok');
    expect(verdict(rx, a.encode(packet(1, 1)))).toBe('ok');
    expect(verdict(rx, new PacketAuth(KEY).encode(packet(3, 1)))).toBe('ok');
    expect(rx.stats()).toEqual({ authSenders: 2, authEvicted: 1 });
    expect(verdict(rx, a0)).toBe('DECODE_REPLAYED');
    expect(verdict(rx, b0)).toBe('ok'); // evicted: accepted once more, as documented above
    // Addressed packets: signed for one endpoint, accepted there and refused at another, in
    // any order of receivers at the sender.
    const tx = new PacketAuth(KEY);
    const to1 = { node: 11, inc: 1 };
    const to2 = { node: 12, inc: 1 };
    const p1 = tx.encode(packet(5, 1), to1);
    const p2 = tx.encode(packet(5, 1), to2);
    const p3 = tx.encode(packet(5, 1), to1);
    const at = (bytes: Uint8Array, who: typeof to1) => {
      try {
        new PacketAuth(KEY).verify(bytes, decodeFixedHeader(bytes), who);
        return 'ok';
      } catch (e) {
        return (e as DecodeError).code;
      }
    };
    expect([at(p1, to1), at(p2, to2), at(p3, to1)]).toEqual(['ok', 'ok', 'ok']);
    expect([at(p1, to2), at(p2, to1), at(p3, to2)]).toEqual(Array(3).fill('DECODE_UNAUTHENTICATED'));
  });
});

describe('ReplayWindow', () => {
  it('matches a reference set model on 20,000 random counters', () => {
    const w = new ReplayWindow(64);
    const seen = new Set<number>();
    let top = -1;
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const c = Math.max(0, top + 8 - (x % 100)); // mostly near the top, some far below, some jumps
      const expected = c > top ? 'fresh' : top - c >= 64 ? 'too-old' : seen.has(c) ? 'duplicate' : 'fresh';
      expect(w.check(c)).toBe(expected);
      if (expected === 'fresh') {
        w.mark(c);
        seen.add(c);
        top = Math.max(top, c);
      }
    }
  });

  it('a jump of more than the window forgets everything below it', () => {
    const w = new ReplayWindow(32);
    w.mark(0);
    w.mark(5);
    w.mark(1_000);
    expect(w.check(5)).toBe('too-old');
    expect(w.check(999)).toBe('fresh');
    expect(w.check(1_000)).toBe('duplicate');
    expect(w.check(968)).toBe('too-old');
    expect(w.check(969)).toBe('fresh');
  });
});

describe('the receiver and the time in the tag', () => {
  const me = { node: 9, inc: 1 };
  const verdictFor = (auth: PacketAuth, bytes: Uint8Array, receiver?: { node: number; inc: number }) => {
    try {
      checkAuth(auth, bytes, decodeFixedHeader(bytes), receiver);
      return 'ok';
    } catch (e) {
      if (e instanceof DecodeError) return e.code;
      throw e;
    }
  };

  it('a packet for one receiver verifies there only (not at another member, not at its next incarnation)', () => {
    const tx = new PacketAuth(KEY);
    const bytes = tx.encode(packet(), me);
    expect(verdictFor(new PacketAuth(KEY), bytes, { node: 10, inc: 1 })).toBe('DECODE_UNAUTHENTICATED');
    expect(verdictFor(new PacketAuth(KEY), bytes, { node: 9, inc: 2 })).toBe('DECODE_UNAUTHENTICATED');
    expect(verdictFor(new PacketAuth(KEY), bytes)).toBe('DECODE_UNAUTHENTICATED');
    expect(verdictFor(new PacketAuth(KEY), bytes, me)).toBe('ok');
    // A packet for no one in particular (a cast) verifies anywhere; clearing the flag of an
    // addressed one (to make it so) breaks its tag.
    expect(verdictFor(new PacketAuth(KEY), tx.encode(packet()), me)).toBe('ok');
    const cleared = tx.encode(packet(), me);
    cleared[3]! &= ~Flags.Addressed;
    expect(verdictFor(new PacketAuth(KEY), cleared, { node: 10, inc: 1 })).toBe('DECODE_UNAUTHENTICATED');
  });

  it('refuses a packet whose time is further than freshnessMs from the clock, before its window', () => {
    let now = 1_700_000_000_000;
    const clock = () => now;
    const tx = new PacketAuth(KEY, { clock });
    const old = tx.encode(packet());
    now += 61_000;
    const rx = new PacketAuth(KEY, { clock });
    expect(verdictFor(rx, old)).toBe('DECODE_STALE');
    expect(rx.stats().authSenders).toBe(0);
    // Within the bound, either way (a receiver whose clock is behind).
    const fresh = tx.encode(packet());
    now -= 59_000;
    expect(verdictFor(rx, fresh)).toBe('ok');
    expect(() => new PacketAuth(KEY, { freshnessMs: 10 })).toThrow(AuthConfigError);
  });
});

describe('encryption (AES-256-GCM)', () => {
  const secret = new TextEncoder().encode('attack at dawn, account 42, 1,000,000');
  const p = () => ({ ...packet(), payload: secret });

  it('round trip; the payload is not readable on the wire; every altered byte is refused', () => {
    const tx = new PacketAuth(KEY, { encrypt: true });
    const bytes = tx.encode(p());
    const h = decodeFixedHeader(bytes);
    expect(h.flags & (Flags.Authenticated | Flags.Encrypted)).toBe(Flags.Authenticated | Flags.Encrypted);
    expect(h.tagLength).toBe(ENCRYPTED_TAG_BYTES);
    expect(Buffer.from(bytes).includes(Buffer.from('attack at dawn'))).toBe(false);
    const rx = new PacketAuth(KEY, { encrypt: true });
    const out = rx.verify(bytes, h);
    expect(Buffer.from(decodePacket(out.bytes).payload).toString()).toBe(
      'attack at dawn, account 42, 1,000,000',
    );
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i]! ^= 0x01;
      let code = 'ok';
      try {
        new PacketAuth(KEY, { encrypt: true }).verify(bad, decodeFixedHeader(bad));
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        code = e.code;
      }
      expect(code, `byte ${i}`).not.toBe('ok');
    }
    // Replay protection is the same: the packet verbatim again is a replay.
    expect(() => rx.verify(bytes, h)).toThrow(expect.objectContaining({ code: 'DECODE_REPLAYED' }));
  });

  it('two senders with the same endpoint and counter never share a nonce (random salt)', () => {
    const a = new PacketAuth(KEY, { encrypt: true }).encode(p());
    const b = new PacketAuth(KEY, { encrypt: true }).encode(p());
    expect(Buffer.from(a.subarray(40, 48)).equals(Buffer.from(b.subarray(40, 48)))).toBe(false);
    expect(Buffer.from(a.subarray(64)).equals(Buffer.from(b.subarray(64)))).toBe(false);
  });

  it('an encrypting endpoint refuses plain authenticated packets, and the other way round', () => {
    const plain = new PacketAuth(KEY).encode(p());
    const sealed = new PacketAuth(KEY, { encrypt: true }).encode(p());
    expect(verdict(new PacketAuth(KEY, { encrypt: true }), plain)).toBe('DECODE_UNAUTHENTICATED');
    expect(verdict(new PacketAuth(KEY), sealed)).toBe('DECODE_UNAUTHENTICATED');
  });
});

describe('key rotation', () => {
  it('a ring accepts current and previous, signs with current; setKey rolls it in place', () => {
    const ring = new KeyRing({ current: KEY, previous: OTHER });
    const rx = new PacketAuth(ring);
    expect(verdict(rx, new PacketAuth(KEY).encode(packet(1)))).toBe('ok');
    expect(verdict(rx, new PacketAuth(OTHER).encode(packet(2)))).toBe('ok');
    const third = 'a third key that nobody rolled to!';
    expect(verdict(rx, new PacketAuth(third).encode(packet(3)))).toBe('DECODE_UNAUTHENTICATED');
    const tx = new PacketAuth(ring);
    expect(verdict(new PacketAuth(KEY), tx.encode(packet(4)))).toBe('ok');
    ring.set(third);
    expect(verdict(new PacketAuth(third), tx.encode(packet(4)))).toBe('ok');
    expect(verdict(rx, new PacketAuth(KEY).encode(packet(5)))).toBe('DECODE_UNAUTHENTICATED');
    expect(authKeyId(ring)).toBe(authKeyId(third));
  });

  it('a bad key in a pair is refused like a bad single key', () => {
    expect(() => new KeyRing({ current: KEY, previous: 'short' })).toThrow(AuthConfigError);
    expect(() => new KeyRing({ previous: KEY } as never)).toThrow(AuthConfigError);
  });
});

describe('secure by default', () => {
  it('checkSecurity: KEY_REQUIRED without key or insecure; AUTH_BAD_KEY for both, or encrypt without key', () => {
    const code = (o: object) => {
      try {
        checkSecurity(o, 'test');
        return 'ok';
      } catch (e) {
        return (e as AuthConfigError).code;
      }
    };
    expect(code({})).toBe('KEY_REQUIRED');
    expect(code({ insecure: false })).toBe('KEY_REQUIRED');
    expect(code({ insecure: true })).toBe('ok');
    expect(code({ key: KEY })).toBe('ok');
    expect(code({ key: { current: KEY, previous: OTHER } })).toBe('ok');
    expect(code({ key: KEY, insecure: true })).toBe('AUTH_BAD_KEY');
    expect(code({ insecure: true, encrypt: true })).toBe('AUTH_BAD_KEY');
    expect(code({ key: 'x'.repeat(31) })).toBe('AUTH_BAD_KEY');
  });
});
