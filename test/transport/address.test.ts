// Who a source host stands for when com shares its admissions of new senders out by host.
import { describe, expect, it } from 'vitest';
import { hostShareKey } from '../../runtime/transport/address.js';

describe('hostShareKey', () => {
  it('keeps an IPv4 host, and maps an IPv4-mapped IPv6 one to it', () => {
    expect(hostShareKey('10.0.0.1')).toBe('10.0.0.1');
    expect(hostShareKey('::ffff:10.0.0.7')).toBe('10.0.0.7');
  });

  it('takes an IPv6 host by its /64, however it is written', () => {
    const key = '2001:db8:0:1::/64';
    expect(hostShareKey('2001:db8:0:1::5')).toBe(key);
    expect(hostShareKey('2001:0DB8:0000:0001::9')).toBe(key);
    expect(hostShareKey('2001:db8:0:1:ffff:1:2:3')).toBe(key);
    expect(hostShareKey('2001:db8:0:2::5')).not.toBe(key);
    expect(hostShareKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(hostShareKey('::1')).toBe('0:0:0:0::/64');
  });
});
