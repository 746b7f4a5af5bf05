/**
 * Without a key, what a member may send towards a client address that has not proved it receives
 * there. A client packet's source address may be forged, and a member answers towards it: a
 * 36-byte `outcome?` drew a 6,757-byte recorded result (FINDINGS 192). So each member gives each
 * client address a cookie (an HMAC of the address under a secret of this member's, in the `view`
 * answering the client's hello, or in a `cookie` notice); a packet carrying it comes from a
 * sender that receives at that address, and its answers go whole. A packet without it is still
 * served, but what answers it, between them, is at most {@link ANSWER_AMPLIFICATION} times its
 * bytes (DNS cookies, QUIC's limit on an address not validated); past that, the first answer held
 * back becomes a `cookie` notice, and the client asks again with the cookie.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ANSWER_AMPLIFICATION, COOKIE_BYTES } from './protocol.js';

/** Cookies computed (one HMAC per address, kept) and allowances held, each at most this many. */
const MAX_ENTRIES = 4096;

/** What answers to one request id may still take towards one unproven address. */
interface Allowance {
  to: string;
  left: number;
  /** The `cookie` notice for it went (one per allowance). */
  noticed: boolean;
}

export class AddressProof {
  private readonly cookies = new Map<string, Uint8Array>();
  private readonly allowances = new Map<string, Allowance>();

  /** @param secret this member's secret, read when first needed (random per replica; a simulator passes its own). */
  constructor(private readonly secret: () => Uint8Array) {}

  /** This member's cookie for client address `addr`. */
  cookieFor(addr: string): Uint8Array {
    let c = this.cookies.get(addr);
    if (c === undefined) {
      c = createHmac('sha256', this.secret()).update(addr).digest().subarray(0, COOKIE_BYTES);
      this.cookies.set(addr, c);
      if (this.cookies.size > MAX_ENTRIES) this.cookies.delete(this.cookies.keys().next().value as string);
    }
    return c;
  }

  /** Whether a packet from `addr` carrying `cookie` proves its address. */
  proves(addr: string, cookie: Uint8Array | undefined): boolean {
    return (
      cookie !== undefined && cookie.length === COOKIE_BYTES && timingSafeEqual(cookie, this.cookieFor(addr))
    );
  }

  /**
   * A packet from `addr` that proved nothing asked about each of `ids` (a `calls` packet many):
   * their answers to `addr` may take `bytes` between them, {@link ANSWER_AMPLIFICATION} times
   * the packet's bytes when `bytes` is that packet's size.
   */
  allow(addr: string, ids: readonly string[], bytes: number): void {
    const share = Math.floor(bytes / Math.max(1, ids.length));
    for (const id of ids) {
      const a = this.allowances.get(id);
      if (a !== undefined && a.to === addr) {
        a.left += share;
        continue;
      }
      this.allowances.delete(id);
      this.allowances.set(id, { to: addr, left: share, noticed: false });
      if (this.allowances.size > MAX_ENTRIES)
        this.allowances.delete(this.allowances.keys().next().value as string);
    }
  }

  /** {@link allow} for a packet of `packetBytes` bytes: its answers may take 3 times that. */
  allowPacket(addr: string, ids: readonly string[], packetBytes: number): void {
    this.allow(addr, ids, ANSWER_AMPLIFICATION * packetBytes);
  }

  /** A packet from `addr` that proved its address asked about `id`: its answers go whole. */
  proven(addr: string, id: string): void {
    if (this.allowances.get(id)?.to === addr) this.allowances.delete(id);
  }

  /** Whether answers to `id` towards `to` are limited (the packets asking proved nothing). */
  limited(to: string, id: string): boolean {
    return this.allowances.get(id)?.to === to;
  }

  /** What is left of the allowance of `id` towards `to` (Infinity when not limited). */
  left(to: string, id: string): number {
    const a = this.allowances.get(id);
    return a?.to === to ? a.left : Number.POSITIVE_INFINITY;
  }

  /**
   * An answer of `bytes` to `id` towards `to`: `send` (spent from its allowance, if limited),
   * `notice` (over it, the first time: send the cookie instead) or `drop` (over it again).
   */
  spend(to: string, id: string, bytes: number): 'send' | 'notice' | 'drop' {
    const a = this.allowances.get(id);
    if (a === undefined || a.to !== to) return 'send';
    if (bytes <= a.left) {
      a.left -= bytes;
      return 'send';
    }
    if (a.noticed) return 'drop';
    a.noticed = true;
    return 'notice';
  }
}

/** Members' addresses a client keeps cookies for (a view's, and a few more). */
const MAX_JAR = 256;

/** A keyless client's cookies, one per member address: what its packets to that member carry. */
export class CookieJar {
  private readonly jar = new Map<string, Uint8Array>();

  /** The cookie the member at `addr` gave us, if any. */
  get(addr: string): Uint8Array | undefined {
    return this.jar.get(addr);
  }

  /** The member at `addr` gave `cookie` (in a view or a notice): true when it is new. */
  take(addr: string, cookie: Uint8Array): boolean {
    const had = this.jar.get(addr);
    if (had !== undefined && Buffer.compare(had, cookie) === 0) return false;
    this.jar.delete(addr);
    this.jar.set(addr, Uint8Array.from(cookie));
    if (this.jar.size > MAX_JAR) this.jar.delete(this.jar.keys().next().value as string);
    return true;
  }
}
