import { LayerRegistry } from '../stack/builder.js';
import { com } from './com.js';
import { gms } from './gms.js';
import { nak } from './nak.js';
import { pack } from './pack.js';
import { total } from './total.js';

export { com, gms, nak, pack, total };

/** Every layer troupe ships, by name. */
export function defaultRegistry(): LayerRegistry {
  return new LayerRegistry([com, nak, pack, gms, total]);
}
