/**
 * Membership memory on disk: the last view this member installed, kept in a small file so that a
 * process that crashed and restarted at the same address remembers it, as a member that rejoins in
 * its process does. The bootstrap vote reads it (docs/protocol.md, "Membership memory"): a process
 * that was in a view counts towards founding a group only while the members of that view it
 * cannot account for are at most half of it, so a restarted seed cannot help found a second group
 * beside a primary that went on without it. Without the file a crashed process remembers nothing
 * (docs/protocol.md, "Limitations").
 *
 * The file is written before any packet of the turn that installed the view leaves (the driver
 * saves first, then transmits), to a temporary file that is synced and renamed over the old one:
 * a crash at any point leaves the old view or the new one, never a torn file.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { MembershipFileError } from '../errors.js';
import { nodeOf } from '../stack/member.js';
import type { LastView } from '../stack/types.js';

/** Files this process has written. */
const written = new Set<string>();

/** The file's format version. */
const FORMAT = 1;

interface Stored {
  troupe: number;
  group: string;
  members: string[];
  addresses: string[];
  self: string;
}

const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');

/**
 * The view remembered in `path` for group `groupName`, or undefined when there is no file.
 * @throws MembershipFileError when the file cannot be read or parsed, or names another group
 */
export function loadMembership(path: string, groupName: string): LastView | undefined {
  // A member reading the file takes it over (a group restarted in this process has a new node).
  written.delete(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MembershipFileError(`cannot read the membership file ${path}: ${(e as Error).message}`, path, {
      cause: e,
    });
  }
  let s: Partial<Stored>;
  try {
    s = JSON.parse(text) as Partial<Stored>;
  } catch (e) {
    throw new MembershipFileError(`the membership file ${path} is not JSON`, path, { cause: e });
  }
  if (
    s === null ||
    typeof s !== 'object' ||
    s.troupe !== FORMAT ||
    typeof s.group !== 'string' ||
    !strings(s.members) ||
    !strings(s.addresses) ||
    s.members.length !== s.addresses.length ||
    s.members.length === 0 ||
    typeof s.self !== 'string'
  )
    throw new MembershipFileError(`the membership file ${path} is not a troupe membership file`, path);
  if (s.group !== groupName)
    throw new MembershipFileError(
      `the membership file ${path} is group '${s.group}''s, not '${groupName}''s`,
      path,
    );
  return { members: s.members, addresses: s.addresses, self: s.self };
}

/**
 * Replaces `path` with `last` (written to `path.<pid>.tmp`, synced, renamed).
 * @throws MembershipFileError when it cannot be written, or another process's member wrote it since
 *   this process last did (two replicas share the directory)
 */
export function saveMembership(path: string, groupName: string, last: LastView): void {
  // A file this process wrote before, now naming a member of another process: two replicas
  // share a directory, and each would restart remembering the other's view (a new user's trial
  // met only "ENOENT rename ...tmp"). Refused, so the warning says what is wrong.
  if (written.has(path)) {
    let other: string | undefined;
    try {
      const self = (JSON.parse(readFileSync(path, 'utf8')) as Partial<Stored>).self;
      if (typeof self === 'string' && nodeOf(self) !== nodeOf(last.self)) other = self;
    } catch {
      // Unreadable or gone: nothing to compare; the write below says what it can.
    }
    if (other !== undefined)
      throw new MembershipFileError(
        `another replica (member ${other}) writes the membership file ${path} too: give each replica a --data-dir of its own`,
        path,
      );
  }
  const stored: Stored = {
    troupe: FORMAT,
    group: groupName,
    members: [...last.members],
    addresses: [...last.addresses],
    self: last.self,
  };
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(stored)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    written.add(path);
    // The rename itself is durable only once the directory is synced.
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    throw new MembershipFileError(`cannot write the membership file ${path}: ${(e as Error).message}`, path, {
      cause: e,
    });
  }
}
