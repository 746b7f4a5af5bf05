import type { Transport } from '../../runtime/transport/types.js';

/** A transport that refuses everything to and from chosen addresses (a cut link, both ways when both ends cut). */
export class Cuttable implements Transport {
  readonly blocked = new Set<string>();
  constructor(private readonly inner: Transport) {}
  get address(): string {
    return this.inner.address;
  }
  get maxDatagram(): number {
    return this.inner.maxDatagram;
  }
  multicast(bytes: Uint8Array): void {
    this.inner.multicast(bytes);
  }
  send(to: string, bytes: Uint8Array): void {
    if (!this.blocked.has(to)) this.inner.send(to, bytes);
  }
  setPeers(addresses: readonly string[]): void {
    this.inner.setPeers(addresses);
  }
  onPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.inner.onPacket((bytes, from) => {
      if (!this.blocked.has(from)) handler(bytes, from);
    });
  }
  stats() {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
