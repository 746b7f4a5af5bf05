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
import { COOKIE_BYTES, COOKIE_PERIOD_MS } from './protocol.js';

/** Client addresses whose cookie a member keeps computed. */
const MAX_COOKIES = 4096;

/** A member's cookies for client addresses. */
export class AddressProof {
  /** Address → its cookie of the period {@link made} names. */
  private cookies = new Map<string, Uint8Array>();
  /** Address → its cookie of the period before {@link made} (still accepted, see proves). */
  private previous = new Map<string, Uint8Array>();
  /** The period the cached cookies are of. */
  private made = Number.NaN;

  /**
   * @param secret this member's secret (random per replica; a simulator passes its own).
   * @param mac how a cookie is made ({@link addressCookie}; a test counts the calls).
   */
  constructor(
    private readonly secret: Uint8Array,
    private readonly mac: typeof addressCookie = addressCookie,
  ) {}

  /** This member's cookie for client address `addr` at `now` (ms): of the period `now` is in. */
  cookieFor(addr: string, now: number): Uint8Array {
    const period = periodOf(now);
    if (period !== this.made) {
      // The current period's cookies become the previous period's (if it is the one before).
      this.previous = period === this.made + 1 ? this.cookies : new Map();
      this.cookies = new Map();
      this.made = period;
    }
    return this.cached(this.cookies, addr, period);
  }

  /**
   * Whether a packet from `addr` carrying `cookie` proves that its sender receives at `addr`: a
   * cookie of this period or the one before ({@link COOKIE_PERIOD_MS}), so one seen once at an
   * address does not prove it for as long as the member runs. Both are cached: a flood of wrong
   * cookies from one address costs no HMAC after its first packet.
   */
  proves(addr: string, cookie: Uint8Array | undefined, now: number): boolean {
    if (cookie === undefined || cookie.length !== COOKIE_BYTES) return false;
    if (timingSafeEqual(cookie, this.cookieFor(addr, now))) return true;
    return timingSafeEqual(cookie, this.cached(this.previous, addr, this.made - 1));
  }

  /** `map`'s cookie for `addr` of `period`, made if missing; at most {@link MAX_COOKIES}, oldest out. */
  private cached(map: Map<string, Uint8Array>, addr: string, period: number): Uint8Array {
    let c = map.get(addr);
    if (c === undefined) {
      c = this.mac(this.secret, addr, period);
      if (map.size >= MAX_COOKIES) map.delete(map.keys().next().value as string);
      map.set(addr, c);
    }
    return c;
  }
}

/**
 * Whether a packet from `addr` carrying `cookie` proves that its sender receives at `addr`: a
 * cookie of this period or the one before ({@link COOKIE_PERIOD_MS}), so one seen once at an
 * address does not prove it for as long as the member runs.
 */

function periodOf(now: number): number {
  return Math.floor(now / COOKIE_PERIOD_MS);
}

/**
 * The cookie a member whose secret is `secret` gives client address `addr` in period `period`
 * (ms since the epoch ÷ {@link COOKIE_PERIOD_MS}): the first {@link COOKIE_BYTES} bytes of
 * HMAC-SHA-256(secret, period and addr).
 */
export function addressCookie(secret: Uint8Array, addr: string, period: number): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', secret).update(`${period} ${addr}`).digest().subarray(0, COOKIE_BYTES),
  );
}

/** Members' addresses a client keeps cookies for (a view's, and a few more). */
const MAX_JAR = 256;

/**
 * A keyless client's cookies, one per member address: what its packets to that member carry. A
 * cookie comes in the member's views, which replace the one held (the member restarted with a
 * new secret, or the client's address changed), and in `cookie` notices, which only give one
 * where none is held: anyone may forge a notice, and one that replaced a good cookie, or made the
 * client resend all it has waiting there, would be a lever for it.
 */
export class CookieJar {
  private readonly jar = new Map<string, { cookie: Uint8Array; at: number }>();

  /** The cookie the member at `addr` gave us, if any. */
  get(addr: string): Uint8Array | undefined {
    return this.jar.get(addr)?.cookie;
  }

  /**
   * Whether to ask the member at `addr` for a cookie at `now`: none held, or one half a
   * {@link COOKIE_PERIOD_MS} old (the member takes it for one more period at least).
   */
  wants(addr: string, now: number): boolean {
    const held = this.jar.get(addr);
    return held === undefined || now - held.at >= COOKIE_PERIOD_MS / 2;
  }

  /**
   * The member at `addr` sent a view (one that speaks for its member) carrying `cookie`, at `now`:
   * true when it is the first cookie held for `addr`.
   */
  fromView(addr: string, cookie: Uint8Array, now: number): boolean {
    const first = !this.jar.has(addr);
    this.put(addr, cookie, now);
    return first;
  }

  /**
   * A `cookie` notice from `addr` at `now`: taken only when none is held, and then true (what
   * was sent there without one, and refused, may go again at once).
   */
  fromNotice(addr: string, cookie: Uint8Array, now: number): boolean {
    if (this.jar.has(addr)) return false;
    this.put(addr, cookie, now);
    return true;
  }

  /** Kept newest last: the first evicted is the one refreshed longest ago (the contact's, never). */
  private put(addr: string, cookie: Uint8Array, now: number): void {
    if (!this.jar.delete(addr) && this.jar.size >= MAX_JAR)
      this.jar.delete(this.jar.keys().next().value as string);
    this.jar.set(addr, { cookie: Uint8Array.from(cookie), at: now });
  }
}
