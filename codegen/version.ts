/** Generator version written into every generated file's header; bump when output changes. */
export const GENERATOR_VERSION = '0.1.0';
