import { TroupeError } from '../errors.js';

/**
 * A replica process cannot start as configured. Codes: `KEY_REQUIRED` (neither a key nor
 * `--insecure`), `KEY_INVALID`, `KEY_FILE`, `SEED_NO_PORT`, `SEED_UNRESOLVED`, `CONFIG`
 * (a bad flag, environment variable or config file value), `MODEL_NOT_FOUND`,
 * `SERVICE_NOT_FOUND`, `SERVICE_LOAD` (the module does not parse, e.g. decorators left as
 * syntax by target ESNext), `JOIN_FAILED` (no view in time: the message says what was heard from
 * which seed: another group, another key, no key, members but no majority, or silence).
 * The message says what was seen and what to do.
 */
export class LaunchError extends TroupeError {}
