import { endpointOf, type MemberId, memberId } from '../stack/member.js';
import {
  type DownEvent,
  detach,
  fromHeaders,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type Msg,
  type UpEvent,
} from '../stack/types.js';
import { hostShareKey, isWildcard, parseAddress } from '../transport/address.js';
import { type AuthKey, checkAuth, PacketAuth } from '../wire/auth.js';
import { DecodeError } from '../wire/errors.js';
import {
  decodeFixedHeader,
  decodePacketBody,
  type Endpoint,
  encodePacket,
  Flags,
  groupIdOf,
  MAX_PACKET_BYTES,
  type Packet,
  PacketType,
} from '../wire/packet.js';
import {
  encodeRefusal,
  isRefusalHeader,
  keyRefusal,
  REFUSALS_PER_SEC,
  type Refusal,
  TokenBucket,
} from '../wire/refusal.js';

export interface ComOptions {
  /** Largest packet accepted from the transport. */
  maxPacket: number;
  /**
   * The group key (at least 32 bytes, or `{ current, previous }` during a roll, or a shared
   * `KeyRing`). When set, every packet is signed and every received packet must verify, be
   * fresh and be meant for this member (docs/protocol.md, "Authentication"); when unset,
   * packets carrying the `Authenticated` flag are refused.
   */
  key?: AuthKey;
  /**
   * Instead of `key`: the signer and replay windows to use, shared by the stacks of a member's
   * successive incarnations (the `Group` driver passes one), so a rejoined member still refuses
   * what its earlier incarnation accepted.
   */
  auth?: PacketAuth;
  /** With `key`: encrypt every packet (AES-256-GCM). Every member must agree. */
  encrypt?: boolean;
  /** With `key`: largest difference between a packet's time and this clock (default 60 s). */
  freshnessMs?: number;
  /** With `key`: the wall clock stamped into and checked against packets (default `Date.now`). */
  clock?: () => number;
  /**
   * With `key`: accept a sender only after a handshake with it (default true): its clock may
   * then be off from ours by any amount, and nothing it sent before the handshake is accepted
   * (docs/protocol.md, "Handshake").
   */
  handshake?: boolean;
  /** Replay window per sender, in counters (default 1024). */
  replayWindow?: number;
  /** Sender endpoints whose replay windows are kept (default 4096). */
  maxSenders?: number;
  /** Senders outside the view whose address is kept (joiners, and before the first view
   * everyone); the least recently heard goes first (default 256). */
  maxStrangers: number;
  /** New senders outside the view admitted per second (token bucket, burst of as many); packets
   * of others are dropped until tokens return (default 100). */
  strangersPerSec: number;
}

/**
 * COM, the bottom layer: turns messages into packets and packets into messages, maps members
 * to transport addresses, refuses packets of other groups and loops casts back to the sender
 * (every layer above sees its own casts arrive like anyone else's).
 */
class Com implements Layer {
  private readonly groupId: number;
  private readonly self;
  private readonly addresses = new Map<MemberId, string>();
  /** Without a key, before the first view: senders whose address membership proved (`pin`),
   * least recently pinned first. Sent to there; their stack packets from elsewhere are refused. */
  private readonly pins = new Map<MemberId, string>();
  /** Sender ids by node: see `idOf`. */
  private readonly ids = new Map<number, { inc: number; id: MemberId }>();
  private readonly counters = {
    sent: 0,
    received: 0,
    refused: 0,
    foreignGroup: 0,
    echoes: 0,
    noAddress: 0,
    /** Packets refused by authentication (no tag, bad tag, or a tag without a key here). */
    unauthenticated: 0,
    /** Authentic packets refused as replays. */
    replayed: 0,
    /** Authentic packets refused because their time is too far from this clock. */
    stale: 0,
    /** Authentic, not replays, but older than their sender's newest, from another address: the
     * address was not moved (a replay through another member's gap, or a reordered move). */
    staleAddress: 0,
    /** Authentic packets of a sender without a handshake yet (it is challenged). */
    unknownSender: 0,
    /** Without a key: packets in a view member's name from another address than its own. */
    addressMismatch: 0,
    /** Without a key: stack packets of a pinned sender outside the view from another address
     * than its pin (see the `pin` event). */
    pinMismatch: 0,
    /** Packets of a new sender outside the view dropped by the admission rate. */
    strangerLimited: 0,
    /** Addresses of senders outside the view forgotten to stay within `maxStrangers`. */
    strangersEvicted: 0,
    /** Refusal notices sent to joiners of another group or key (see {@link Refusal}). */
    refusalsSent: 0,
  };
  private readonly refusalTokens = new TokenBucket(REFUSALS_PER_SEC);
  /** Members of the latest view; others are strangers. */
  private members = new Set<MemberId>();
  /** Strangers whose address is known, least recently heard first. */
  private readonly strangers = new Map<MemberId, true>();
  private readonly strangerTokens: TokenBucket;
  /** Per source host, its own share of the new strangers admitted (see `admitStranger`), the
   * least recently heard host first. */
  private readonly hostTokens = new Map<string, TokenBucket>();
  private readonly auth: PacketAuth | undefined;

