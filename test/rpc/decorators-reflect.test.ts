import { describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { type ServiceMeta, TROUPE_SERVICE_METADATA } from '../../runtime/rpc/decorators.js';

describe('decorators publish through the Metadata Reflection API (reflect-metadata)', () => {
  it("a @Service class's name, options and methods, under TROUPE_SERVICE_METADATA", () => {
    const meta = Reflect.getMetadata(TROUPE_SERVICE_METADATA, Bank) as ServiceMeta;
    expect(meta.name).toBe('bank');
    const kinds = Object.fromEntries(meta.methods.map((m) => [m.name, m.kind]));
    expect(kinds).toMatchObject({ deposit: 'ordered', statement: 'handler' });
    expect(meta.methods.find((m) => m.name === 'statement')?.lock).toBe('statements');
  });

  it('nothing for an undecorated class', () => {
    class Plain {}
    expect(Reflect.getMetadata(TROUPE_SERVICE_METADATA, Plain)).toBeUndefined();
  });
});
