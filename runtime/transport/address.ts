/** A parsed `host:port` transport address. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `host:port`. Splits on the last colon so a bracket-less IPv6 host keeps its colons;
 * returns `undefined` rather than throwing because bad addresses reach us from the network
 * and from the stack, and a transport counts them as drops instead of failing.
 */
export function parseAddress(address: string): HostPort | undefined {
  const i = address.lastIndexOf(':');
  if (i <= 0) return undefined;
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = address.slice(i + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/** Formats an address the way peers see it (IPv6 hosts bracketed). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether `address`' host is the wildcard (`0.0.0.0`, `::`): a socket bound to every
 * interface, whose packets come from one of them. */
export function isWildcard(address: string): boolean {
  const host = parseAddress(address)?.host;
  return host === '0.0.0.0' || host === '::';
}

/**
 * Whom a source host stands for when sharing out a budget by host: an IPv4 address as it is (an
 * IPv4-mapped IPv6 one as its IPv4), an IPv6 address by its /64 prefix, the least a site is
 * given: one host can use every address of its /64 without spoofing anything.
 *
 * @example
 * ```ts
 * hostShareKey('2001:db8:0:1::5'); // '2001:db8:0:1::/64'
 * hostShareKey('::ffff:10.0.0.7'); // '10.0.0.7'
 * ```
 */
export function hostShareKey(host: string): string {
  if (!host.includes(':')) return host;
  const h = host.toLowerCase().split('%')[0]!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) return mapped[1]!;
  const [head = '', tail] = h.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
