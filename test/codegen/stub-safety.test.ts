/**
 * `troupe gen` never writes a stub that does not compile: names the stub itself uses are
 * refused with a one-line hint or kept apart from it, what it writes is type-checked first, an
 * absent optional result arrives as `undefined` (as typed), and a project without a
 * tsconfig.json gets default compiler options.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, main } from '../../codegen/cli.js';
import { checkCompiles } from '../../codegen/compile-check.js';
import { InputError } from '../../codegen/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-stub-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function gen(idl: string, out: string) {
  fs.writeFileSync(path.join(tmp, `${out}.troupe.idl`), `package p;\nversion 1;\n\n${idl}\n`);
  const lines: string[] = [];
  const err: string[] = [];
  const code = main(['gen', '--idl', `${out}.troupe.idl`, '--out', out], {
    out: (l) => lines.push(l),
    err: (l) => err.push(l),
    cwd: tmp,
  });
  return { code, out: lines, err };
}

describe('generated stub safety', () => {
  it.each([
    ['all', 'client.all is a view'],
    ['majority', 'client.majority is a view'],
    ['then', 'thenable'],
  ])('refuses a method named %s in one line with a hint', (name, why) => {
    const r = gen(`service p {\n  ordered ${name}() -> f64;\n}`, `refuse-${name}`);
    expect(r.code).toBe(EXIT.INPUT);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toContain(why);
    expect(r.err[0]).toContain('rename the method');
    expect(fs.existsSync(path.join(tmp, `refuse-${name}`))).toBe(false);
  });

  it('keeps names the stub used to clash with (opts, invoker, mode, connect, service) apart, and compiles', () => {
    const r = gen(
      [
        'service p {',
        '  ordered invoker(opts: string, opts_: f64) -> f64;',
        '  ordered mode() -> f64 [reply = all];',
        '  query connect(invoker: string) -> string;',
        '  query service() -> string;',
        '}',
      ].join('\n'),
      'clash',
    );
    expect(r.err.filter((l) => l.includes('error'))).toStrictEqual([]);
    expect(r.code).toBe(EXIT.OK);
    const stub = fs.readFileSync(path.join(tmp, 'clash/p.client.ts'), 'utf8');
    expect(stub).toContain('opts__?: StubCallOptions');
    expect(stub).toContain('stubCallOptions(opts__, extra, ');
  });

  it('keeps the rest parameter apart from parameters named extra, and refuses one named stubCallOptions', () => {
    const r = gen('service p {\n  ordered put(extra: string, extra_: f64) -> f64;\n}', 'extra');
    expect(r.err.filter((l) => l.includes('error'))).toStrictEqual([]);
    expect(r.code).toBe(EXIT.OK);
    const stub = fs.readFileSync(path.join(tmp, 'extra/p.client.ts'), 'utf8');
    expect(stub).toContain('...extra__: unknown[]');
    expect(stub).toContain('stubCallOptions(opts, extra__, ');
    const refused = gen('service p {\n  ordered put(stubCallOptions: string) -> f64;\n}', 'helper-name');
    expect(refused.code).toBe(EXIT.INPUT);
    expect(refused.err).toHaveLength(1);
    expect(refused.err[0]).toContain(
      "the generated client uses the name 'stubCallOptions'; rename the parameter",
    );
  });

  it('checks what it would write and names the first error', () => {
    const broken = new Map([
      ['x.client.ts', "import type { Nope } from 'troupe/client';\nexport const x: Nope = 1;\n"],
    ]);
    expect(() => checkCompiles(broken, tmp, undefined)).toThrow(InputError);
    expect(() => checkCompiles(broken, tmp, undefined)).toThrow(/x\.client\.ts:1 would not compile: .*Nope/);
    const fine = new Map([
      ['y.client.ts', "import type { Invoker } from 'troupe/client';\nexport let y: Invoker | undefined;\n"],
    ]);
    expect(() => checkCompiles(fine, tmp, undefined)).not.toThrow();
  });

  it('an absent optional result arrives as undefined, in first and all modes', async () => {
    const r = gen(
      'service p {\n  query find(id: string) -> string?;\n  ordered each() -> string? [reply = all];\n}',
      'opt',
    );
    expect(r.code).toBe(EXIT.OK);
    const { PClient } = await import(path.join(tmp, 'opt/p.client.ts'));
    // What the wire gives for an absent value: nil, decoded as null.
    const invoker = {
      invoke: async (_s: string, method: string) =>
        method === 'find'
          ? null
          : { requestId: 'c:1', viewId: 1, entries: [{ member: 'm', status: 'ok', value: null }] },
    };
    const client = PClient.connect(invoker);
    expect(await client.find('x')).toBeUndefined();
    const all = await client.each();
    expect(all.entries[0]).toStrictEqual({ member: 'm', status: 'ok', value: undefined });
  });

  it("checks against a project whose tsconfig is `tsc --init`'s (declaration maps, exact optionals)", () => {
    // What `npx tsc --init --rootDir src --outDir dist` writes with TypeScript 7 (with
    // isolatedDeclarations, which also needs declaration), less `types: ['node']` (no
    // @types/node in this temporary directory).
    const dir = fs.mkdtempSync(path.join(tmp, 'init-'));
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          rootDir: 'src',
          outDir: 'dist',
          module: 'nodenext',
          target: 'esnext',
          sourceMap: true,
          declaration: true,
          declarationMap: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          strict: true,
          verbatimModuleSyntax: true,
          isolatedModules: true,
          isolatedDeclarations: true,
          noUncheckedSideEffectImports: true,
          moduleDetection: 'force',
          skipLibCheck: true,
        },
      }),
    );
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(
      path.join(dir, 'src/svc.ts'),
      "import { Ordered, Query, Service } from 'troupe';\n@Service('s')\nexport class S {\n  @Ordered() inc(by: number): number {\n    return by;\n  }\n  @Query() find(id: string): string | undefined {\n    return id || undefined;\n  }\n}\n",
    );
    const out: string[] = [];
    const err: string[] = [];
    const code = main(['gen', 'src/svc.ts', '--out', 'src/generated'], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      cwd: dir,
    });
    expect(err.filter((l) => l.includes('error'))).toStrictEqual([]);
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('wrote src/generated/s.client.ts');
  });

  it('uses the nearest tsconfig.json above, as tsc does, and says which', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'sub-'));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true } }));
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(
      path.join(dir, 'src/svc.ts'),
      "import { Ordered, Service } from 'troupe';\n@Service('s')\nexport class S {\n  @Ordered() inc(by: number): number {\n    return by;\n  }\n}\n",
    );
    const err: string[] = [];
    const code = main(['gen', 'svc.ts', '--out', 'gen'], {
      out: () => {},
      err: (l) => err.push(l),
      cwd: path.join(dir, 'src'),
    });
    expect(err).toStrictEqual(['troupe: compiler options from ../tsconfig.json']);
    expect(code).toBe(EXIT.OK);
  });

  it('works without a tsconfig.json and says so', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'noproj-'));
    fs.writeFileSync(
      path.join(dir, 'svc.ts'),
      "import { Ordered, Service } from 'troupe';\n@Service('s')\nexport class S {\n  @Ordered() inc(by: number): number {\n    return by;\n  }\n}\n",
    );
    const out: string[] = [];
    const err: string[] = [];
    const code = main(['gen', 'svc.ts', '--out', 'gen'], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      cwd: dir,
    });
    expect(err).toStrictEqual([
      'troupe: no tsconfig.json: default compiler options (strict, ES2022, nodenext)',
    ]);
    expect(code).toBe(EXIT.OK);
    expect(out).toContain('wrote gen/s.client.ts');
  });
});
