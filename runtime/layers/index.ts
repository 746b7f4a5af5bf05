import { LayerRegistry } from '../stack/builder.js';
import { com } from './com.js';
import { nak } from './nak.js';

export { com, nak };

/** Every layer troupe ships, by name. */
export function defaultRegistry(): LayerRegistry {
  return new LayerRegistry([com, nak]);
}
