/** Emits `<service>.model.ts`: the contract as a `const` plus the service's request validator. */
import type { IdlFile, ServiceDecl } from '../idl/model.js';
import { camel, header, pascal } from './emit-ts.js';

/** Returns the model module source (unformatted; the caller formats it). */
export function emitModel(
  model: IdlFile,
  svc: ServiceDecl,
  idlImport: string,
  head = header(svc.name),
): string {
  const c = camel(svc.name);
  return [
    head,
    `import { createValidator, type IdlFile } from '${idlImport}';`,
    '',
    `/** The '${svc.name}' contract; the server loads types from here, never from reflection. */`,
    `export const ${c}Model: IdlFile = ${JSON.stringify(model, null, 2)};`,
    '',
    `/** Checks a '${svc.name}' request's arguments against {@link ${c}Model} before the method runs. */`,
    `export const validate${pascal(svc.name)}Request = createValidator(${c}Model, '${svc.name}');`,
    '',
  ].join('\n');
}
