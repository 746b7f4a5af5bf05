import { LayerRegistry } from '../stack/builder.js';
import { com } from './com.js';
import { fc } from './fc.js';
import { frag } from './frag.js';
import { gms } from './gms.js';
import { nak } from './nak.js';
import { pack } from './pack.js';
import { stable } from './stable.js';
import { total } from './total.js';

export { com, fc, frag, gms, nak, pack, stable, total };

/** Every layer troupe ships, by name. */
export function defaultRegistry(): LayerRegistry {
  return new LayerRegistry([com, nak, pack, stable, frag, gms, total, fc]);
}

/** The full group stack, top first: flow control, total order, membership, fragmentation,
 * stability, reliable streams, packing, wire. */
export const GROUP_STACK = 'fc:total:gms:frag:stable:nak:pack:com';
