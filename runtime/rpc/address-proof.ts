/**
 * Without a key, proof that a client receives at the address its packets come from. A client
 * packet's source address may be forged, and a member answers towards it: a 36-byte `outcome?`
 * drew a 6,757-byte recorded result, and a forged call of a read method its reply, from every
 * member in `all` mode (FINDINGS 192). So each member gives each client address a *cookie*: the
 * first bytes of an HMAC of the address under a secret of the member's own, sent only to that
 * address (in every `view`, and in a `cookie` notice). A packet that carries it comes from a
 * sender that receives there (DNS cookies, QUIC's address validation).
 *
 * A member serves a call only from a proven address and casts only such calls, so the other
 * members' answers to a request go to an address its contact proved. An outcome query without
 * the cookie is answered only within 3 times its bytes; anything larger, and a call, gets a
 * `cookie` notice no larger than the packet, and the client asks again with it
 * (docs/rpc.md, "Cookies without a key").
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { COOKIE_BYTES } from './protocol.js';

/** Client addresses whose cookie a member keeps computed. */
const MAX_COOKIES = 4096;

/** A member's cookies for client addresses. */
export class AddressProof {
  private readonly cookies = new Map<string, Uint8Array>();

  /** @param secret this member's secret (random per replica; a simulator passes its own). */
  constructor(private readonly secret: Uint8Array) {}

  /** This member's cookie for client address `addr`. */
  cookieFor(addr: string): Uint8Array {
    let c = this.cookies.get(addr);
    if (c === undefined) {
      c = addressCookie(this.secret, addr);
      if (this.cookies.size >= MAX_COOKIES) this.cookies.delete(this.cookies.keys().next().value as string);
      this.cookies.set(addr, c);
    }
    return c;
  }

  /** Whether a packet from `addr` carrying `cookie` proves that its sender receives at `addr`. */
  proves(addr: string, cookie: Uint8Array | undefined): boolean {
    return (
      cookie !== undefined && cookie.length === COOKIE_BYTES && timingSafeEqual(cookie, this.cookieFor(addr))
    );
  }
}

/**
 * The cookie a member whose secret is `secret` gives client address `addr`: the first
 * {@link COOKIE_BYTES} bytes of HMAC-SHA-256(secret, addr).
 */
export function addressCookie(secret: Uint8Array, addr: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(addr).digest().subarray(0, COOKIE_BYTES));
}

/** Members' addresses a client keeps cookies for (a view's, and a few more). */
const MAX_JAR = 256;

/** A keyless client's cookies, one per member address: what its packets to that member carry. */
export class CookieJar {
  private readonly jar = new Map<string, { cookie: Uint8Array; at: number }>();

  /** @param gapMs a member's cookies that are news say "send again" at most once per this many ms. */
  constructor(private readonly gapMs: number) {}

  /** The cookie the member at `addr` gave us, if any. */
  get(addr: string): Uint8Array | undefined {
    return this.jar.get(addr)?.cookie;
  }

  /**
   * The member at `addr` gave `cookie` (in a view or a notice) at `now`. True when it is news (none
   * was kept, or another) and the last news from `addr` is `gapMs` old: what was sent there
   * without it may go again at once. A client whose source address keeps changing gets a new
   * cookie from every notice; the gap keeps it and the member from ping-ponging.
   */
  take(addr: string, cookie: Uint8Array, now: number): boolean {
    const had = this.jar.get(addr);
    if (had !== undefined && Buffer.compare(had.cookie, cookie) === 0) return false;
    const news = had === undefined || now - had.at >= this.gapMs;
    if (had === undefined && this.jar.size >= MAX_JAR)
      this.jar.delete(this.jar.keys().next().value as string);
    this.jar.set(addr, { cookie: Uint8Array.from(cookie), at: news ? now : had.at });
    return news;
  }
}
