import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractServices } from '../../codegen/extract.js';
import { generateFiles } from '../../codegen/generate.js';
import type { IdlFile } from '../../idl/model.js';
import { parseIdl } from '../../idl/parser.js';
import { printIdl } from '../../idl/printer.js';

// Set UPDATE_GOLDEN=1 to rewrite the golden files after an intended output change.
const root = path.resolve(import.meta.dirname, '../..');
const golden = path.join(root, 'test/fixtures/codegen/golden');
let model: IdlFile;
let files: Map<string, string>;

beforeAll(() => {
  [model] = extractServices({
    tsconfig: path.join(root, 'tsconfig.json'),
    files: [path.join(root, 'test/fixtures/codegen/kitchen.ts')],
    root,
  }) as [IdlFile];
  files = generateFiles([model], { outDir: golden, cwd: root });
  if (process.env.UPDATE_GOLDEN) {
    fs.mkdirSync(golden, { recursive: true });
    for (const [name, text] of files) fs.writeFileSync(path.join(golden, name), text);
  }
});

describe('extraction and generation (golden)', () => {
  it('extracts exactly one service with its version and sorted declarations', () => {
    expect(model.package).toBe('kitchen');
    expect(model.version).toBe(3);
    expect(model.types.map((t) => t.name)).toStrictEqual([
      'Circle',
      'Color',
      'Everything',
      'Priority',
      'Shape',
      'Size',
      'Square',
    ]);
    expect(model.errors.map((e) => e.name)).toStrictEqual(['Closed', 'OutOfStock']);
    expect(model.services[0]!.methods.map((m) => m.name)).toStrictEqual([
      'put',
      'fire',
      'tally',
      'get',
      'bake',
    ]);
  });

  it.each(['kitchen.troupe.idl', 'kitchen.client.ts', 'kitchen.model.ts'])(
    '%s matches the golden file',
    (name) => {
      expect(files.get(name)).toBe(fs.readFileSync(path.join(golden, name), 'utf8'));
    },
  );

  it('generates only those three files', () => {
    expect([...files.keys()]).toStrictEqual(['kitchen.client.ts', 'kitchen.model.ts', 'kitchen.troupe.idl']);
  });

  it('round-trips the extracted model through the IDL text', () => {
    expect(parseIdl(printIdl(model))).toStrictEqual(model);
  });

  it('generates the same stub and model from the IDL alone as from the source', () => {
    const fromIdl = generateFiles([parseIdl(files.get('kitchen.troupe.idl')!)], {
      outDir: golden,
      cwd: root,
    });
    expect(fromIdl).toStrictEqual(files);
  });

  it('is deterministic and uses LF only', () => {
    expect(generateFiles([model], { outDir: golden, cwd: root })).toStrictEqual(files);
    for (const text of files.values()) expect(text).not.toContain('\r');
  });
});
