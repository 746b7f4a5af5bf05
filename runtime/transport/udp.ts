import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatAddress, type HostPort, parseAddress } from './address.js';
import { TransportError } from './errors.js';
import type { Transport, TransportStats } from './types.js';

/** Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header). */
export const UDP_MAX_PAYLOAD = 65_507;

/** Options for {@link udp}. */
export interface UdpOptions {
  /** Unicast bind address; also the host part of `address`. Default `127.0.0.1`. */
  host?: string;
  /** Unicast port; `0` picks an ephemeral port. Default `0`. */
  port?: number;
  /**
   * `multicast`: `multicast()` is one IP-multicast datagram to `multicastGroup:multicastPort`.
   * `fanout`: `multicast()` is a unicast to each address given to `setPeers` (for networks
   * without IP multicast, e.g. most clouds). Default `fanout`.
   */
  mode?: 'multicast' | 'fanout';
  /** IPv4 multicast group (multicast mode). Default `239.255.42.99`. */
  multicastGroup?: string;
  /** Port every member's multicast socket binds to (multicast mode). Default `45_299`. */
  multicastPort?: number;
  /**
   * Local interface address to join on and send multicast from. Default: `host`, unless wildcard.
   * Multicasts leave from the unicast socket (so receivers can reply to `from`), so `host` should
   * be this interface's address or the wildcard.
   */
  multicastInterface?: string;
  /** Multicast TTL (hops). Default `1`: stay on the local link. */
  ttl?: number;
  /** IP_MULTICAST_LOOP: deliver our multicasts to other members on this host. Default `true`. */
  loopback?: boolean;
  /** Largest datagram sent; larger ones are dropped and counted. Default 65,000, capped at 65,507. */
  maxDatagram?: number;
  /** SO_RCVBUF request in bytes. Default 4 MiB; the OS may grant less. */
  recvBufferSize?: number;
  /** SO_SNDBUF request in bytes. Default 4 MiB; the OS may grant less. */
  sendBufferSize?: number;
}

const DEFAULT_BUFFER = 4 * 1024 * 1024;
/** Parsed addresses kept by `send`. */
const MAX_TARGETS = 1_024;

/**
 * Opens a UDP transport. Resolves once every socket is bound (and the multicast group joined);
 * rejects with a {@link TransportError} otherwise. After that, nothing throws: oversized
 * datagrams, bad addresses and socket errors are counted in `stats().dropped`, since the stack
 * above retransmits lost datagrams anyway; `stats().sent` counts datagrams handed to the kernel.
 *
 * @example
 * ```ts
 * const t = await udp({ mode: 'multicast', multicastGroup: '239.255.42.99', multicastPort: 45299 });
 * t.onPacket((bytes, from) => console.log(`${bytes.length} bytes from ${from}`));
 * t.multicast(new TextEncoder().encode('hello group'));
 * await t.close();
 * ```
 */
export async function udp(options: UdpOptions = {}): Promise<Transport> {
  const host = options.host ?? '127.0.0.1';
  const mode = options.mode ?? 'fanout';
  const requested = options.maxDatagram ?? 65_000;
  if (!Number.isInteger(requested) || requested < 1) {
    throw new TransportError('TRANSPORT_OPTION', `maxDatagram must be a positive integer, got ${requested}`);
  }
  const maxDatagram = Math.min(requested, UDP_MAX_PAYLOAD);
  const type = host.includes(':') ? 'udp6' : 'udp4';

  const unicast = dgram.createSocket({ type });
  await bindSocket(unicast, options.port ?? 0, host);
  setBuffers(unicast, options);
  // The bound IP, not the host as written: peers see our packets come from an IP, and a seed
  // list is resolved to IPs (a member must know itself among the seeds).
  const bound = unicast.address();
  const address = formatAddress(bound.address, bound.port);

  let group: { socket: dgram.Socket; host: string; port: number } | undefined;
  if (mode === 'multicast') {
    try {
      group = await joinGroup(unicast, host, options);
    } catch (err) {
      unicast.close();
      throw err;
    }
  }

  return new UdpTransport(unicast, group, address, maxDatagram, isWildcard(host));
}

class UdpTransport implements Transport {
  readonly address: string;
  readonly maxDatagram: number;
  /** The unicast socket's receive buffer as granted (Linux reports twice the bytes it grants
   * for payload: the rest is its per-datagram bookkeeping). */
  readonly receiveBuffer?: number;
  private peers: readonly string[] = [];
  private handler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private readonly counters: TransportStats = { sent: 0, received: 0, dropped: 0 };
  /** Parsed `send` addresses: the same few peers are parsed once, not once per datagram. */
  private readonly targets = new Map<string, HostPort>();
  private closed: Promise<void> | undefined;
  /** Local `ip:port` strings that are us; used to recognise our own multicast echoes. */
  private readonly self: ReadonlySet<string>;
  readonly aliases?: readonly string[];
  /** An IPv6 socket: IPv4 destinations go as IPv4-mapped addresses (a udp6 socket refuses them). */
  private readonly v6: boolean;

