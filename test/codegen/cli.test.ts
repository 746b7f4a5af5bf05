import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, main } from '../../codegen/cli.js';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(argv: string[], cwd = tmp) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), cwd });
  return { code, out: out.join('\n'), err };
}

const V1 = 'package p;\nversion 1;\n\nservice p {\n  query get(id: string) -> f64;\n}\n';
const write = (name: string, text: string) => {
  fs.writeFileSync(path.join(tmp, name), text);
  return name;
};

describe('troupe CLI', () => {
  it('prints help and version', () => {
    expect(run(['--help']).out).toContain('Exit codes:');
    expect(run(['--version'])).toMatchObject({ code: EXIT.OK, out: '0.1.0' });
    expect(run([]).code).toBe(EXIT.USAGE);
  });

  it('reports usage errors in one line with exit code 2', () => {
    for (const argv of [
      ['frob'],
      ['gen', '--nope'],
      ['idl'],
      ['idl', 'diff', 'a'],
      ['gen', '--idl', 'x.idl'],
    ]) {
      const r = run(argv);
      expect(r.code).toBe(EXIT.USAGE);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^troupe: error: /);
    }
  });

  it('reports a parse error as one positioned line with exit code 3, and the stack only with --debug', () => {
    const bad = write('bad.troupe.idl', 'package p;\nversion 1;\nstruct A { x: f32; }\n');
    const r = run(['idl', 'fmt', bad]);
    expect(r.code).toBe(EXIT.INPUT);
    expect(r.err).toStrictEqual([
      "troupe: error: bad.troupe.idl:3:15: unknown type 'f32' (hint: did you mean 'f64'?)",
    ]);
    const d = run(['idl', 'fmt', bad, '--debug']);
    expect(d.err).toHaveLength(2);
    expect(d.err[0]).toContain('at ');
    expect(run(['idl', 'fmt', 'missing.idl']).err).toStrictEqual([
      "troupe: error: cannot read 'missing.idl'",
    ]);
  });

  it('idl fmt prints, checks and rewrites', () => {
    const messy = write(
      'messy.troupe.idl',
      'package p; version 1;\nservice p { query get(id:string)->f64; }',
    );
    expect(run(['idl', 'fmt', messy]).out).toBe(V1.trimEnd());
    expect(run(['idl', 'fmt', '--check', messy])).toMatchObject({
      code: EXIT.CHECK_FAILED,
      err: [`not formatted: ${messy}`],
    });
    expect(run(['idl', 'fmt', '--write', messy]).code).toBe(EXIT.OK);
    expect(fs.readFileSync(path.join(tmp, messy), 'utf8')).toBe(V1);
    expect(run(['idl', 'fmt', '--check', messy]).code).toBe(EXIT.OK);
  });

  it('idl diff exits 1 on a breaking change and 0 otherwise', () => {
    const a = write('a.troupe.idl', V1);
    const ok = write('ok.troupe.idl', V1.replace('get(id: string)', 'get(id: string, at?: int)'));
    const broken = write('broken.troupe.idl', V1.replace('-> f64', '-> string'));
    expect(run(['idl', 'diff', a, a])).toMatchObject({ code: EXIT.OK, out: 'no changes' });
    expect(run(['idl', 'diff', a, ok])).toMatchObject({
      code: EXIT.OK,
      out: "compatible  PARAM_ADDED_OPTIONAL  p.get(at): optional parameter 'at' was added",
    });
    expect(run(['idl', 'diff', a, broken])).toMatchObject({
      code: EXIT.CHECK_FAILED,
      out: 'BREAKING    RETURN_TYPE_CHANGED  p.get: return type changed from f64 to string',
    });
  });

  it('gen --idl writes stubs without server source; gen --check lists stale files', () => {
    const idl = write('p.troupe.idl', V1);
    const gen = run(['gen', '--idl', idl, '--out', 'out']);
    expect(gen.code).toBe(EXIT.OK);
    expect(fs.readdirSync(path.join(tmp, 'out')).sort()).toStrictEqual([
      'p.client.ts',
      'p.model.ts',
      'p.troupe.idl',
    ]);
    expect(run(['gen', '--idl', idl, '--out', 'out', '--check'])).toMatchObject({ code: EXIT.OK });

    fs.appendFileSync(path.join(tmp, 'out/p.client.ts'), '// edited\n');
    fs.writeFileSync(path.join(tmp, 'out/old.model.ts'), '');
    fs.rmSync(path.join(tmp, 'out/p.model.ts'));
    const check = run(['gen', '--idl', idl, '--out', 'out', '--check']);
    expect(check.code).toBe(EXIT.CHECK_FAILED);
    expect(check.err).toStrictEqual([
      'stale: out/p.client.ts (differs)',
      'stale: out/p.model.ts (missing)',
      'stale: out/old.model.ts (no longer generated)',
      "3 generated file(s) are stale; run 'troupe gen' and commit the result",
    ]);
  });

  it('gen --check passes on the committed bank example (troupe.json)', () => {
    expect(run(['gen', '--check'], root)).toMatchObject({
      code: EXIT.OK,
      out: 'generated files are up to date',
    });
  });

  it('runs through the bin launcher with the same exit codes', () => {
    const bin = ['--import', import.meta.resolve('tsx'), path.join(root, 'bin/troupe.ts')];
    const r = spawnSync(process.execPath, [...bin, 'idl', 'diff', 'nope'], {
      encoding: 'utf8',
      cwd: tmp,
    });
    expect(r.status).toBe(EXIT.USAGE);
    expect(r.stderr.trim().split('\n')).toStrictEqual([
      'troupe: error: idl diff needs exactly two files: OLD NEW',
    ]);
  });
});
