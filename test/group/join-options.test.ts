// Options a JavaScript caller gets wrong (no compiler to say so) are refused with a typed error
// that says what to do, before any socket opens; before, a TypeError from inside the join
// ("transport.onPacket is not a function", "opts.seeds.map is not a function").
import { expect, it } from 'vitest';
import { StackConfigError } from '../../runtime/errors.js';
import { joinGroup } from '../../runtime/group/group.js';
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