  constructor(
    private readonly ctx: LayerContext,
    private readonly opts: ComOptions,
  ) {
    this.groupId = groupIdOf(ctx.groupName);
    this.strangerTokens = new TokenBucket(opts.strangersPerSec);
    this.self = endpointOf(ctx.self);
    this.auth =
      opts.auth ??
      (opts.key === undefined
        ? undefined
        : new PacketAuth(opts.key, {
            ...(opts.replayWindow !== undefined ? { window: opts.replayWindow } : {}),
            ...(opts.maxSenders !== undefined ? { maxSenders: opts.maxSenders } : {}),
            ...(opts.encrypt !== undefined ? { encrypt: opts.encrypt } : {}),
            ...(opts.freshnessMs !== undefined ? { freshnessMs: opts.freshnessMs } : {}),
            ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
            handshake: opts.handshake ?? true,
          }));
  }

  /** `to`: the member a point-to-point Stack packet is for (its id enters the tag). */
  private encode(msg: Msg, unicast: boolean, type = PacketType.Stack, to?: MemberId): Uint8Array {
    const p = {
      type,
      flags: unicast ? Flags.Unicast : 0,
      groupId: this.groupId,
      sender: this.self,
      headers: msg.headers as unknown[],
      payload: msg.payload,
    };
    return this.auth ? this.auth.encode(p, to === undefined ? undefined : endpointOf(to)) : encodePacket(p);
  }

  down(ev: DownEvent): void {
    switch (ev.type) {
      case 'cast': {
        this.counters.sent++;
        this.ctx.emit({ kind: 'transmit', to: null, bytes: this.encode(ev.msg, false) });
        const self = this.ctx.self;
        this.ctx.defer(() =>
          this.ctx.passUp({ type: 'deliver', msg: ev.msg, from: self, cast: true, meta: {} }),
        );
        return;
      }
      case 'send': {
        if (ev.to === this.ctx.self) {
          const self = this.ctx.self;
          this.ctx.defer(() =>
            this.ctx.passUp({ type: 'deliver', msg: ev.msg, from: self, cast: false, meta: {} }),
          );
          return;
        }
        const to = this.pins.get(ev.to) ?? this.addresses.get(ev.to);
        if (to === undefined) {
          this.counters.noAddress++;
          return;
        }
        this.counters.sent++;
        this.ctx.emit({ kind: 'transmit', to, bytes: this.encode(ev.msg, true, PacketType.Stack, ev.to) });
        return;
      }
      case 'view': {
        // A member's address is the view's; no stranger is asked for anything after a view.
        this.pins.clear();
        this.members = new Set(ev.view.members);
        for (const m of ev.view.members) this.strangers.delete(m);
        ev.view.members.forEach((m, i) => {
          const a = ev.view.addresses[i];
          if (a !== undefined) this.addresses.set(m, a);
        });
        const peers = ev.view.members
          .filter((m) => m !== this.ctx.self)
          .flatMap((m) => this.addresses.get(m) ?? []);
        this.ctx.emit({ kind: 'peers', addresses: peers });
        return;
      }
      case 'forget':
        this.addresses.delete(ev.member);
        this.strangers.delete(ev.member);
        this.pins.delete(ev.member);
        return;
      case 'pin':
        // Under a key a packet proves its sender wherever it comes from: nothing to pin.
        if (this.auth || this.members.size > 0 || ev.member === this.ctx.self) return;
        this.pins.delete(ev.member);
        // One id an address: ids a forger proves at its own address replace each other there.
        for (const [m, a] of this.pins) if (a === ev.address) this.pins.delete(m);
        this.pins.set(ev.member, ev.address);
        this.addresses.set(ev.member, ev.address);
        if (this.pins.size > this.opts.maxStrangers) this.pins.delete(this.pins.keys().next().value!);
        return;
      case 'probe':
        this.counters.sent++;
        this.ctx.emit({
          kind: 'transmit',
          to: ev.to,
          bytes: this.encode(ev.msg, ev.to !== null, PacketType.Discovery),
        });
        return;
      default:
        return;
    }
  }

