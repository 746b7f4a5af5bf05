import { LayerRegistry } from '../stack/builder.js';
import { com } from './com.js';
import { nak } from './nak.js';
import { pack } from './pack.js';

export { com, nak, pack };

/** Every layer troupe ships, by name. */
export function defaultRegistry(): LayerRegistry {
  return new LayerRegistry([com, nak, pack]);
}
