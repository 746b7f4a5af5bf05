// An in-memory network for the address reviews (test/group/review7.test.ts, review8.test.ts):
// a transport says one address (`claimed`, its transport.address) and sends from another
// (`real`, what receivers see); in multicast mode its casts arrive from `mcastFrom`; names
// resolve as DNS would.
import type { Transport, TransportStats } from '../../runtime/transport/types.js';

export class Net {
  private readonly byReal = new Map<string, End>();
  /** Name → real address (a host name, or the address a transport claims). */
  private readonly names = new Map<string, string>();
  /** `realA>realB`: what A sends B is lost. */
  private readonly blocked = new Set<string>();
  /** `realA>realB`: latency in ms of what A sends B (0 otherwise). */
  readonly delay = new Map<string, number>();

  /** `mcastFrom`: IP multicast mode, every other end hears our multicasts from this address (a
   * wildcard-bound socket's multicast leaves from the multicast interface's address). */
  attach(real: string, claimed = real, mcastFrom?: string): Transport {
    // Bound to the wildcard, it receives at its interfaces' addresses, as UdpTransport says.
    const aliases = claimed.startsWith('0.0.0.0:') ? [real, ...(mcastFrom ? [mcastFrom] : [])] : undefined;
    const end = new End(this, real, claimed, mcastFrom, aliases);
    this.byReal.set(real, end);
    if (!this.names.has(claimed)) this.names.set(claimed, real);
    return end;
  }

  alias(name: string, real: string): void {
    this.names.set(name, real);
  }

  /** Lose everything between the two real addresses, both ways, until `heal()`. */
  block(a: string, b: string): void {
    this.blocked.add(`${a}>${b}`).add(`${b}>${a}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  route(from: string, to: string, bytes: Uint8Array): void {
    const real = this.names.get(to) ?? to;
    const dst = this.byReal.get(real);
    if (!dst || this.blocked.has(`${from}>${real}`)) return;
    const copy = bytes.slice();
    const ms = this.delay.get(`${from}>${real}`) ?? 0;
    if (ms > 0) setTimeout(() => dst.deliver(copy, from), ms);
    else queueMicrotask(() => dst.deliver(copy, from));
  }

  /** IP multicast: every end but the sender's hears it, from `source`. */
  multicast(real: string, source: string, bytes: Uint8Array): void {
    for (const [r, dst] of this.byReal) {
      if (r === real || this.blocked.has(`${real}>${r}`)) continue;
      const copy = bytes.slice();
      queueMicrotask(() => dst.deliver(copy, source));
    }
  }
}

class End implements Transport {
  readonly maxDatagram = 65_000;
  private peers: readonly string[] = [];
  private handler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private closed = false;

  constructor(
    private readonly net: Net,
    readonly real: string,
    readonly address: string,
    private readonly mcastFrom?: string,
    readonly aliases?: readonly string[],
  ) {}

  multicast(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.mcastFrom !== undefined) this.net.multicast(this.real, this.mcastFrom, bytes);
    else for (const p of this.peers) this.send(p, bytes); // fan-out, as UDP's default mode
  }
  send(to: string, bytes: Uint8Array): void {
    if (!this.closed) this.net.route(this.real, to, bytes);
  }
  setPeers(addresses: readonly string[]): void {
    this.peers = [...addresses];
  }
  onPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.handler = handler;
  }
  deliver(bytes: Uint8Array, from: string): void {
    if (!this.closed) this.handler?.(bytes, from);
  }
  stats(): TransportStats {
    return { sent: 0, received: 0, dropped: 0 };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