  up(_ev: UpEvent): void {
    // Nothing sits below COM.
  }

  receive(bytes: Uint8Array, from: string): void {
    // Cheap checks on the fixed header first; then authentication, before the body is parsed
    // and before anything (the address map included) is learnt from the packet.
    let packet: Packet;
    let newest: boolean;
    let plain: Uint8Array;
    let h: ReturnType<typeof decodeFixedHeader> | undefined;
    try {
      h = decodeFixedHeader(bytes, this.opts.maxPacket);
      if (h.groupId !== this.groupId) {
        this.counters.foreignGroup++;
        this.refuse(from, h, 'group');
        return;
      }
      if (h.sender.node === this.self.node && h.sender.inc === this.self.inc) {
        this.counters.echoes++; // IP multicast loops our own packets back; we already delivered them
        return;
      }
      if (h.type === PacketType.Client) {
        this.counters.refused++; // client traffic never enters the member stack
        return;
      }
      if (h.type === PacketType.Handshake) {
        // Handshakes stay in com: they set replay state and clock offsets, nothing above sees them.
        if (!this.auth) throw new DecodeError('DECODE_UNAUTHENTICATED', 'handshake without a key');
        const answer = this.auth.handshake(bytes, h, this.self, this.groupId, this.ctx.now());
        if (answer) this.transmitRaw(from, answer);
        return;
      }
      // A point-to-point Stack packet names its receiver in the tag: one replayed here from
      // another member does not verify. Casts and Discovery (sent to a bare address) name no one.
      ({ newest, bytes: plain } = checkAuth(this.auth, bytes, h, this.self));
      // The decrypted body has the same layout: its fixed header is the one checked above.
      packet = decodePacketBody(plain, h);
    } catch (e) {
      if (e instanceof DecodeError) {
        if (e.code === 'DECODE_UNAUTHENTICATED') this.counters.unauthenticated++;
        else if (e.code === 'DECODE_REPLAYED') this.counters.replayed++;
        else if (e.code === 'DECODE_STALE') this.counters.stale++;
        else if (e.code === 'DECODE_UNKNOWN_SENDER') this.counters.unknownSender++;
        else this.counters.refused++;
        if (e.code === 'DECODE_UNAUTHENTICATED' && h)
          this.refuse(from, h, keyRefusal(this.auth !== undefined, h.flags));
        // An authentic packet of a sender we hold no handshake with (or whose clock moved):
        // challenge it at the address it came from. Only a packet that verified gets here.
        if ((e.code === 'DECODE_UNKNOWN_SENDER' || e.code === 'DECODE_STALE') && h && this.auth) {
          const challenge = this.auth.challenge(h.sender, this.self, this.groupId, this.ctx.now());
          if (challenge) this.transmitRaw(from, challenge);
        }
        this.ctx.trace(() => `refused packet from ${from}: ${e.code}`);
        return;
      }
      throw e;
    }
    // Another member's refusal notice is for the driver of a joining member, not for gms.
    if (packet.type === PacketType.Discovery && isRefusalHeader(packet.headers[0])) {
      this.counters.refused++;
      return;
    }
    const sender = this.idOf(packet.sender);
    if (!this.members.has(sender) && !this.admitStranger(sender, from)) {
      this.counters.strangerLimited++;
      return;
    }
    // Without a key, the source address is all that tells a sender from someone using its id: a
    // packet in a view member's name from elsewhere would move its address (hijacking our
    // traffic to it) and reach gms as that member's (a forged Install in the coordinator's
    // name excluded its receiver); one in a joiner's name would send the joiner's Install to
    // the forger, but a joiner's address cannot be kept: it may reach us first by a cast (IP
    // multicast, from another interface than its unicasts, or only casts: no seeds), so the
    // first packet proves nothing and a forger could take its place (review7, review8). Its
    // next Join moves it back. Spoofing a source address takes more than inventing an id; the
    // key is the real defence. A wildcard view address cannot be checked.
    if (!this.auth && this.members.has(sender)) {
      const own = this.addresses.get(sender);
      if (own !== undefined && own !== from && !isWildcard(own)) {
        this.counters.addressMismatch++;
        return;
      }
    }
    // Likewise, before a view, a sender whose address membership proved (`pin`: its Here or Join
    // echoed the challenge our Join carried there): a forger speaking first in the coordinator's
    // id from its own address got the joiner's Sync for the coordinator's stream, and its Install
    // was installed (FINDINGS 215). Discovery still goes up, with its source address: membership
    // judges it by its own proofs, and a pinned joiner that moved proves its new address.
    const pin = this.pins.get(sender);
    if (pin !== undefined && pin !== from && packet.type === PacketType.Stack) {
      this.counters.pinMismatch++;
      return;
    }
    this.counters.received++;
    // Only the sender's newest packet may move its address: an authenticated packet it sent to
    // another member, replayed here from elsewhere, is older than what we hold and must not
    // redirect our traffic (or a joiner's admission) to the replayer. Nor any packet a pin.
    if (pin === undefined) {
      if (newest || !this.addresses.has(sender)) this.addresses.set(sender, from);
      else if (this.addresses.get(sender) !== from) this.counters.staleAddress++;
    }
    const address = pin !== undefined ? from : this.addresses.get(sender)!;
    // Decoding leaves every byte array a view into the datagram. What a layer holds of a view
    // member's packet it counts whole; of a stranger's, only what it reads: a field past those it
    // reads, or a one-byte payload, kept the whole datagram alive (30 KB each, a thousand times
    // what nak's stranger cap counted). A stranger's message shares no bytes with its datagram.
    // Built as a header stack: each layer's pop on the way up is then a field read, not a copy.
    const msg: Msg = this.members.has(sender)
      ? fromHeaders(packet.headers, packet.payload)
      : fromHeaders(detach(packet.headers), packet.payload.slice());
    if (packet.type === PacketType.Discovery)
      this.ctx.passUp({
        type: 'discovery',
        msg,
        from: sender,
        address,
        authenticated: this.auth !== undefined,
      });
    else if (packet.type === PacketType.Stack)
      this.ctx.passUp({
        type: 'deliver',
        msg,
        from: sender,
        cast: (packet.flags & Flags.Unicast) === 0,
        meta: {},
      });
    else this.counters.refused++; // client traffic never enters the member stack
  }

