import { describe, expect, it } from 'vitest';
import { TotalKind, total } from '../../runtime/layers/total.js';
import { memberId } from '../../runtime/stack/member.js';
import type { Layer, LayerContext, UpEvent, View } from '../../runtime/stack/types.js';

/** One member's token layer (rank 2 of three), fed Acks by hand. */
function member(): { layer: Layer; ids: string[]; errors: unknown[] } {
  const ids = [0, 1, 2].map((i) => memberId({ node: 0x200 + i, inc: 1 }));
  const errors: unknown[] = [];
  const ctx: LayerContext = {
    self: ids[2]!,
    groupName: 'g',
    now: () => 0,
    random: () => 0.5,
    passDown: () => {},
    passUp: () => {},
    emit: () => {},
    defer: (fn) => fn(),
    setTimer: () => {},
    clearTimer: () => {},
    trace: () => {},
  };
  const layer = total.create(ctx, {});
  const view: View = { id: 1, members: ids, addresses: [] };
  layer.up({ type: 'view', view });
  return { layer, ids, errors };
}

const ack = (from: string, ackNo: number, next: number): UpEvent => ({
  type: 'deliver',
  msg: { headers: [[TotalKind.Ack, ackNo, next, 0, []]], payload: new Uint8Array(0) },
  from,
  cast: true,
  meta: {},
});

/** Feeds `ev`; a refused input (DecodeError) is what the stack would count, not an error. */
function feed(m: ReturnType<typeof member>, ev: UpEvent): void {
  try {
    m.layer.up(ev);
  } catch (e) {
    m.errors.push(e);
  }
}

describe("total: an Ack out of turn from another member does not replace the holder's", () => {
  it('control: the holders of acks 0, 1 and 2 pass the token on', () => {
    const m = member();
    const [a, b, c] = m.ids as [string, string, string];
    feed(m, ack(b, 1, 2)); // arrives before ack 0: kept
    feed(m, ack(a, 0, 1));
    feed(m, ack(c, 2, 0));
    expect(m.layer.stats!().acks).toBe(3);
  });

  it("a later ackNo from a member that does not hold the token leaves the holder's Ack in place", () => {
    // A member (a key holder, or a buggy peer) sent ack 1 while member b, which gets the token
    // from ack 0, held it: stored by ackNo alone, it replaced b's real ack 1, then was refused
    // out of turn when ack 0 came. b's ack was gone, and no later Ack was ever applied.
    const m = member();
    const [a, b, c] = m.ids as [string, string, string];
    feed(m, ack(b, 1, 2)); // b's real ack 1, ahead of ack 0
    feed(m, ack(a, 1, 0)); // a's forged ack 1
    feed(m, ack(a, 0, 1)); // a's real ack 0: the token goes to b
    feed(m, ack(c, 2, 0));
    expect(m.layer.stats!().acks).toBe(3);
  });
});
