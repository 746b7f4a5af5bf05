/**
 * Whether a socket can reach an address at all: one bound to a loopback address sends only to
 * loopback addresses (to another host the kernel refuses the datagram, EINVAL), so a member or
 * client left on the default `127.0.0.1` hears nothing from seeds on other hosts, and nothing
 * says why. The join and connect errors add {@link loopbackHint}.
 */

/** The host of a `host:port` or `[v6]:port` address. */
export function hostOf(address: string): string {
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}

/** Whether `host` is a loopback address (or the name `localhost`). */
export function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

/**
 * A sentence for an error that heard nothing, when this side listens on a loopback address and
 * a seed is on another host; `''` otherwise.
 */
export function loopbackHint(address: string, seeds: readonly string[], who = 'This member'): string {
  if (!isLoopback(hostOf(address))) return '';
  const remote = seeds.find((s) => !isLoopback(hostOf(s)));
  return remote === undefined
    ? ''
    : ` ${who} listens on a loopback address (${address}), from which no packet reaches ${remote}: bind the transport to this host's address on that network (udp({ host }), --host).`;
}