  /** `memberId(ep)`, formatted once per sender rather than once per packet. Bounded: anyone can
   * invent senders (a full cache starts over). */
  private idOf(ep: Endpoint): MemberId {
    const known = this.ids.get(ep.node);
    if (known !== undefined && known.inc === ep.inc) return known.id;
    if (this.ids.size >= MAX_IDS) this.ids.clear();
    const id = memberId(ep);
    this.ids.set(ep.node, { inc: ep.inc, id });
    return id;
  }

  /**
   * Tell a joiner at once why it will never get in here (another group, another key, or one
   * side without a key): only in answer to a unicast Discovery packet (a Join to a seed, never a
   * beacon), at most {@link REFUSALS_PER_SEC} a second, no larger than a Join. The notice goes
   * without a tag (the joiner could not verify ours) and without the Unicast flag, so no member
   * ever answers a notice with one. It names this group only without a key.
   */
  private refuse(to: string, h: { type: number; flags: number }, reason: Refusal['reason']): void {
    if (h.type !== PacketType.Discovery || (h.flags & Flags.Unicast) === 0) return;
    if (!this.refusalTokens.take(this.ctx.now())) return;
    this.counters.refusalsSent++;
    this.transmitRaw(
      to,
      encodeRefusal(this.groupId, this.self, reason, this.auth?.keyId ?? '', this.ctx.groupName),
    );
  }

