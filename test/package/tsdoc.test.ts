/**
 * Every name a user can import from the package has TSDoc: each export of each entry point
 * (`troupe`, `troupe/client`, `troupe/group`, `troupe/idl`, `troupe/codegen`, `troupe/testkit`),
 * and each public method and getter of an exported class, unless the interface it implements
 * documents that member (editors show the interface's text). An editor's hover is where most
 * users read the API; docs/api.md is the guide, not a list of every name. The functions and
 * classes of the three entry points an application imports (`troupe`, `troupe/client`,
 * `troupe/group`) also carry an `@example`, error classes apart.
 *
 * The checker runs first on a small project with an undocumented export, method and getter, so
 * it cannot pass by finding nothing.
 */
import * as path from 'node:path';
import { type ClassDeclaration, type JSDocableNode, Node, Project, Scope, type SourceFile } from 'ts-morph';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const ENTRIES = ['troupe', 'client', 'group', 'idl', 'codegen', 'testkit'];

function described(node: JSDocableNode): boolean {
  return node.getJsDocs().some((d) => d.getDescription().trim() !== '');
}

/** Marked `@internal`: public to the package's own modules, not to its users. */
function internal(node: JSDocableNode): boolean {
  return node.getJsDocs().some((d) => d.getTags().some((t) => t.getTagName() === 'internal'));
}

/** Whether an interface `cls` implements documents its member `name`. */
function documentedByInterface(cls: ClassDeclaration, name: string): boolean {
  return cls.getImplements().some((clause) => {
    const symbol = clause.getType().getSymbol();
    return (symbol?.getDeclarations() ?? []).some((decl) => {
      if (!Node.isInterfaceDeclaration(decl)) return false;
      const member = decl.getMethod(name) ?? decl.getProperty(name);
      return member !== undefined && described(member);
    });
  });
}

/** Has an `@example` tag. */
function exemplified(node: JSDocableNode): boolean {
  return node.getJsDocs().some((d) => d.getTags().some((t) => t.getTagName() === 'example'));
}

/** `entry: name` for each function or class (not an error class) of `entries` with no `@example`. */
function withoutExample(entries: Map<string, SourceFile>): string[] {
  const out: string[] = [];
  for (const [entry, file] of entries) {
    for (const [name, decls] of file.getExportedDeclarations()) {
      const decl = decls[0]!;
      if (!Node.isFunctionDeclaration(decl) && !Node.isClassDeclaration(decl)) continue;
      if (Node.isClassDeclaration(decl) && isErrorClass(decl)) continue;
      if (!exemplified(decl)) out.push(`${entry}: ${name}`);
    }
  }
  return out;
}

function isErrorClass(cls: ClassDeclaration): boolean {
  for (let c: ClassDeclaration | undefined = cls; c; c = c.getBaseClass())
    if (c.getName()?.endsWith('Error')) return true;
  return /\bError\b/.test(cls.getExtends()?.getText() ?? '');
}

/** `entry: name` (or `entry: Class.member`) for each undocumented export of `entries`. */
function undocumented(entries: Map<string, SourceFile>): string[] {
  const out: string[] = [];
  const classes = new Set<ClassDeclaration>();
  for (const [entry, file] of entries) {
    for (const [name, decls] of file.getExportedDeclarations()) {
      const decl = decls[0]!;
      const holder = Node.isVariableDeclaration(decl) ? decl.getVariableStatement() : decl;
      if (!holder || !Node.isJSDocable(holder) || !described(holder)) out.push(`${entry}: ${name}`);
      if (Node.isClassDeclaration(decl) && !classes.has(decl)) {
        classes.add(decl);
        for (const m of [...decl.getMethods(), ...decl.getGetAccessors()]) {
          if (m.getScope() !== Scope.Public || m.getName().startsWith('#')) continue;
          if (described(m) || internal(m) || documentedByInterface(decl, m.getName())) continue;
          out.push(`${entry}: ${name}.${m.getName()}`);
        }
      }
    }
  }
  return out;
}

describe('TSDoc on the public API', () => {
  it('the checker finds an undocumented export, method and getter', () => {
    const project = new Project({ useInMemoryFileSystem: true });
    const file = project.createSourceFile(
      'entry.ts',
      [
        '/** Documented. */',
        'export interface Shape {',
        '  /** Documented there. */',
        '  area(): number;',
        '}',
        '/** Documented. */ export class Square implements Shape {',
        '  area(): number { return 1; }',
        '  /** Documented. */ get side(): number { return 1; }',
        '  get corners(): number { return 4; }',
        '  grow(): void {}',
        '  /** @internal */ wire(): void {}',
        '  private shrink(): void {}',
        '}',
        'export const unit = 1;',
        '/** Documented. */ export const pi = 3;',
      ].join('\n'),
    );
    expect(undocumented(new Map([['e', file]]))).toStrictEqual([
      'e: Square.grow',
      'e: Square.corners',
      'e: unit',
    ]);
    const examples = project.createSourceFile(
      'examples.ts',
      [
        '/** Shown.\n * @example\n * ```ts\n * shown();\n * ```\n */ export function shown(): void {}',
        '/** Not shown. */ export function bare(): void {}',
        '/** Not shown. */ export class Thing {}',
        '/** An error. */ export class OddError extends Error {}',
        '/** An error too. */ export class OtherOdd extends OddError {}',
      ].join('\n'),
    );
    expect(withoutExample(new Map([['e', examples]]))).toStrictEqual(['e: bare', 'e: Thing']);
  });

  it('every export of every entry point, and every public member of its classes, has TSDoc; application APIs an example', () => {
    const project = new Project({
      tsConfigFilePath: path.join(root, 'tsconfig.json'),
      skipAddingFilesFromTsConfig: true,
    });
    const entries = new Map(
      ENTRIES.map((e) => [e, project.addSourceFileAtPath(path.join(root, `entry/${e}.ts`))] as const),
    );
    project.resolveSourceFileDependencies();
    expect(undocumented(entries)).toStrictEqual([]);
    const applications = new Map([...entries].filter(([e]) => ['troupe', 'client', 'group'].includes(e)));
    expect(withoutExample(applications)).toStrictEqual([]);
  });
});
