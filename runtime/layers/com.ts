import { endpointOf, type MemberId, memberId } from '../stack/member.js';
import type { DownEvent, Layer, LayerContext, LayerFactory, Msg, UpEvent } from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';
import {
  decodePacket,
  encodePacket,
  Flags,
  groupIdOf,
  MAX_PACKET_BYTES,
  PacketType,
} from '../wire/packet.js';

export interface ComOptions {
  /** Largest packet accepted from the transport. */
  maxPacket: number;
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
  private readonly counters = { sent: 0, received: 0, refused: 0, foreignGroup: 0, echoes: 0, noAddress: 0 };

  constructor(
    private readonly ctx: LayerContext,
    private readonly opts: ComOptions,
  ) {
    this.groupId = groupIdOf(ctx.groupName);
    this.self = endpointOf(ctx.self);
  }

  private encode(msg: Msg, unicast: boolean, type = PacketType.Stack): Uint8Array {
    return encodePacket({
      type,
      flags: unicast ? Flags.Unicast : 0,
      groupId: this.groupId,
      sender: this.self,
      headers: msg.headers as unknown[],
      payload: msg.payload,
    });
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
        const to = this.addresses.get(ev.to);
        if (to === undefined) {
          this.counters.noAddress++;
          return;
        }
        this.counters.sent++;
        this.ctx.emit({ kind: 'transmit', to, bytes: this.encode(ev.msg, true) });
        return;
      }
      case 'view': {
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
    let packet: ReturnType<typeof decodePacket>;
    try {
      packet = decodePacket(bytes, this.opts.maxPacket);
    } catch (e) {
      if (e instanceof DecodeError) {
        this.counters.refused++;
        this.ctx.trace(() => `refused packet from ${from}: ${e.code}`);
        return;
      }
      throw e;
    }
    if (packet.groupId !== this.groupId) {
      this.counters.foreignGroup++;
      return;
    }
    const sender = memberId(packet.sender);
    if (sender === this.ctx.self) {
      this.counters.echoes++; // IP multicast loops our own packets back; we already delivered them
      return;
    }
    if (packet.type === PacketType.Client) {
      this.counters.refused++; // client traffic never enters the member stack
      return;
    }
    this.counters.received++;
    this.addresses.set(sender, from);
    const msg: Msg = { headers: packet.headers, payload: packet.payload };
    if (packet.type === PacketType.Discovery)
      this.ctx.passUp({ type: 'discovery', msg, from: sender, address: from });
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

  stats(): Record<string, number> {
    return { ...this.counters, knownAddresses: this.addresses.size };
  }
}

export const com: LayerFactory<ComOptions> = {
  name: 'com',
  provides: ['transport'],
  requires: [],
  create: (ctx, o) => new Com(ctx, { maxPacket: o.maxPacket ?? MAX_PACKET_BYTES }),
};
