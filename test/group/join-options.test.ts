// Options a JavaScript caller gets wrong (no compiler to say so) are refused with a typed error
// that says what to do, before any socket opens; before, a TypeError from inside the join
// ("transport.onPacket is not a function", "opts.seeds.map is not a function").
import { expect, it } from 'vitest';
import { StackConfigError } from '../../runtime/errors.js';
import { checkGroupStack, joinGroup } from '../../runtime/group/group.js';
import { GROUP_STACK, TOKEN_STACK } from '../../runtime/layers/index.js';
import { MemoryHub } from '../../runtime/transport/memory.js';
import { udp } from '../../runtime/transport/udp.js';

const refusal = async (opts: unknown): Promise<StackConfigError> => {
  const e = await joinGroup('g', opts as never).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(StackConfigError);
  expect((e as StackConfigError).code).toBe('STACK_BAD_OPTION');
  return e as StackConfigError;
};

it('refuses a transport still a promise, a non-transport, and seeds that are not a list', async () => {
  const pending = udp({ host: '127.0.0.1' });
  try {
    expect((await refusal({ seeds: ['127.0.0.1:1'], insecure: true, transport: pending })).message).toMatch(
      /transport is a promise: await it first/,
    );
  } finally {
    await (await pending).close();
  }
  expect((await refusal({ seeds: ['127.0.0.1:1'], insecure: true, transport: {} })).message).toMatch(
    /not a Transport \(missing send, multicast, onPacket, setPeers, stats, close\)/,
  );
  expect((await refusal({ seeds: '127.0.0.1:1,127.0.0.1:2', insecure: true })).message).toMatch(
    /seeds must be an array of 'host:port' strings, got the string/,
  );
  expect((await refusal({ seeds: [7001], insecure: true })).message).toMatch(/seeds must be an array/);
});

// Sweep s34 (FINDINGS 193): a stack without a total-order layer was taken. Its state offers (total
// casts) arrived fifo and were refused, so a founding with a state provider never completed (the
// founders rejoined every stateStallMs until the join timed out), and g.cast() was not ordered;
// a stack without gms never installed a view. Both are refused now, before any socket opens.
it('refuses a stack without membership or without a total order', async () => {
  const hub = new MemoryHub();
  const state = { snapshot: () => new Uint8Array(0), restore: () => {} };
  for (const [stack, need] of [
    ['gms:nak:com', "'total'"],
    ['gms:frag:stable:nak:pack:com', "'total'"],
    ['nak:pack:com', "'membership'"],
  ] as const) {
    const transport = hub.attach(`${stack}:1`);
    const e = await joinGroup('g', {
      seeds: [transport.address],
      insecure: true,
      transport,
      stack,
      state,
      joinTimeoutMs: 3_000,
    }).catch((x: unknown) => x);
    await transport.close();
    expect(e).toBeInstanceOf(StackConfigError);
    expect((e as StackConfigError).code).toBe('STACK_MISSING');
    expect((e as StackConfigError).message).toContain(need);
  }
  for (const stack of [GROUP_STACK, TOKEN_STACK, 'seq:gms:nak:com', 'total:gms:nak:com'])
    expect(() => checkGroupStack(stack)).not.toThrow();
});

it('refuses an option it does not know, naming the near one, as connect does', async () => {
  // `transprot` was ignored: the member joined on a default UDP socket, not the transport given.
  expect((await refusal({ seeds: ['127.0.0.1:1'], insecure: true, transprot: {} })).message).toMatch(
    /joinGroup: unknown option 'transprot'; it takes seeds, transport/,
  );
  expect((await refusal({ seeds: ['127.0.0.1:1'], insecure: true, joinTimeout: 5 })).message).toMatch(
    /unknown option 'joinTimeout' \(did you mean 'joinTimeoutMs'\?\)/,
  );
});

it('names a misspelt insecure as such, not as a missing key', async () => {
  expect((await refusal({ seeds: ['127.0.0.1:1'], insecur: true })).message).toMatch(
    /unknown option 'insecur' \(did you mean 'insecure'\?\)/,
  );
});
