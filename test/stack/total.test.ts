import { describe, expect, it } from 'vitest';
import { TotalKind, total } from '../../runtime/layers/total.js';
import { memberId } from '../../runtime/stack/member.js';
import type { Layer, LayerContext, Msg, QoS, UpEvent, View } from '../../runtime/stack/types.js';
import { DecodeError } from '../../runtime/wire/errors.js';

/**
 * Total-order layers over an in-order, lossless "virtual synchrony" bus: what gms gives total
 * inside one view. Delivery is queued (one message at a time), so ACKs and data interleave as
 * they would on a network; `hold` keeps a member's outgoing casts back to test resilience.
 */
class Bus {
  readonly members: { id: string; layer: Layer; ups: UpEvent[]; out: Msg[] }[] = [];
  private readonly queue: (() => void)[] = [];
  /** Members whose casts are held back (not delivered anywhere) until `release`. */
  readonly holding = new Set<string>();
  private readonly held: (() => void)[] = [];

  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const id = memberId({ node: 0x200 + i, inc: 1 });
      const m = { id, layer: undefined as unknown as Layer, ups: [] as UpEvent[], out: [] as Msg[] };
      const ctx: LayerContext = {
        self: id,
        groupName: 'g',
        now: () => 0,
        random: () => 0.5,
        passDown: (ev) => {
          if (ev.type !== 'cast') return;
          m.out.push(ev.msg);
          const go = () => {
            for (const dst of this.members)
              this.queue.push(() =>
                dst.layer.up({ type: 'deliver', msg: ev.msg, from: id, cast: true, meta: {} }),
              );
          };
          if (this.holding.has(id)) this.held.push(go);
          else go();
        },
        passUp: (ev) => m.ups.push(ev),
        emit: () => {},
        defer: (fn) => this.queue.push(fn),
        setTimer: () => {},
        clearTimer: () => {},
        trace: () => {},
      };
      m.layer = total.create(ctx, {});
      this.members.push(m);
    }
  }

  view(id: number): View {
    const v: View = { id, members: this.members.map((m) => m.id), addresses: [] };
    for (const m of this.members) m.layer.up({ type: 'view', view: v });
    return v;
  }

  cast(i: number, text: string, qos: QoS = { order: 'total' }): void {
    const payload = new TextEncoder().encode(text);
    this.members[i]!.layer.down({ type: 'cast', msg: { headers: [], payload }, qos });
  }

  release(id: string): void {
    this.holding.delete(id);
    for (const go of this.held.splice(0)) go();
  }

  run(limit = 100_000): void {
    for (let k = 0; k < limit && this.queue.length > 0; k++) this.queue.shift()!();
  }

  delivered(i: number): string[] {
    return this.members[i]!.ups.flatMap((e) =>
      e.type === 'deliver' && e.meta.qos?.order === 'total'
        ? [`${e.meta.gseq}:${new TextDecoder().decode(e.msg.payload)}`]
        : [],
    );
  }
}

describe('total: the rotating token', () => {
  it('delivers every ordered cast once, in the same gseq order at every member', () => {
    const bus = new Bus(3);
    bus.view(1);
    for (let k = 0; k < 5; k++) for (let i = 0; i < 3; i++) bus.cast(i, `m${i}.${k}`);
    bus.run();
    const first = bus.delivered(0);
    expect(first).toHaveLength(15);
    expect(first.map((d) => Number(d.split(':')[0]))).toEqual([...Array(15).keys()]);
    expect(bus.delivered(1)).toEqual(first);
    expect(bus.delivered(2)).toEqual(first);
  });

  it('stamps nothing while blocked; casts made then go out in the next view', () => {
    const bus = new Bus(3);
    bus.view(1);
    for (const m of bus.members) m.layer.up({ type: 'block' });
    bus.cast(1, 'late');
    bus.run();
    expect(bus.members[1]!.out).toHaveLength(0); // queued above the bus, not cast
    expect(bus.delivered(0)).toEqual([]);
    bus.view(2);
    bus.run();
    for (let i = 0; i < 3; i++) expect(bus.delivered(i)).toEqual(['0:late']);
  });

  it('ends a view the same way everywhere: unstamped casts by sender rank, then sender order', () => {
    const bus = new Bus(3);
    bus.view(1);
    for (const m of bus.members) m.layer.up({ type: 'block' }); // the flush: no more stamping
    // Casts already sent before the block (as if cast just before it) reach everyone.
    const cast = (i: number, text: string) => {
      const m = bus.members[i]!;
      const payload = new TextEncoder().encode(text);
      const header = [TotalKind.Data, m.out.length, 0, 0];
      m.out.push({ headers: [header], payload });
      for (const dst of bus.members)
        dst.layer.up({
          type: 'deliver',
          msg: { headers: [header], payload },
          from: m.id,
          cast: true,
          meta: {},
        });
    };
    cast(2, 'c0');
    cast(0, 'a0');
    cast(2, 'c1');
    cast(1, 'b0');
    bus.view(2);
    for (let i = 0; i < 3; i++) expect(bus.delivered(i)).toEqual(['0:a0', '1:b0', '2:c0', '3:c1']);
  });

  it('delivers a safe message only once every member holds it', () => {
    const bus = new Bus(3);
    bus.view(1);
    bus.holding.add(bus.members[2]!.id); // member 2's ACKs (and casts) are held back
    bus.cast(0, 'x', { order: 'total', resilience: 'safe' });
    bus.run();
    expect(bus.delivered(0)).toEqual([]); // stamped, but member 2 has not said it holds it
    bus.release(bus.members[2]!.id);
    bus.run();
    for (let i = 0; i < 3; i++) expect(bus.delivered(i)).toEqual(['0:x']);
  });

  it('refuses an ACK from a member that does not hold the token (DecodeError)', () => {
    const bus = new Bus(3);
    bus.view(1);
    const ack = [TotalKind.Ack, 0, 2, 0, []];
    expect(() =>
      bus.members[0]!.layer.up({
        type: 'deliver',
        msg: { headers: [ack], payload: new Uint8Array(0) },
        from: bus.members[1]!.id, // rank 1; rank 0 holds the token
        cast: true,
        meta: {},
      }),
    ).toThrow(DecodeError);
  });
});
