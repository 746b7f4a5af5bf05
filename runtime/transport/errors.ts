import { TroupeError } from '../errors.js';

/**
 * A transport could not be set up: a socket failed to bind or listen, a multicast group
 * could not be joined, or an option is invalid. Runtime send/receive failures are never
 * thrown; they are counted in `stats()` because the stack above retransmits.
 *
 * Codes: `TRANSPORT_BIND` (bind/listen failed), `TRANSPORT_MULTICAST` (joining the group
 * failed), `TRANSPORT_OPTION` (an option is out of range).
 *
 * @example
 * ```ts
 * try { await udp({ port: 80 }); }
 * catch (e) { if (e instanceof TransportError && e.code === 'TRANSPORT_BIND') retryElsewhere(); }
 * ```
 */
export class TransportError extends TroupeError {}
