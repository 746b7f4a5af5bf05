// The membership layer lives in ./gms/ (one file per role); this path stays for importers.
export { GmsKind } from './gms/codec.js';
export { type GmsOptions, gms } from './gms/layer.js';
export { yieldsTo } from './gms/lineage.js';
