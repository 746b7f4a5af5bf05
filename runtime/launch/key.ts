/**
 * Group keys for launchers: read from a file or the `TROUPE_KEY` environment variable (hex or
 * base64), never from a command-line value (which any user on the host can read in `ps`).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { LaunchError } from './errors.js';

/** Key length `troupe keygen` writes, and the least a launcher accepts. */
export const LAUNCH_KEY_BYTES = 32;

/**
 * Decodes a key written as hex or base64 (surrounding white space ignored); `from` names its
 * source in errors. At least {@link LAUNCH_KEY_BYTES} bytes, else `LaunchError` `KEY_INVALID`.
 *
 * @example
 * ```ts
 * const key = parseKey(process.env.TROUPE_KEY ?? '', 'TROUPE_KEY');
 * ```
 */
export function parseKey(text: string, from: string): Buffer {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) key = Buffer.from(t, 'base64');
  if (!key) throw new LaunchError('KEY_INVALID', `${from}: a key must be hex or base64`);
  if (key.length < LAUNCH_KEY_BYTES) {
    throw new LaunchError(
      'KEY_INVALID',
      `${from}: the key is ${key.length} bytes, at least ${LAUNCH_KEY_BYTES} are needed (make one with 'troupe keygen')`,
    );
  }
  return key;
}

/**
 * Reads and decodes a key file (as `troupe keygen` or {@link writeKeyFile} write it).
 *
 * @example
 * ```ts
 * const client = await connect({ group: 'bank', seeds, key: readKeyFile('bank.key') });
 * ```
 */
export function readKeyFile(file: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new LaunchError('KEY_FILE', `cannot read key file '${file}': ${(e as Error).message}`);
  }
  return parseKey(text, `key file '${file}'`);
}

/**
 * Writes a fresh random key as hex to `file`, readable by its owner only; never overwrites.
 * Copy the same file to every member and client of the group.
 *
 * @example
 * ```ts
 * writeKeyFile('bank.key'); // the same as `npx troupe keygen bank.key`
 * ```
 */
export function writeKeyFile(file: string): void {
  try {
    fs.writeFileSync(file, `${randomBytes(LAUNCH_KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' ? 'it exists (a key is never overwritten)' : (e as Error).message;
    throw new LaunchError('KEY_FILE', `cannot write key file '${file}': ${why}`);
  }
}
