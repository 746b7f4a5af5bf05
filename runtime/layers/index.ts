import { afdp } from '../bulk/afdp.js';
import { LayerRegistry } from '../stack/builder.js';
import { batch } from './batch.js';
import { com } from './com.js';
import { fc } from './fc.js';
import { frag } from './frag.js';
import { gms } from './gms.js';
import { nak } from './nak.js';
import { pack } from './pack.js';
import { seq } from './seq.js';
import { stable } from './stable.js';
import { total } from './total.js';

export { batch, com, fc, frag, gms, nak, pack, seq, stable, total };

/** Every layer troupe ships, by name. */
export function defaultRegistry(): LayerRegistry {
  return new LayerRegistry([batch, com, nak, pack, stable, frag, gms, total, seq, fc, afdp]);
}

/** The full group stack, top first: flow control, total order (a sequencer waiting for a
 * quorum), membership, fragmentation, stability, reliable streams, packing, wire. */
export const GROUP_STACK = 'batch:fc:seq:gms:frag:stable:nak:pack:com';

/** The group stack with RMP's rotating token for the total order (every member sets the pace). */
export const TOKEN_STACK = 'batch:fc:total:gms:frag:stable:nak:pack:com';
