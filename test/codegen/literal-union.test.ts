/**
 * Anonymous unions of literals end to end (issue 12): `unit: 'mm' | 'cm' | 'm'` written inline
 * in a field, a parameter (with a default, and in an array), a result and an optional result
 * is extracted as written, generated into the stub and the model (golden files in
 * test/fixtures/codegen/units/), and carried through a group of three real replicas, where the
 * validator refuses a value not listed by its path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractServices } from '../../codegen/extract.js';
import { generateFiles } from '../../codegen/generate.js';
import type { IdlFile } from '../../idl/model.js';
import { parseIdl } from '../../idl/parser.js';
import { printIdl } from '../../idl/printer.js';
import { BadRequestError } from '../../runtime/errors.js';
import { type Length, UnitsClient } from '../fixtures/codegen/units/units.client.js';
import { validateUnitsRequest } from '../fixtures/codegen/units/units.model.js';
import { Units } from '../fixtures/codegen/units.js';
import { type UdpReplicas, udpReplicas } from '../support/udp-replicas.js';

// Set UPDATE_GOLDEN=1 to rewrite the generated files after an intended output change.
const root = path.resolve(import.meta.dirname, '../..');
const outDir = path.join(root, 'test/fixtures/codegen/units');
let model: IdlFile;
let files: Map<string, string>;

beforeAll(() => {
  [model] = extractServices({
    tsconfig: path.join(root, 'tsconfig.json'),
    files: [path.join(root, 'test/fixtures/codegen/units.ts')],
    root,
  }) as [IdlFile];
  files = generateFiles([model], { outDir, cwd: root });
  if (process.env.UPDATE_GOLDEN) {
    for (const [name, text] of files) fs.writeFileSync(path.join(outDir, name), text);
  }
});

describe('extracting and generating unions of literals', () => {
  it('keeps each inline union as written, with no named type for it', () => {
    expect(model.types.map((t) => t.name)).toStrictEqual(['Length']);
    const length = model.types[0]!;
    expect(length.kind === 'struct' && length.fields.map((f) => [f.name, f.type, f.optional])).toStrictEqual([
      ['value', { kind: 'prim', name: 'f64' }, false],
      ['unit', { kind: 'oneOf', values: ['mm', 'cm', 'm'] }, false],
      ['round', { kind: 'oneOf', values: ['up', 'down'] }, true],
    ]);
    const [keep, convert, lastUnit] = model.services[0]!.methods;
    expect(keep!.params[1]!.type).toStrictEqual({
      kind: 'array',
      of: { kind: 'oneOf', values: ['mm', 'cm', 'm'] },
    });
    expect(keep!.returns).toStrictEqual({ kind: 'oneOf', values: ['exact', 'mixed'] });
    expect(convert!.params[1]).toMatchObject({
      type: { kind: 'oneOf', values: ['mm', 'cm', 'm'] },
      default: 'mm',
    });
    expect(lastUnit!.returns).toStrictEqual({
      kind: 'optional',
      of: { kind: 'oneOf', values: ['mm', 'cm', 'm'] },
    });
    expect(files.get('units.troupe.idl')).toContain('unit: "mm" | "cm" | "m";');
    expect(files.get('units.client.ts')).toContain(`unit: 'mm' | 'cm' | 'm';`);
  });

  it.each(['units.troupe.idl', 'units.client.ts', 'units.model.ts'])(
    '%s matches the file in the repository',
    (name) => {
      expect(files.get(name)).toBe(fs.readFileSync(path.join(outDir, name), 'utf8'));
    },
  );

  it('round-trips through the IDL text and generates the same files from it', () => {
    expect(parseIdl(printIdl(model))).toStrictEqual(model);
    expect(generateFiles([parseIdl(files.get('units.troupe.idl')!)], { outDir, cwd: root })).toStrictEqual(
      files,
    );
  });
});

describe('a service with unions of literals through three real replicas', () => {
  let group: UdpReplicas | undefined;
  afterAll(() => group?.close());

  it('carries every listed value both ways and refuses another by its path', async () => {
    group = await udpReplicas(() => new Units(), 'units', validateUnitsRequest);
    const { client } = group;
    const units = UnitsClient.connect(client);

    expect(await units.lastUnit()).toBeUndefined();
    const l: Length = { value: 12, unit: 'cm', round: 'up' };
    const fit: 'exact' | 'mixed' = await units.keep(l, ['cm']);
    expect(fit).toBe('exact');
    expect(await units.keep({ value: 1, unit: 'm' }, ['cm', 'mm'])).toBe('mixed');
    expect(await units.convert(l)).toBe(120);
    expect(await units.convert(l, 'm')).toBe(0.12);
    expect(await units.lastUnit()).toBe('m');

    const refusal = await client.invoke('units', 'keep', [{ value: 1, unit: 'km' }]).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(BadRequestError);
    expect(refusal).toMatchObject({ param: 'l', path: 'unit' });
    expect((refusal as BadRequestError).message).toContain(`expected "mm" | "cm" | "m", got "km"`);
    const inArray = await client
      .invoke('units', 'keep', [{ value: 1, unit: 'mm' }, ['mm', 'inch']])
      .catch((e: unknown) => e);
    expect(inArray).toMatchObject({ param: 'seen', path: '[1]' });
    // Nothing refused reached the replicas.
    expect(await units.lastUnit()).toBe('m');
  });
});
