/**
 * troupe's decorators work whether the service is compiled with TC39 decorators (the default
 * of TypeScript 5+, esbuild and tsx without `experimentalDecorators`) or legacy ones, and a
 * replica checks them against the generated model at start. Before this, a TC39-compiled
 * service started and then failed every call with UnknownMethodError.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { transform } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { bankModel, validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { parseIdl } from '../../idl/parser.js';
import { createValidator, validatorService } from '../../idl/validate.js';
import { checkServiceModel, getServiceMeta, Ordered, Query, Service } from '../../runtime/rpc/decorators.js';
import { RpcConfigError } from '../../runtime/rpc/errors.js';
import { Replica } from '../../runtime/rpc/replica.js';

// Outside the source tree (see test/codegen/inherit.test.ts).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-decorators-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const decorators = path.resolve(import.meta.dirname, '../../runtime/rpc/decorators.ts');

const SOURCE = `
import { Handler, Ordered, Query, Service } from ${JSON.stringify(decorators)};
@Service('kv')
export class Kv {
  @Ordered() put(k: string): number { return k.length; }
  @Query({ consistency: 'ordered' }) get(k: string): string { return k; }
  @Handler('report') report(): string { return 'r'; }
  plain(): number { return 0; }
}
@Service('other')
export class Other {
  @Ordered() put(): number { return 1; }
}
`;

/** Compiles SOURCE the way a project with (or without) experimentalDecorators would, and loads it. */
async function compiled(experimentalDecorators: boolean) {
  const { code } = await transform(SOURCE, {
    loader: 'ts',
    format: 'esm',
    target: 'es2022',
    tsconfigRaw: { compilerOptions: { experimentalDecorators } },
  });
  const file = path.join(tmp, `kv-${experimentalDecorators ? 'legacy' : 'tc39'}.ts`);
  fs.writeFileSync(file, code);
  return import(file) as Promise<{ Kv: new () => object; Other: new () => object }>;
}

describe.each([
  ['TC39', false],
  ['legacy', true],
])('%s decorators', (_form, legacy) => {
  it('record the service and exactly its decorated methods', async () => {
    const { Kv, Other } = await compiled(legacy);
    const meta = getServiceMeta(Kv)!;
    expect(meta.name).toBe('kv');
    expect(meta.methods.map((m) => [m.name, m.kind, m.lock])).toStrictEqual([
      ['put', 'ordered', undefined],
      ['get', 'query', undefined],
      ['report', 'handler', 'report'],
    ]);
    expect(meta.methods[1]!.options).toStrictEqual({ consistency: 'ordered' });
    // The second class claims only its own method.
    expect(getServiceMeta(Other)!.methods.map((m) => m.name)).toStrictEqual(['put']);
  });

  it.each([
    ['a static method', '@Query() static version(): number { return 1; }', 'version'],
    ['a property', '@Ordered() dec = (): number => 1;', 'dec'],
    ['an accessor', '@Query() get size(): number { return 1; }', 'size'],
  ])('refuse %s when the class is defined', async (_what, member, name) => {
    // Legacy decorators recorded a static method on Function (for no class) and a property as
    // a method the class does not have; TC39 ones were refused already. Codegen refuses all three.
    const source = `import { Ordered, Query, Service } from ${JSON.stringify(decorators)};
@Service('odd') export class Odd { ${member} }`;
    const { code } = await transform(source, {
      loader: 'ts',
      format: 'esm',
      target: 'es2022',
      tsconfigRaw: { compilerOptions: { experimentalDecorators: legacy } },
    });
    const file = path.join(tmp, `odd-${name}-${legacy ? 'legacy' : 'tc39'}.ts`);
    fs.writeFileSync(file, code);
    await expect(import(file)).rejects.toThrow(
      `troupe method decorators go on instance methods, not on ${name}`,
    );
  });
});

