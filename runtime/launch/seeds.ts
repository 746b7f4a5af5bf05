/** Seed lists as people write them: `host:port` with host names, resolved to addresses. */
import { formatAddress, parseAddress } from '../transport/address.js';
import { resolveHost } from '../transport/resolve.js';
import { LaunchError } from './errors.js';

/**
 * Splits `host:port` seeds (a list or one comma-separated string) and resolves host names to
 * IP addresses, as members compare addresses, not names. Resolve again whenever the set of
 * reachable hosts may have changed (e.g. before reconnecting a client).
 *
 * @throws {LaunchError} `SEED_NO_PORT` for a seed without a valid port, `SEED_UNRESOLVED` for a
 * host name that does not resolve; both name the seed.
 *
 * @example
 * ```ts
 * await resolveSeeds('bank-1.internal:7000,bank-2.internal:7000'); // ['10.0.0.1:7000', '10.0.0.2:7000']
 * ```
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
      try {
        return formatAddress(await resolveHost(hp.host), hp.port);
      } catch (e) {
        throw new LaunchError(
          'SEED_UNRESOLVED',
          `seed '${seed}': host '${hp.host}' does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
    }),
  );
}
