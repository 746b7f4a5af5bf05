/**
 * Why a replica could not join: what it heard from whom while it tried. A member answers a Join
 * of another group or key with a refusal notice, which `joinGroup` turns into a typed error
 * (`JoinWatch`); this adds what else reached the joiner (peers starting at the same time
 * contact it too) and which seeds stayed silent.
 */

import type { Transport } from '../transport/types.js';
import { type AuthKey, checkAuth, type KeyRing, keyRing, PacketAuth } from '../wire/auth.js';
import { DecodeError } from '../wire/errors.js';
import { decodeFixedHeader, FIXED_HEADER_BYTES, Flags, groupIdOf } from '../wire/packet.js';
import { readRefusal } from '../wire/refusal.js';

type Heard = 'member' | 'other-group' | 'other-key' | 'no-key' | 'has-key';

const WHY: Record<Exclude<Heard, 'member'>, string> = {
  'other-group': 'sends packets for another group (check the group name)',
  'other-key': 'signs its packets with another key (check the key file)',
  'no-key': 'runs without a key while this replica has one',
  'has-key': 'runs with a key while this replica has none',
};

/** What a refusal notice's reason says about the member that sent it. */
const REFUSED: Record<'group' | 'key' | 'needkey' | 'nokey', Exclude<Heard, 'member'>> = {
  group: 'other-group',
  key: 'other-key',
  needkey: 'has-key',
  nokey: 'no-key',
};

/**
 * Addresses a witness keeps (and warns of) at most: a sender that changes its source port with
 * each datagram would otherwise make it keep, and print, one per datagram.
 */
const MAX_HEARD = 256;

/**
 * Watches a transport's incoming packets during a join and explains a failed one; {@link stop}
 * ends the watch once the replica joined.
 */
export class JoinWitness {
  private readonly heard = new Map<string, Heard>();
  private stopped = false;
  private readonly groupId: number;
  private readonly auth: PacketAuth | undefined;
  private readonly ring: KeyRing | undefined;

  constructor(
    groupName: string,
    key: AuthKey | undefined,
    /** Called once per address the first time it is seen misconfigured. */
    private readonly onMismatch: (address: string, why: string) => void = () => {},
  ) {
    this.groupId = groupIdOf(groupName);
    this.auth = key !== undefined ? new PacketAuth(key) : undefined;
    this.ring = key !== undefined ? keyRing(key) : undefined;
  }

  /** `transport`, with every incoming packet shown to this witness first. */
  watch<T extends Transport>(transport: T): T {
    return new Proxy(transport, {
      get: (target, prop) => {
        if (prop === 'onPacket') {
          return (handler: (bytes: Uint8Array, from: string) => void) =>
            target.onPacket((bytes, from) => {
              this.see(bytes, from);
              handler(bytes, from);
            });
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  /**
   * The join is over: what else arrives is not looked at (it watched the replica's whole life,
   * and kept and printed every address that sent another group's or key's packet, without end).
   */
  stop(): void {
    this.stopped = true;
    this.heard.clear();
  }

  private see(bytes: Uint8Array, from: string): void {
    if (this.stopped || this.heard.get(from) === 'member') return;
    if (this.heard.size >= MAX_HEARD && !this.heard.has(from)) return;
    // A member's refusal notice is never signed, but the join error already names what it says:
    // so does the witness (else it called the refusing seed silent).
    const refusal = readRefusal(bytes);
    if (refusal) {
      this.record(from, REFUSED[refusal.reason]);
      return;
    }
    let h: ReturnType<typeof decodeFixedHeader>;
    try {
      h = decodeFixedHeader(bytes);
    } catch {
      return; // Not troupe's: says nothing about configuration.
    }
    let heard: Heard;
    const tagged = h.tagLength > 0;
    if (h.groupId !== this.groupId) heard = 'other-group';
    else if (!this.auth) heard = tagged ? 'has-key' : 'member';
    else if (!tagged) heard = 'no-key';
    else if ((h.flags & Flags.Addressed) !== 0 && h.tagLength >= 16) {
      // Bound to its receiver's endpoint, which the witness does not know: only the key id in
      // the tag can be checked. A key we hold says nothing either way (the stack judges it).
      const keyId = new DataView(bytes.buffer, bytes.byteOffset + FIXED_HEADER_BYTES + 12, 4).getUint32(0);
      if (this.ring?.find(keyId)) return;
      heard = 'other-key';
    } else {
      try {
        checkAuth(this.auth, bytes, h);
        heard = 'member';
      } catch (e) {
        // A stale time (a clock far off: members handshake past that) or a replay is not a key.
        if (!(e instanceof DecodeError) || e.code !== 'DECODE_UNAUTHENTICATED') return;
        heard = 'other-key';
      }
    }
    this.record(from, heard);
  }

  private record(from: string, heard: Heard): void {
    const before = this.heard.get(from);
    this.heard.set(from, heard);
    if (heard !== 'member' && before !== heard) this.onMismatch(from, WHY[heard]);
  }

  /** One sentence: what was heard from the seeds (and anyone else) while joining. */
  explain(seeds: readonly string[], self: string): string {
    const others = seeds.filter((s) => s !== self);
    const parts: string[] = [];
    for (const [address, heard] of this.heard) {
      if (heard !== 'member') parts.push(`${address} ${WHY[heard]}`);
    }
    // Its own packets come back to it (fan-out to every seed): they are no member's answer.
    const members = [...this.heard].filter(([a, h]) => h === 'member' && a !== self).map(([a]) => a);
    const silent = others.filter((s) => !this.heard.has(s));
    if (members.length > 0) parts.push(`heard members at ${members.join(', ')} but no view formed`);
    if (silent.length > 0)
      parts.push(`nothing answered at ${silent.join(', ')} (not running, or unreachable)`);
    if (others.length === 0 && parts.length === 0) parts.push('no seeds besides itself');
    return parts.join('; ');
  }
}
