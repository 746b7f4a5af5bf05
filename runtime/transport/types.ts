/**
 * A transport moves opaque datagrams. It knows nothing of groups or members: the bottom
 * layer of the stack (`com`) turns members into addresses. Addresses are `host:port`.
 */
export interface Transport {
  /** This endpoint's own address, as peers see it (`host:port`). */
  readonly address: string;
  /** Every `ip:port` this endpoint receives at, when it is bound to the wildcard (`0.0.0.0`):
   * a seed list names it by one of them. Absent: `address` alone. */
  readonly aliases?: readonly string[];
  /** Largest datagram the transport carries; the stack fragments above this. */
  readonly maxDatagram: number;
  /**
   * Bytes of datagrams the endpoint can hold unread (UDP: the socket's receive buffer as the
   * kernel granted it), if known: a burst larger than this is dropped and repaired by NAKs.
   * A joiner sizes its state transfer window by it. Absent: unknown, or a stream that pushes
   * back (TCP).
   */
  readonly receiveBuffer?: number;
  /** Send to every peer of the group: IP multicast, or unicast fan-out to `setPeers`. */
  multicast(bytes: Uint8Array): void;
  /** Send to one address. */
  send(to: string, bytes: Uint8Array): void;
  /** Addresses a fan-out multicast reaches (ignored by IP multicast). */
  setPeers(addresses: readonly string[]): void;
  /** Register the receive callback; one per transport. */
  onPacket(handler: (bytes: Uint8Array, from: string) => void): void;
  /** Counters for diagnostics: sent, received, dropped (oversized, send errors). */
  stats(): TransportStats;
  close(): Promise<void>;
}

/** A transport's datagram counters since it opened. */
export interface TransportStats {
  /** Datagrams (or frames) handed to the socket. */
  sent: number;
  /** Datagrams (or frames) received and passed up. */
  received: number;
  /** Not sent or not passed up: oversized, a bad address, a socket error. */
  dropped: number;
}
