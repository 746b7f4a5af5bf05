import type { World } from '../world.js';

/**
 * Cut a client off from some members, for a scripted schedule: the simulator's partitions cut
 * members only, and clients are in the network too. `cut(client, member)` is asked for every
 * packet between the two, either way; true drops it.
 */
export function cutClients(w: World, cut: (client: string, member: string) => boolean): void {
  type Wire = {
    sendFrom(from: string, to: string, bytes: Uint8Array): void;
    transmit(src: { address: string }, to: string | null, bytes: Uint8Array): void;
  };
  const wire = w as unknown as Wire;
  const sendFrom = wire.sendFrom.bind(w);
  wire.sendFrom = (from, to, bytes) => {
    if (!cut(from, to)) sendFrom(from, to, bytes);
  };
  const transmit = wire.transmit.bind(w);
  wire.transmit = (src, to, bytes) => {
    if (to === null || !cut(to, src.address)) transmit(src, to, bytes);
  };
}
