import { Project } from 'ts-morph';
import { describe, expect, it } from 'vitest';
import { ExtractError } from '../../codegen/errors.js';
import { extractFromFiles } from '../../codegen/extract.js';

// One in-memory project for all cases: fast, and positions are exact.
const project = new Project({
  useInMemoryFileSystem: true,
  compilerOptions: { strict: true, experimentalDecorators: true, target: 99 },
});
const PRELUDE = `declare function Service(n: string, o?: object): ClassDecorator;
declare function Ordered(o?: object): MethodDecorator;
declare function Query(o?: object): MethodDecorator;
declare function Handler(l: string, o?: object): MethodDecorator;
`;
let n = 0;

function extract(body: string, allowAny = false) {
  const sf = project.createSourceFile(`/src/case${n++}.ts`, `${PRELUDE}${body}`);
  return extractFromFiles([sf], '/src', allowAny);
}

function extractError(body: string): ExtractError {
  try {
    extract(body);
  } catch (e) {
    if (e instanceof ExtractError) return e;
    throw e;
  }
  throw new Error('expected an ExtractError');
}

const svc = (member: string, extra = '') => `${extra}@Service('s') class S {\n  ${member}\n}\n`;

describe('extraction errors name file, line, method and parameter', () => {
  it.each([
    [
      '@Ordered() f(cb: () => void): void {}',
      'S.f(cb)',
      "type '() => void' is a function and cannot be carried",
    ],
    [
      '@Ordered() f(x: any): void {}',
      'S.f(x)',
      "type 'any' cannot be checked; declare a real type (or pass --allow-any)",
    ],
    [
      '@Ordered() f(x: unknown): void {}',
      'S.f(x)',
      "type 'unknown' cannot be checked; declare a real type (or pass --allow-any)",
    ],
    [
      '@Ordered() f(x: { a: string }): void {}',
      'S.f(x)',
      "anonymous object type '{ a: string; }'; declare a named interface",
    ],
    [
      "@Ordered() f(x: 'a' | number): void {}",
      'S.f(x)',
      'anonymous union \'number | "a"\'; declare it as a named type alias (only a union of literals may be written inline)',
    ],
    [
      '@Ordered() f(x: Map<string, number>): void {}',
      'S.f(x)',
      'Map is not supported; use Record<string, V> or an array',
    ],
    [
      '@Ordered() f(x: [string, number]): void {}',
      'S.f(x)',
      'tuples are not supported; use a named interface',
    ],
    ['@Ordered() f(...xs: string[]): void {}', 'S.f(xs)', 'rest parameters are not supported'],
    [
      '@Ordered() f(): () => void { return () => {}; }',
      'S.f -> return',
      "type '() => void' is a function and cannot be carried",
    ],
    [
      "@Ordered({ reply: 'none' }) f(): number { return 1; }",
      'S.f',
      "a one-way method (reply: 'none') must return void",
    ],
    ["@Ordered({ reply: 'sometimes' }) f(): void {}", 'S.f', 'invalid option reply: "sometimes"'],
    ["@Ordered({ consistency: 'ordered' }) f(): void {}", 'S.f', 'invalid option consistency: "ordered"'],
    // The runtime refuses these when the class is defined; gen skipped them and exited 0.
    [
      '@Query() static version(): number { return 1; }',
      'S.version',
      'troupe method decorators go on instance methods, not on version (a static method)',
    ],
    [
      '@Ordered() dec = (): number => 1;',
      'S.dec',
      'troupe method decorators go on instance methods, not on dec (a property)',
    ],
    [
      '@Query() get size(): number { return 1; }',
      'S.size',
      'troupe method decorators go on instance methods, not on size (an accessor)',
    ],
    [
      '@Handler(lockName) f(): void {}',
      'S.f',
      "'lockName' must be a literal (codegen reads decorators without running them)",
    ],
  ])('%s', (member, where, reason) => {
    const e = extractError(svc(member));
    expect(e.code).toBe('EXTRACT');
    expect(e.where).toBe(where);
    expect(e.reason).toBe(reason);
    expect(e.line).toBe(6);
    expect(e.file).toMatch(/^case\d+\.ts$/);
    expect(e.message).toBe(`${e.file}:${e.line}:${e.column}: ${where}: ${reason}`);
  });

  it('points at the offending parameter column', () => {
    const e = extractError(svc('@Query() get(id: string, cb: () => void): void {}'));
    expect([e.line, e.column]).toStrictEqual([6, 28]);
  });

  it('names the field of a struct that cannot be carried', () => {
    const e = extractError(
      svc('@Query() get(): R { return null!; }', 'interface R {\n  ok: boolean;\n  run(): void;\n}\n'),
    );
    expect([e.where, e.line, e.reason]).toStrictEqual([
      'R.run',
      7,
      'a method cannot be carried; use a data-only interface',
    ]);
  });

  it('rejects a class with methods', () => {
    const e = extractError(svc('@Query() get(): C { return null!; }', 'class C { x = 1; m() {} }\n'));
    expect(e.reason).toBe("class 'C' has methods and cannot be carried; use a data-only interface");
  });

  it('rejects two different types with one name', () => {
    const e = extractError(
      svc(
        '@Query() get(a: A, b: B.A): void {}',
        'interface A { x: string }\nnamespace B { export interface A { y: string } }\n',
      ),
    );
    expect(e.reason).toBe("two different types are named 'A'; rename one (IDL names are global)");
  });

  it('maps any when explicitly allowed', () => {
    const [m] = extract(svc('@Ordered() f(x: any): void {}'), true);
    expect(m!.services[0]!.methods[0]!.params[0]!.type).toStrictEqual({ kind: 'prim', name: 'any' });
  });

  it('ignores undecorated methods and non-service classes', () => {
    const models = extract(`class Plain { @Ordered() f(): void {} }\n${svc('helper(): void {}')}`);
    expect(models).toHaveLength(1);
    expect(models[0]!.services[0]!.methods).toStrictEqual([]);
  });
});
