import type { Transport, TransportStats } from './types.js';

/**
 * An in-process network: transports attached to one hub reach each other by address, and a
 * multicast reaches every other transport on the hub (as IP multicast would). Delivery is
 * asynchronous (a microtask), never re-entrant. For tests and single-process groups; the
 * simulator drives stacks directly over its own seeded network (test/sim/world.ts).
 *
 * @example
 * ```ts
 * const hub = new MemoryHub();
 * const a = hub.attach('a:1'), b = hub.attach('b:1');
 * b.onPacket((bytes, from) => console.log(from, bytes));
 * a.send('b:1', new Uint8Array([1]));
 * ```
 */
export class MemoryHub {
  private readonly endpoints = new Map<string, MemoryTransport>();

  /** A new transport at `address` on this hub; an address is attached once until closed. */
  attach(address: string, maxDatagram = 65_000): MemoryTransport {
    if (this.endpoints.has(address)) throw new Error(`address ${address} is already attached`);
    const t = new MemoryTransport(this, address, maxDatagram);
    this.endpoints.set(address, t);
    return t;
  }

  /** @internal */
  route(from: string, to: string | null, bytes: Uint8Array): void {
    const targets =
      to === null ? [...this.endpoints.values()].filter((t) => t.address !== from) : [this.endpoints.get(to)];
    for (const t of targets) if (t) queueMicrotask(() => t.deliver(bytes.slice(), from));
  }

  /** @internal */
  detach(address: string): void {
    this.endpoints.delete(address);
  }
}

/**
 * An in-process {@link Transport} on a {@link MemoryHub}: datagrams are copied and delivered in a
 * later microtask, multicasts to every other transport on the hub. For tests and examples.
 *
 * @example
 * ```ts
 * const hub = new MemoryHub();
 * const seeds = ['a:1', 'b:1', 'c:1'];
 * const groups = await Promise.all(
 *   seeds.map((s) => joinGroup('g', { seeds, transport: hub.attach(s), insecure: true })),
 * );
 * ```
 */
export class MemoryTransport implements Transport {
  private handler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private readonly counters: TransportStats = { sent: 0, received: 0, dropped: 0 };
  private closed = false;

  constructor(
    private readonly hub: MemoryHub,
    readonly address: string,
    readonly maxDatagram: number,
  ) {}

  private out(to: string | null, bytes: Uint8Array): void {
    if (this.closed || bytes.length > this.maxDatagram) {
      this.counters.dropped++;
      return;
    }
    this.counters.sent++;
    this.hub.route(this.address, to, bytes);
  }

  multicast(bytes: Uint8Array): void {
    this.out(null, bytes);
  }

  send(to: string, bytes: Uint8Array): void {
    this.out(to, bytes);
  }

  setPeers(_addresses: readonly string[]): void {
    // Every transport on the hub is reachable; a multicast needs no peer list.
  }

  onPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.handler = handler;
  }

  /** @internal */
  deliver(bytes: Uint8Array, from: string): void {
    if (this.closed || !this.handler) return;
    this.counters.received++;
    this.handler(bytes, from);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** Detaches from the hub: nothing more is sent or delivered. */
  async close(): Promise<void> {
    this.closed = true;
    this.hub.detach(this.address);
  }
}
