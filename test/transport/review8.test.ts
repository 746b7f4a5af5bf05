// Review8 of 42cee25: a UDP transport bound to the IPv6 wildcard `::` (dual-stack) beside IPv4
// peers. 42cee25 gives it `aliases` (127.0.0.1:p among them) so a seed list of IPv4 addresses
// names it, but the socket sees IPv4 peers as `[::ffff:a.b.c.d]:p` (no seed, and not the address
// their views hold: keyless, com drops them as addressMismatch) and cannot send to `a.b.c.d:p`
// at all (EINVAL, counted as dropped): its Joins to IPv4 seeds never leave. Older than 42cee25.
import { afterEach, describe, expect, it } from 'vitest';
import type { Transport } from '../../runtime/transport/types.js';
import { udp } from '../../runtime/transport/udp.js';

const open: Transport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

const port = (a: string) => Number(a.slice(a.lastIndexOf(':') + 1));
const waitFor = async (f: () => boolean, ms = 1_000) => {
  for (let t = 0; t < ms && !f(); t += 10) await new Promise((r) => setTimeout(r, 10));
};

describe('review8 F4: udp on `::` with IPv4 peers', () => {
  it('F4: hears an IPv4 peer at the address the peer has, and can answer it there', async () => {
    const v6 = await udp({ host: '::' });
    const v4 = await udp({ host: '127.0.0.1' });
    open.push(v6, v4);
    expect(v6.aliases).toContain(`127.0.0.1:${port(v6.address)}`);
    const heard: string[] = [];
    const back: string[] = [];
    v6.onPacket((_b, from) => heard.push(from));
    v4.onPacket((_b, from) => back.push(from));
    v4.send(`127.0.0.1:${port(v6.address)}`, new Uint8Array([1]));
    await waitFor(() => heard.length > 0);
    // FAILS now: `[::ffff:127.0.0.1]:p`, not `127.0.0.1:p` (what the seeds and views say).
    expect(heard).toEqual([v4.address]);
    v6.send(v4.address, new Uint8Array([2]));
    await waitFor(() => back.length > 0);
    // And an IPv4 address is no destination for the udp6 socket (EINVAL).
    expect(back).toHaveLength(1);
  });
});
