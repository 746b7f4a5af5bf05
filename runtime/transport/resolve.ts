import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatAddress, parseAddress } from './address.js';

/**
 * The IP address of `host` (unchanged if it is one): IPv4 first, as the default transports bind
 * 127.0.0.1 and `localhost` may list ::1 first. Members compare addresses, not names.
 *
 * @throws the resolver's error for a name that does not resolve.
 */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  const { address } = await lookup(host, { family: 4 }).catch(() => lookup(host));
  return address;
}

/**
 * `host:port` with its host resolved ({@link resolveHost}); as written if it is no `host:port`
 * or the name does not resolve (a join then names it among the seeds nobody answered at).
 */
export async function resolveAddressLeniently(address: string): Promise<string> {
  const hp = parseAddress(address);
  if (!hp || isIP(hp.host)) return address;
  return resolveHost(hp.host).then(
    (ip) => formatAddress(ip, hp.port),
    () => address,
  );
}