  constructor(
    private readonly unicast: dgram.Socket,
    private readonly group: { socket: dgram.Socket; host: string; port: number } | undefined,
    address: string,
    maxDatagram: number,
    wildcard: boolean,
  ) {
    this.address = address;
    this.maxDatagram = maxDatagram;
    try {
      this.receiveBuffer = unicast.getRecvBufferSize();
    } catch {
      // Unknown: the state transfer window stays at its default.
    }
    const port = unicast.address().port;
    // A wildcard-bound socket sends from whichever interface routes the packet, so any local
    // address with our port is us.
    this.self = new Set(wildcard ? localAddresses().map((a) => formatAddress(a, port)) : [address]);
    if (wildcard) this.aliases = [...this.self];
    // After setup, socket errors (e.g. ICMP port unreachable surfacing as ECONNREFUSED) must not
    // crash the process: the 'error' event with no listener would throw.
    const onError = (): void => {
      this.counters.dropped++;
    };
    unicast.on('error', onError);
    // A dual-stack socket (bound to `::`) sees IPv4 peers as ::ffff:a.b.c.d: they are a.b.c.d to
    // everyone else (seeds, views), so that is how they are named here too (and sendTo maps back).
    this.v6 = unicast.address().family === 'IPv6';
    unicast.on('message', (msg, rinfo) =>
      this.deliver(msg, formatAddress(unmapped(rinfo.address), rinfo.port)),
    );
    if (group) {
      group.socket.on('error', onError);
      group.socket.on('message', (msg, rinfo) => {
        const from = formatAddress(rinfo.address, rinfo.port);
        // IP_MULTICAST_LOOP must stay on so members sharing this host hear each other, but
        // the kernel then also loops our own datagram back to us. Fan-out never sends to
        // ourselves, so delivering the echo would make the two modes differ and make the
        // layer above see every one of its multicasts twice (once locally, once echoed).
        // Our multicasts leave from the unicast socket, so the echo's source is our address.
        if (this.self.has(from)) return;
        this.deliver(msg, from);
      });
    }
  }

  multicast(bytes: Uint8Array): void {
    if (this.group) {
      this.sendTo(bytes, this.group.host, this.group.port);
      return;
    }
    for (const peer of this.peers) {
      if (!this.self.has(peer) && peer !== this.address) this.send(peer, bytes);
    }
  }

  send(to: string, bytes: Uint8Array): void {
    let target = this.targets.get(to);
    if (!target) {
      target = parseAddress(to);
      if (!target) {
        this.counters.dropped++;
        return;
      }
      // Bounded: addresses come from the network (strangers, clients); a full cache starts over.
      if (this.targets.size >= MAX_TARGETS) this.targets.clear();
      this.targets.set(to, target);
    }
    this.sendTo(bytes, target.host, target.port);
  }

  setPeers(addresses: readonly string[]): void {
    this.peers = [...addresses];
  }

  onPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.handler = handler;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    this.closed ??= Promise.all([
      closeSocket(this.unicast),
      this.group && closeSocket(this.group.socket),
    ]).then(() => undefined);
    return this.closed;
  }

  private sendTo(bytes: Uint8Array, host: string, port: number): void {
    if (bytes.length > this.maxDatagram || this.closed) {
      this.counters.dropped++;
      return;
    }
    try {
      // No completion callback: without one Node sends at once when the socket's queue is empty
      // (uv_udp_try_send) and allocates no closure and schedules no tick per datagram. A failed
      // send is then not reported (ICMP errors still reach the 'error' listener); the stack
      // above repairs lost datagrams either way, so `sent` counts datagrams handed to the kernel.
      this.unicast.send(bytes, port, this.v6 && isIPv4(host) ? `::ffff:${host}` : host);
      this.counters.sent++;
    } catch {
      // Synchronous failures: socket already closed, malformed host.
      this.counters.dropped++;
    }
  }

  private deliver(bytes: Uint8Array, from: string): void {
    if (!this.handler) {
      this.counters.dropped++;
      return;
    }
    this.counters.received++;
    this.handler(bytes, from);
  }
}

async function joinGroup(
  unicast: dgram.Socket,
  host: string,
  options: UdpOptions,
): Promise<{ socket: dgram.Socket; host: string; port: number }> {
  const groupHost = options.multicastGroup ?? '239.255.42.99';
  const groupPort = options.multicastPort ?? 45_299;
  const iface = options.multicastInterface ?? (isWildcard(host) ? undefined : host);
  // reuseAddr lets every member on this host bind the same group port.
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  // On Linux, binding to the group address (not 0.0.0.0) filters out unicast to this port and
  // other groups joined on the same port by other sockets (IP_MULTICAST_ALL defaults on).
  // Windows cannot bind to a multicast address, so it gets the wildcard.
  const bindHost = process.platform === 'win32' ? '0.0.0.0' : groupHost;
  await bindSocket(socket, groupPort, bindHost);
  try {
    socket.addMembership(groupHost, iface);
    if (iface) unicast.setMulticastInterface(iface);
    unicast.setMulticastTTL(options.ttl ?? 1);
    unicast.setMulticastLoopback(options.loopback ?? true);
  } catch (cause) {
    socket.close();
    throw new TransportError(
      'TRANSPORT_MULTICAST',
      `cannot join multicast group ${groupHost}:${groupPort} on ${iface ?? 'default interface'}: ${String(cause)}`,
      { cause },
    );
  }
  setBuffers(socket, options);
  return { socket, host: groupHost, port: groupPort };
}

function bindSocket(socket: dgram.Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (cause: Error): void => {
      socket.close();
      reject(
        new TransportError('TRANSPORT_BIND', `cannot bind UDP ${host}:${port}: ${cause.message}`, { cause }),
      );
    };
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/** Best effort: the kernel caps (Linux: net.core.rmem_max) or refuses large buffers. */
function setBuffers(socket: dgram.Socket, options: UdpOptions): void {
  try {
    socket.setRecvBufferSize(options.recvBufferSize ?? DEFAULT_BUFFER);
  } catch {
    // Keep the OS default; a small buffer only means more drops under bursts.
  }
  try {
    socket.setSendBufferSize(options.sendBufferSize ?? DEFAULT_BUFFER);
  } catch {
    // As above.
  }
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** `a.b.c.d` for an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`); others as they are. */
function unmapped(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : '';
  return isIPv4(v4) ? v4 : ip;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** Every local interface address (what a wildcard-bound socket receives at). */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}
