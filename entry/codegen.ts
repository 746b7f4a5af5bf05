/**
 * `troupe/codegen`: extraction of `@Service` classes (with ts-morph, the only part of troupe
 * that loads a TypeScript compiler) and stub generation, for build tools. The `troupe gen`
 * command runs the same code.
 */
export { type Io as CliIo, main } from '../codegen/cli.js';
export { type ExtractOptions, extractServices } from '../codegen/extract.js';
export { type GenerateOptions, generateFiles } from '../codegen/generate.js';
