import { afterEach, describe, expect, it } from 'vitest';
import type { IdlFile } from '../../idl/model.js';
import { createValidator } from '../../idl/validate.js';
import { Dispatcher } from '../../runtime/rpc/dispatch.js';
import { Handler, Ordered, Query, Replica, RpcConfigError, Service } from '../../runtime/rpc/index.js';
import type { QoS } from '../../runtime/stack/types.js';
import { Cluster } from './support/cluster.js';

/** A service whose methods declare each resilience. */
@Service('tiers')
class Tiers {
  log: string[] = [];
  @Ordered()
  plain(s: string): number {
    return this.log.push(s);
  }
  @Ordered({ qos: 'none' })
  fast(s: string): number {
    return this.log.push(s);
  }
  @Ordered({ qos: 'k=1' })
  k1(s: string): number {
    return this.log.push(s);
  }
  @Ordered({ qos: 'majority' })
  agreed(s: string): number {
    return this.log.push(s);
  }
  @Query({ consistency: 'ordered', qos: 'safe' })
  stable(): number {
    return this.log.length;
  }
}

const S = { kind: 'prim', name: 'string' } as const;
const model: IdlFile = {
  package: 'tiers',
  version: 1,
  types: [],
  errors: [],
  services: [
    {
      name: 'tiers',
      methods: ['plain', 'fast', 'k1', 'agreed', 'stable'].map((name) => ({
        name,
        kind: name === 'stable' ? ('query' as const) : ('ordered' as const),
        params: name === 'stable' ? [] : [{ name: 's', type: S, optional: false }],
        returns: { kind: 'prim', name: 'any' },
        throws: [],
        options: { reply: 'first' as const },
      })),
    },
  ],
};
const validate = createValidator(model, 'tiers');

let cluster: Cluster<Tiers> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('a method declares the resilience of its requests', () => {
  it("the contact casts each request with its method's QoS", async () => {
    cluster = new Cluster(() => new Tiers(), { validate }, 'tiers');
    for (let i = 0; i < 3; i++) cluster.add();
    await cluster.settle();
    const casts: QoS[] = [];
    for (const n of cluster.nodes) {
      const cast = n.member.cast.bind(n.member);
      n.member.cast = (payload, qos) => {
        casts.push(qos ?? { order: 'total' });
        cast(payload, qos);
      };
    }
    const client = await cluster.client();
    expect(await client.invoke('tiers', 'plain', ['a'])).toBe(1);
    expect(await client.invoke('tiers', 'fast', ['f'])).toBe(2);
    expect(await client.invoke('tiers', 'k1', ['b'])).toBe(3);
    expect(await client.invoke('tiers', 'agreed', ['c'])).toBe(4);
    expect(await client.invoke('tiers', 'stable', [])).toBe(4);
    // Every replica answers an `all` call: every replica's delivery is awaited.
    await client.invoke('tiers', 'agreed', ['d'], { reply: 'all' });
    // A `first` call is answered by its contact alone, the member that casts it: only the
    // sender's delivery is awaited (the others Ack lazily where no delivery needs it sooner).
    const sender = 'sender' as const;
    expect(casts).toEqual([
      { order: 'total', resilience: 'majority', awaited: sender }, // the default
      { order: 'total', awaited: sender },
      { order: 'total', resilience: 'k', k: 1, awaited: sender },
      { order: 'total', resilience: 'majority', awaited: sender },
      { order: 'total', resilience: 'safe', awaited: sender },
      { order: 'total', resilience: 'majority' },
    ]);
  });

  it("a handler call awaits every replica's delivery: the lock's holder, any member, answers it", () => {
    @Service('locked')
    class Locked {
      @Handler('report', { qos: 'majority' })
      report(): void {}
      @Ordered()
      plain(): void {}
    }
    const d = new Dispatcher(new Locked(), () => []);
    expect(d.entry('report')!.contactQos).toEqual({ order: 'total', resilience: 'majority' });
    expect(d.entry('plain')!.contactQos).toEqual({
      order: 'total',
      resilience: 'majority',
      awaited: 'sender',
    });
  });

  it('an unknown qos is refused when the replica is made, naming the method', () => {
    @Service('odd')
    class Odd {
      @Ordered({ qos: 'bulk' as never })
      f(): void {}
    }
    expect(() => new Replica(new Odd(), { validate })).toThrow(RpcConfigError);
    expect(() => new Replica(new Odd(), { validate })).toThrow(/odd\.f: qos 'bulk'/);
  });
});
