/**
 * Decorated methods a @Service class inherits from its base classes. Codegen used to read only
 * the class's own methods while the runtime (TC39 decorators) saw the inherited ones too, so
 * `troupe serve` refused to start ("inc is decorated but not in the model ... Run 'troupe gen'
 * again") and running gen again could not help. Now both walk the base classes the same way.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { transform } from 'esbuild';
import { Project } from 'ts-morph';
import { afterAll, describe, expect, it } from 'vitest';
import { ExtractError } from '../../codegen/errors.js';
import { extractFromFiles, extractServices } from '../../codegen/extract.js';
import type { IdlFile } from '../../idl/model.js';
import { checkServiceModel, getServiceMeta } from '../../runtime/rpc/decorators.js';

const decorators = path.resolve(import.meta.dirname, '../../runtime/rpc/decorators.ts');
// Outside the source tree: a run that stops before afterAll (`vitest list`, a killed run) left
// these directories for `npm run lint` to fail on.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-inherit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SOURCE = `
import { Handler, Ordered, Query, Service } from ${JSON.stringify(decorators)};

export class Root {
  protected n = 0;
  @Handler('audit') audit(): number { return this.n; }
  @Ordered() hidden(): number { return 1; }
}

export class CounterBase extends Root {
  @Ordered() inc(by: number): number { return (this.n += by); }
  @Query() get(): number { return this.n; }
  @Ordered() twice(): number { return 2; }
}

/** The user's case: the base class holds inc and get, the service adds reset. */
@Service('derived')
export class Derived extends CounterBase {
  @Ordered() reset(): number { this.n = 0; return 0; }
  // Redeclared: decorated differently here, or not at all (then not remote).
  @Query() twice(): number { return 2; }
  hidden(): number { return 0; }
}

/** A second service on the same base gets the inherited methods too. */
@Service('sibling')
export class Sibling extends CounterBase {}
`;

const EXPECTED = [
  ['reset', 'ordered'],
  ['twice', 'query'],
  ['inc', 'ordered'],
  ['get', 'query'],
  ['audit', 'handler'],
];

function models(): IdlFile[] {
  const file = path.join(tmp, 'counter.ts');
  fs.writeFileSync(file, SOURCE);
  return extractServices({ files: [file], root: tmp });
}

describe('inherited decorated methods', () => {
  const [derived, sibling] = models() as [IdlFile, IdlFile];

  it('codegen includes them, nearest declaration first', () => {
    expect(derived.services[0]!.methods.map((m) => [m.name, m.kind])).toStrictEqual(EXPECTED);
    expect(derived.services[0]!.methods.find((m) => m.name === 'inc')!.params).toStrictEqual([
      { name: 'by', type: { kind: 'prim', name: 'f64' }, optional: false },
    ]);
    expect(sibling.services[0]!.methods.map((m) => m.name)).toStrictEqual([
      'inc',
      'get',
      'twice',
      'audit',
      'hidden',
    ]);
  });

  it.each([
    ['TC39', false],
    ['legacy', true],
  ])('the runtime (%s decorators) records the same methods and accepts the model', async (form, legacy) => {
    const { code } = await transform(SOURCE, {
      loader: 'ts',
      format: 'esm',
      target: 'es2022',
      tsconfigRaw: { compilerOptions: { experimentalDecorators: legacy } },
    });
    const file = path.join(tmp, `counter-${form}.ts`);
    fs.writeFileSync(file, code);
    const mod = (await import(file)) as Record<string, abstract new () => unknown>;
    expect(getServiceMeta(mod.Derived!)!.methods.map((m) => [m.name, m.kind])).toStrictEqual(EXPECTED);
    for (const [cls, model] of [
      [mod.Derived!, derived],
      [mod.Sibling!, sibling],
    ] as const) {
      const meta = getServiceMeta(cls)!;
      expect(meta.methods.map((m) => m.name)).toStrictEqual(model.services[0]!.methods.map((m) => m.name));
      expect(checkServiceModel(cls, model).name).toBe(model.services[0]!.name);
    }
    expect(getServiceMeta(mod.CounterBase!)).toBeUndefined();
    // A model without an inherited method (as from a base class codegen could not see) is
    // refused, naming the base class rather than only advising to regenerate.
    const svc = derived.services[0]!;
    const without = {
      ...derived,
      services: [{ ...svc, methods: svc.methods.filter((m) => m.name !== 'inc') }],
    };
    expect(() => checkServiceModel(mod.Derived!, without)).toThrow(
      'inc (inherited from CounterBase) is decorated but not in the model',
    );
  });
});

describe('base classes codegen cannot read are refused', () => {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: { strict: true, experimentalDecorators: true, target: 99 },
  });
  // A module each (export {}), so every case's classes are its own.
  const PRELUDE = `export {};
declare function Service(n: string): ClassDecorator;
declare function Ordered(): MethodDecorator;
`;
  let n = 0;
  const extract = (body: string) =>
    extractFromFiles([project.createSourceFile(`/src/case${n++}.ts`, `${PRELUDE}${body}`)], '/src', false);
  const error = (body: string) => {
    try {
      extract(body);
    } catch (e) {
      if (e instanceof ExtractError) return e.message;
      throw e;
    }
    throw new Error('expected an ExtractError');
  };

  it('a base that does not resolve to a class declaration', () => {
    expect(
      error(`class B { @Ordered() inc(): number { return 1; } }
declare function mixin<T>(c: T): T & (new () => { extra(): void });
@Service('s') class S extends mixin(B) { @Ordered() reset(): void {} }
`),
    ).toMatch(/S extends mixin\(B\).*cannot resolve the base class to a class declaration/);
  });

  it('a remote method inherited from a generic base', () => {
    expect(
      error(`class B<T> { @Ordered() put(x: T): void {} }
@Service('s') class S extends B<string> {}
`),
    ).toMatch(/S \(inherited from B\)\.put.*generic base class/);
  });

  it('but not a library class, whose decorators codegen could never see', () => {
    const [m] = extract(`@Service('s') class S extends Error { @Ordered() reset(): void {} }\n`);
    expect(m!.services[0]!.methods.map((x) => x.name)).toStrictEqual(['reset']);
  });
});
