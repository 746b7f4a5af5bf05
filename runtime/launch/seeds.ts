/** Seed lists as people write them: `host:port` with host names, resolved to addresses. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatAddress, parseAddress } from '../transport/address.js';
import { LaunchError } from './errors.js';

/**
 * Splits `host:port` seeds (a list or one comma-separated string) and resolves host names to
 * IP addresses, as members compare addresses, not names. Resolve again whenever the set of
 * reachable hosts may have changed (e.g. before reconnecting a client).
 *
 * @throws {LaunchError} `SEED_NO_PORT` for a seed without a valid port, `SEED_UNRESOLVED` for a
 * host name that does not resolve; both name the seed.
 */
export async function resolveSeeds(seeds: string | readonly string[]): Promise<string[]> {
  const list = (typeof seeds === 'string' ? seeds.split(',') : seeds)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return Promise.all(
    list.map(async (seed) => {
      const hp = parseAddress(seed);
      if (!hp) {
        throw new LaunchError(
          'SEED_NO_PORT',
          `seed '${seed}' is not host:port (a port from 1 to 65535 is required)`,
        );
      }
      if (isIP(hp.host)) return formatAddress(hp.host, hp.port);
      try {
        // IPv4 first: the default transports bind 127.0.0.1, and `localhost` may list ::1 first.
        const { address } = await lookup(hp.host, { family: 4 }).catch(() => lookup(hp.host));
        return formatAddress(address, hp.port);
      } catch (e) {
        throw new LaunchError(
          'SEED_UNRESOLVED',
          `seed '${seed}': host '${hp.host}' does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
    }),
  );
}