  private transmitRaw(to: string, bytes: Uint8Array): void {
    this.counters.sent++;
    this.ctx.emit({ kind: 'transmit', to, bytes });
  }

  /**
   * Anyone who can reach the port can invent sender ids: a new one is admitted at a bounded
   * rate, and only the most recently heard `maxStrangers` keep an address here.
   */
  private admitStranger(sender: MemberId, from: string): boolean {
    if (this.strangers.has(sender)) {
      this.strangers.delete(sender);
      this.strangers.set(sender, true);
      return true;
    }
    // One host inventing ids took every admission: a joiner at another host that came during a
    // flood of 1,000 invented ids a second from one address had none of its 125 Joins in 25 s
    // admitted (session 30's review). One host gets at most half the rate (by host: ports are
    // free to invent too; an IPv6 host by its /64); the rest is left to the others. Spoofed
    // hosts still take it all.
    const host = hostShareKey(parseAddress(from)?.host ?? from);
    let own = this.hostTokens.get(host);
    if (own) this.hostTokens.delete(host);
    else own = new TokenBucket(Math.max(1, Math.ceil(this.opts.strangersPerSec / HOST_SHARE)));
    this.hostTokens.set(host, own);
    if (this.hostTokens.size > this.opts.maxStrangers)
      this.hostTokens.delete(this.hostTokens.keys().next().value!);
    if (!own.take(this.ctx.now())) return false;
    if (!this.strangerTokens.take(this.ctx.now())) return false;
    this.strangers.set(sender, true);
    while (this.strangers.size > this.opts.maxStrangers) {
      const old = this.strangers.keys().next().value!;
      this.strangers.delete(old);
      this.addresses.delete(old);
      this.counters.strangersEvicted++;
    }
    return true;
  }

  stats(): Record<string, number> {
    return {
      ...this.counters,
      knownAddresses: this.addresses.size,
      strangers: this.strangers.size,
      ...this.auth?.stats(),
    };
  }
}

/** One source host may add at most this fraction (1 / HOST_SHARE) of `strangersPerSec`. */
const HOST_SHARE = 2;

/** Sender ids com keeps formatted (`idOf`). */
const MAX_IDS = 4096;

export const com: LayerFactory<ComOptions> = {
  name: 'com',
  provides: ['transport'],
  requires: [],
  create: (ctx, o) =>
    new Com(ctx, {
      maxPacket: o.maxPacket ?? MAX_PACKET_BYTES,
      maxStrangers: o.maxStrangers ?? 256,
      strangersPerSec: o.strangersPerSec ?? 100,
      ...(o.key !== undefined ? { key: o.key } : {}),
      ...(o.auth !== undefined ? { auth: o.auth } : {}),
      ...(o.encrypt !== undefined ? { encrypt: o.encrypt } : {}),
      ...(o.freshnessMs !== undefined ? { freshnessMs: o.freshnessMs } : {}),
      ...(o.clock !== undefined ? { clock: o.clock } : {}),
      ...(o.handshake !== undefined ? { handshake: o.handshake } : {}),
      ...(o.replayWindow !== undefined ? { replayWindow: o.replayWindow } : {}),
      ...(o.maxSenders !== undefined ? { maxSenders: o.maxSenders } : {}),
    }),
};
