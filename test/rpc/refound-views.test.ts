import { describe, expect, it } from 'vitest';
import type { Delivery, GroupEvents, GroupHandle, ViewChange } from '../../runtime/group/types.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { encodeGroupMsg } from '../../runtime/rpc/messages.js';
import { decodeClientPacket, type ReplyPacket } from '../../runtime/rpc/protocol.js';
import { Replica } from '../../runtime/rpc/replica.js';
import type { MemberId } from '../../runtime/stack/member.js';
import type { QoS, View } from '../../runtime/stack/types.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Ledger, validateLedger } from './support/cluster.js';

/**
 * Test/sim/FINDINGS.md item 142: view ids restart at 1 in a re-founded group, so a view id names
 * a view only within one lineage. A member's replica that carried its outcome table into a
 * re-founding (the founders' chosen state was its own) must not name an outcome of the old
 * lineage with the new lineage's view of the same id.
 */

const CLIENT = '10.9.9.9:9';

/** One member as the replica sees it: views and deliveries in, client packets out. */
class Scripted implements GroupHandle {
  readonly groupName = 'ledger';
  readonly address = '10.0.0.1:4000';
  self: MemberId = '0000000a.1';
  view: View | undefined;
  readonly sent: ReplyPacket[] = [];
  private readonly listeners = new Map<string, Set<(...a: never[]) => void>>();
  private gseq = 0;

  cast(_payload: Uint8Array, _qos?: QoS): void {}
  send(): void {}
  on<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener as (...a: never[]) => void);
    this.listeners.set(event, set);
  }
  off<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    this.listeners.get(event)?.delete(listener as (...a: never[]) => void);
  }
  onClientPacket(): void {}
  sendRaw(_address: string, bytes: Uint8Array): void {
    const { packet } = decodeClientPacket(bytes, groupIdOf('ledger'));
    if (packet.kind === 'reply') this.sent.push(packet);
    if (packet.kind === 'replies')
      for (const r of packet.replies)
        this.sent.push({
          kind: 'reply',
          member: packet.member,
          viewId: packet.viewId,
          members: packet.members,
          ...r,
        });
  }
  leave(): Promise<void> {
    return Promise.resolve();
  }

  private emit<E extends keyof GroupEvents>(event: E, ...args: Parameters<GroupEvents[E]>): void {
    for (const l of this.listeners.get(event) ?? [])
      (l as (...a: Parameters<GroupEvents[E]>) => void)(...args);
  }

  install(id: number, members: MemberId[], first = false): void {
    const previousId = first ? undefined : this.view?.id;
    const view: View = { id, members, addresses: members.map((_, i) => `10.0.0.${i + 1}:4000`) };
    this.view = view;
    this.gseq = 0;
    const change: ViewChange = {
      view,
      previousId,
      joined: first ? [...members] : [],
      left: [],
      failed: [],
    };
    this.emit('view', change);
  }

  /** A copy of request `id` (from client CLIENT, reply mode `majority`), ordered in the current view. */
  order(id: string, contact: MemberId): void {
    const payload = encodeGroupMsg({
      kind: 'request',
      id,
      service: 'ledger',
      method: 'append',
      args: encodeValue([id]),
      mode: 'majority',
      client: CLIENT,
      contact,
      ts: 1,
      settled: undefined,
      issue: 0,
    });
    const d: Delivery = {
      payload,
      sender: contact,
      qos: { order: 'total', resilience: 'majority' },
      viewId: this.view!.id,
      gseq: this.gseq++,
      p2p: false,
    };
    this.emit('deliver', d);
  }

  cutOff(): void {
    this.emit('partitioned', { viewId: this.view!.id, reason: 'lost its majority' });
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('a replica whose table outlives a re-founding (FINDINGS 142)', () => {
  it('names an outcome of the old lineage with no view of the new lineage that reuses its id', async () => {
    const g = new Scripted();
    const replica = new Replica(new Ledger(), { validate: validateLedger });
    replica.attach(g);
    // Lineage 1: A founds with B and C; c1:1 is ordered and committed in view 3 [A, B, C].
    const [a, b, c] = ['0000000a.1', '0000000b.1', '0000000c.1'];
    g.install(1, [a, b, c], true);
    g.install(2, [a, b]);
    g.install(3, [a, b, c]);
    g.order('c1:1', b);
    await turn();
    expect(g.sent.at(-1)).toMatchObject({ id: 'c1:1', viewId: 3, members: [a, b, c] });

    // The group loses its majority; A rejoins as A2 and re-founds it with D, from its own state
    // (the most recent): view ids start at 1 again, and the new lineage reaches 3 and 4.
    g.cutOff();
    const [a2, d, e, f, h] = ['0000000a.2', '0000000d.1', '0000000e.1', '0000000f.1', '00000010.1'];
    g.self = a2;
    g.install(1, [a2, d], true);
    g.install(2, [a2, d, e]);
    g.install(3, [a2, e]);
    g.install(4, [a2, f, h]);
    await replica.idle();

    // A second copy of c1:1 (the client reissued through A2): answered from the table.
    g.order('c1:1', a2);
    await turn();
    const reply = g.sent.at(-1)!;
    expect(reply).toMatchObject({ id: 'c1:1', member: a2 });
    expect(replica.stats().applied).toBe(1);
    // Never the new lineage's view 3 [A2, E]: c1:1 was not ordered there, and a `majority`
    // client that knows view 4 counts E, gone since, as failed: one of two members left, no
    // majority (NoMajorityError with A2, F and H up and holding the outcome). Lineage 1's view
    // 3 has only members gone for good (A, B and C are past incarnations), so the member names
    // its current view, its id with its members, all of which hold the outcome.
    expect([reply.viewId, reply.members]).toEqual([4, [a2, f, h]]);
  });

  it('still names the recorded view within one lineage (FINDINGS 93)', async () => {
    const g = new Scripted();
    const replica = new Replica(new Ledger(), { validate: validateLedger });
    replica.attach(g);
    const [a, b, c, d] = ['0000000a.1', '0000000b.1', '0000000c.1', '0000000d.1'];
    g.install(1, [a, b, c], true);
    g.install(2, [a, b]);
    g.order('c1:1', b);
    g.install(3, [a, b, c, d]);
    await replica.idle();
    g.order('c1:1', a);
    await turn();
    expect(g.sent.at(-1)).toMatchObject({ id: 'c1:1', viewId: 2, members: [a, b] });
  });
});
