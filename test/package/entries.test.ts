/**
 * The package's entry points load what their names promise: `troupe/client` no group stack,
 * `troupe` and the `troupe` bin no TypeScript compiler. Checked over the static import graph
 * of the sources (what Node loads for an entry is exactly its static imports; the runtime has
 * no dynamic imports), so the check needs no build.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** Every module `file` loads, transitively, as repo-relative paths (packages as `pkg:name`). */
function loads(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (abs: string): void => {
    const rel = path.relative(root, abs);
    if (seen.has(rel)) return;
    seen.add(rel);
    const text = fs.readFileSync(abs, 'utf8');
    // Static imports and re-exports that bring values (type-only ones are erased).
    const re = /^(?:import|export)\s+(?!type\s)([^'";]*?\sfrom\s+)?'([^']+)'/gm;
    for (const m of text.matchAll(re)) {
      const spec = m[2]!;
      const names = /^\{([^}]*)\}/.exec(m[1]?.trim() ?? '')?.[1];
      const members = names
        ?.split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '');
      if (members && members.length > 0 && members.every((n) => n.startsWith('type '))) continue;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(abs), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) seen.add(`pkg:${spec}`);
    }
  };
  visit(path.join(root, file));
  return seen;
}

describe('package entry points', () => {
  it('exports the entries the docs name, each with types', () => {
    expect(Object.keys(pkg.exports).sort()).toStrictEqual(
      ['.', './client', './codegen', './group', './idl', './package.json', './testkit'].sort(),
    );
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (key === './package.json') continue;
      const t = target as { types: string; default: string };
      const src = t.default.replace('./dist/', '').replace(/\.js$/, '.ts');
      expect(fs.existsSync(path.join(root, src)), `${key} -> ${src}`).toBe(true);
      expect(t.types).toBe(t.default.replace(/\.js$/, '.d.ts'));
    }
  });

  it('troupe/client loads no group stack and no compiler', () => {
    const mods = [...loads('entry/client.ts')];
    expect(
      mods.filter((m) => /^runtime\/(group|layers|stack\/builder)|^codegen|pkg:ts-morph/.test(m)),
    ).toStrictEqual([]);
    // It does load the client itself, so the walk above is not vacuous.
    expect(mods).toContain('runtime/rpc/client.ts');
  });

  it('troupe (services and clients) loads no compiler; troupe/group loads the stack', () => {
    const mods = [...loads('entry/troupe.ts')];
    expect(mods.filter((m) => /^codegen|pkg:ts-morph|pkg:typescript/.test(m))).toStrictEqual([]);
    expect(mods).toContain('runtime/rpc/join.ts');
    expect([...loads('entry/group.ts')]).toContain('runtime/layers/gms.ts');
  });

  it('the bin statically loads nothing: --help and --version never load ts-morph', () => {
    expect([...loads('bin/troupe.ts')]).toStrictEqual(['bin/troupe.ts']);
    expect([...loads('codegen/help.ts')].filter((m) => m.startsWith('pkg:'))).toStrictEqual([]);
  });

  it('generated code imports troupe by name', () => {
    for (const f of fs.readdirSync(path.join(root, 'examples/bank/generated'))) {
      const text = fs.readFileSync(path.join(root, 'examples/bank/generated', f), 'utf8');
      for (const m of text.matchAll(/from '([^']+)'/g)) expect(m[1], f).toMatch(/^troupe(\/(client|idl))?$/);
    }
  });

  it('bench/ and examples/ use only the public surface: troupe entry points and each other', () => {
    const files = (dir: string): string[] =>
      fs
        .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
        .map((f) => path.join(dir, f));
    const all = [...files('bench'), ...files('examples')];
    const outside: string[] = [];
    for (const file of all) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\s[^'";]*?'([^']+)'/gm)) {
        const spec = m[1]!;
        if (!spec.startsWith('.')) {
          if (spec.startsWith('troupe') && !/^troupe(\/(client|group|idl|codegen|testkit))?$/.test(spec))
            outside.push(`${file}: ${spec}`);
          continue;
        }
        const target = path.relative(root, path.resolve(path.dirname(path.join(root, file)), spec));
        if (!/^(bench|examples)\//.test(target)) outside.push(`${file}: ${spec}`);
      }
    }
    expect(all.length).toBeGreaterThan(20);
    expect(outside).toStrictEqual([]);
  });
});

describe('error classes', () => {
  it('every error class docs/api.md names is exported, and those a client meets by troupe/client', async () => {
    const api = fs.readFileSync(path.join(root, 'docs/api.md'), 'utf8');
    const named = new Set([...api.matchAll(/`([A-Z][A-Za-z]*Error)`/g)].map((m) => m[1]!));
    const entries = (await Promise.all([
      import('../../entry/troupe.js'),
      import('../../entry/client.js'),
      import('../../entry/group.js'),
      import('../../entry/idl.js'),
    ])) as Record<string, unknown>[];
    const exported = new Set(entries.flatMap((m) => Object.keys(m)));
    expect([...named].filter((n) => !exported.has(n))).toStrictEqual([]);
    const client = entries[1]!;
    const calling = [
      'AuthConfigError', // connect: no key, bad key
      'BadRequestError', // arguments refused
      'CallOptionError', // options refused
      'ForeignGroupError',
      'KeyMismatchError',
      'UnknownMethodError',
      'FailoverError',
      'TimeoutError',
      'RemoteError',
    ];
    for (const n of calling) expect(typeof client[n], n).toBe('function');
  });
});
