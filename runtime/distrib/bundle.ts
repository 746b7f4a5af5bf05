import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TroupeError } from '../errors.js';

/** Typed errors of `troupe dist`. */
export class DistError extends TroupeError {
  declare readonly code: 'DIST_USAGE' | 'DIST_BAD_BUNDLE' | 'DIST_UNSAFE_PATH' | 'DIST_DIGEST' | 'DIST_KEY';
}

/** One file of a bundle: where it goes, its metadata and its digest. */
export interface BundleEntry {
  /** Relative path with `/` separators, never absolute, never with `..`. */
  path: string;
  mode: number;
  mtimeMs: number;
  size: number;
  /** SHA-256 of the content, hex. */
  sha256: string;
}

const MAGIC = 'TRDIST1\n';

/** Files under each of `roots` (a file, or a directory walked recursively), named relative to
 * the root's parent, so `dist a/b/dir` arrives as `dir/...`. */
export async function collect(roots: readonly string[]): Promise<{ entry: BundleEntry; abs: string }[]> {
  const out: { entry: BundleEntry; abs: string }[] = [];
  const walk = async (abs: string, rel: string, depth: number): Promise<void> => {
    if (depth > 64) throw new DistError('DIST_USAGE', `directory nesting too deep at ${abs}`);
    const st = await fs.lstat(abs);
    if (st.isDirectory()) {
      for (const name of (await fs.readdir(abs)).sort())
        await walk(path.join(abs, name), `${rel}/${name}`, depth + 1);
    } else if (st.isFile()) {
      const data = await fs.readFile(abs);
      out.push({
        abs,
        entry: {
          path: rel,
          mode: st.mode & 0o7777,
          mtimeMs: Math.floor(st.mtimeMs),
          size: data.length,
          sha256: createHash('sha256').update(data).digest('hex'),
        },
      });
    } // symlinks and devices are not distributed
  };
  for (const r of roots) await walk(path.resolve(r), path.basename(path.resolve(r)), 0);
  return out;
}

/** One blob: magic, manifest length (u32), manifest JSON, then every file's bytes in order. */
export async function pack(files: readonly { entry: BundleEntry; abs: string }[]): Promise<Uint8Array> {
  const manifest = Buffer.from(JSON.stringify(files.map((f) => f.entry)));
  const head = Buffer.alloc(MAGIC.length + 4);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32BE(manifest.length, MAGIC.length);
  const parts: Buffer[] = [head, manifest];
  for (const f of files) parts.push(await fs.readFile(f.abs));
  return Buffer.concat(parts);
}

function safeRel(p: unknown): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 4096 || p.includes('\0'))
    throw new DistError('DIST_UNSAFE_PATH', 'bundle path must be a non-empty string');
  const parts = p.split('/');
  if (p.startsWith('/') || parts.some((s) => s === '..' || s === '' || s === '.'))
    throw new DistError('DIST_UNSAFE_PATH', `bundle path ${JSON.stringify(p)} escapes the target directory`);
  return p;
}

/** Split a blob into its manifest and each file's bytes, refusing anything malformed. */
export function unpack(blob: Uint8Array): { entry: BundleEntry; data: Uint8Array }[] {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < MAGIC.length + 4 || b.toString('latin1', 0, MAGIC.length) !== MAGIC)
    throw new DistError('DIST_BAD_BUNDLE', 'not a dist bundle');
  const mlen = b.readUInt32BE(MAGIC.length);
  let off = MAGIC.length + 4 + mlen;
  if (off > b.length) throw new DistError('DIST_BAD_BUNDLE', 'manifest past the end');
  let raw: unknown;
  try {
    raw = JSON.parse(b.toString('utf8', MAGIC.length + 4, off));
  } catch (cause) {
    throw new DistError('DIST_BAD_BUNDLE', `manifest is not JSON: ${String(cause)}`);
  }
  if (!Array.isArray(raw)) throw new DistError('DIST_BAD_BUNDLE', 'manifest is not a list');
  return raw.map((e: Record<string, unknown>) => {
    const size = e.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || off + size > b.length)
      throw new DistError('DIST_BAD_BUNDLE', 'file size past the end');
    const entry: BundleEntry = {
      path: safeRel(e.path),
      mode: Number(e.mode) & 0o7777,
      mtimeMs: Number(e.mtimeMs),
      size,
      sha256: String(e.sha256),
    };
    const data = b.subarray(off, off + size);
    off += size;
    if (createHash('sha256').update(data).digest('hex') !== entry.sha256)
      throw new DistError('DIST_DIGEST', `digest mismatch for ${entry.path}`);
    return { entry, data };
  });
}

/**
 * Place files under `dir`: a file already there with the same digest is left alone (counted as
 * held); others are written to a temporary name beside the target, fsynced, given their mode
 * and mtime, then renamed over it, so a reader never sees a half-written file.
 */
export async function place(
  dir: string,
  files: readonly { entry: BundleEntry; data: Uint8Array }[],
): Promise<{ written: number; held: number; bytes: number }> {
  let written = 0;
  let held = 0;
  let bytes = 0;
  for (const { entry, data } of files) {
    const target = path.join(dir, ...entry.path.split('/'));
    const existing = await fs.readFile(target).catch(() => undefined);
    if (existing && createHash('sha256').update(existing).digest('hex') === entry.sha256) {
      held++;
      continue;
    }
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(
      path.dirname(target),
      `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.chmod(entry.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.utimes(tmp, new Date(entry.mtimeMs), new Date(entry.mtimeMs));
    await fs.rename(tmp, target);
    written++;
    bytes += data.length;
  }
  return { written, held, bytes };
}