describe('checkServiceModel', () => {
  it('accepts the bank example against its generated model', async () => {
    const { Bank } = await import('../../examples/bank/bank.js');
    expect(checkServiceModel(Bank, bankModel).name).toBe('bank');
  });

  it('names every difference and the fix in one error', async () => {
    const { Kv } = await compiled(false);
    const model = {
      ...bankModel,
      services: [
        {
          name: 'kv',
          methods: [
            { ...bankModel.services[0]!.methods[0]!, name: 'put', kind: 'query' as const },
            { ...bankModel.services[0]!.methods[0]!, name: 'gone' },
          ],
        },
      ],
    };
    const err = (() => {
      try {
        checkServiceModel(Kv, model);
      } catch (e) {
        return e as RpcConfigError;
      }
    })();
    expect(err).toBeInstanceOf(RpcConfigError);
    expect(err!.message).toContain('put is @Ordered here but query in the model');
    expect(err!.message).toContain('gone is in the model but not decorated');
    expect(err!.message).toContain('report is decorated but not in the model');
    expect(err!.message).toContain("Run 'troupe gen' again");
  });

  it('refuses a method whose parameter list grew since the model was generated', async () => {
    const { Kv } = await compiled(false);
    const method = (name: string, params: string[], opt = false) => ({
      ...bankModel.services[0]!.methods[0]!,
      name,
      kind:
        name === 'get' ? ('query' as const) : name === 'report' ? ('handler' as const) : ('ordered' as const),
      ...(name === 'report' ? { lock: 'report' } : {}),
      params: params.map((p) => ({
        name: p,
        type: { kind: 'prim' as const, name: 'string' as const },
        optional: opt,
      })),
    });
    const model = (put: string[], get: string[]) => ({
      ...bankModel,
      services: [{ name: 'kv', methods: [method('put', put), method('get', get), method('report', [])] }],
    });
    // Kv.put(k) and Kv.get(k) against models generated before they took a key.
    expect(() => checkServiceModel(Kv, model([], ['k']))).toThrow(
      "put takes 1 parameter here but the model declares none. Run 'troupe gen' again",
    );
    expect(() => checkServiceModel(Kv, model(['k'], []))).toThrow(
      /get takes 1 parameter here but the model declares none/,
    );
    // No false alarm when the function counts fewer: defaults, or a wrapper's (...args).
    expect(checkServiceModel(Kv, model(['k', 'extra'], ['k'])).name).toBe('kv');
  });

  it('refuses an undecorated class with the fix', () => {
    class Plain {}
    expect(() => checkServiceModel(Plain, bankModel)).toThrow(/no @Service decorator/);
  });
});

describe("a replica given another service's validator", () => {
  it('refuses to start, naming both services, instead of answering every call UNKNOWN_METHOD', () => {
    const other = createValidator(
      parseIdl('package stale;\nversion 1;\nservice stale {\n  ordered add(k: f64) -> f64;\n}\n'),
      'stale',
    );
    expect(validatorService(other)).toBe('stale');
    expect(validatorService(validateBankRequest)).toBe('bank');
    expect(() => new Replica(new Bank(), { validate: other })).toThrow(RpcConfigError);
    expect(() => new Replica(new Bank(), { validate: other })).toThrow(
      /Bank serves 'bank', but its validator checks the requests of service 'stale'/,
    );
    // Its own validator, and a hand-written one (nothing to compare), are taken.
    expect(new Replica(new Bank(), { validate: validateBankRequest }).service).toBe('bank');
    expect(new Replica(new Bank(), { validate: (_m, a) => a as unknown[] }).service).toBe('bank');
  });
});

describe('decorators applied by hand, from plain JavaScript (docs/api.md)', () => {
  it('record the same service, which its hand-written IDL checks and a replica serves', () => {
    class Kv {
      data: Record<string, string> = {};
      put(k: string, v: string): number {
        this.data[k] = v;
        return Object.keys(this.data).length;
      }
      get(k: string): string | undefined {
        return this.data[k];
      }
    }
    // What the docs say to write after the class: methods first, then the class.
    const d = (name: 'put' | 'get') => Object.getOwnPropertyDescriptor(Kv.prototype, name)!;
    (Ordered() as (...a: unknown[]) => void)(Kv.prototype, 'put', d('put'));
    (Query() as (...a: unknown[]) => void)(Kv.prototype, 'get', d('get'));
    (Service('kv') as (...a: unknown[]) => void)(Kv);
    expect(getServiceMeta(Kv)!.methods.map((m) => [m.name, m.kind])).toStrictEqual([
      ['put', 'ordered'],
      ['get', 'query'],
    ]);
    const model = parseIdl(
      'package kv;\nversion 1;\nservice kv {\n  ordered put(k: string, v: string) -> f64;\n  query get(k: string) -> string?;\n}\n',
    );
    expect(checkServiceModel(Kv, model).name).toBe('kv');
    expect(new Replica(new Kv(), { validate: createValidator(model, 'kv') }).service).toBe('kv');
  });
});
