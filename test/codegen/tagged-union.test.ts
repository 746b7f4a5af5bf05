/**
 * Tagged unions end to end (issue 12): extraction of `{ kind: 'circle'; ... } | ...` and of
 * interfaces with literal fields, the generated stub and model (golden files in
 * test/fixtures/codegen/shapes/), and calls through a group of three real replicas, where
 * the validator refuses a bad member by its path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Project } from 'ts-morph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtractError } from '../../codegen/errors.js';
import { extractFromFiles, extractServices } from '../../codegen/extract.js';
import { generateFiles } from '../../codegen/generate.js';
import type { IdlFile } from '../../idl/model.js';
import { parseIdl } from '../../idl/parser.js';
import { printIdl } from '../../idl/printer.js';
import { BadRequestError } from '../../runtime/errors.js';
import { type Shape, ShapesClient } from '../fixtures/codegen/shapes/shapes.client.js';
import { validateShapesRequest } from '../fixtures/codegen/shapes/shapes.model.js';
import { Shapes } from '../fixtures/codegen/shapes.js';
import { type UdpReplicas, udpReplicas } from '../support/udp-replicas.js';

// Set UPDATE_GOLDEN=1 to rewrite the generated files after an intended output change.
const root = path.resolve(import.meta.dirname, '../..');
const outDir = path.join(root, 'test/fixtures/codegen/shapes');
let model: IdlFile;
let files: Map<string, string>;

beforeAll(() => {
  [model] = extractServices({
    tsconfig: path.join(root, 'tsconfig.json'),
    files: [path.join(root, 'test/fixtures/codegen/shapes.ts')],
    root,
  }) as [IdlFile];
  files = generateFiles([model], { outDir, cwd: root });
  if (process.env.UPDATE_GOLDEN) {
    for (const [name, text] of files) fs.writeFileSync(path.join(outDir, name), text);
  }
});

describe('extracting and generating tagged unions', () => {
  it('names inline members after their tag and keeps literal fields', () => {
    expect(model.types.map((t) => t.name)).toStrictEqual([
      'Loose',
      'Pinned',
      'Placement',
      'Shape',
      'ShapeCircle',
      'ShapeSquare',
    ]);
    expect(model.types.find((t) => t.name === 'Shape')).toMatchObject({
      kind: 'union',
      members: [
        { kind: 'ref', name: 'ShapeCircle' },
        { kind: 'ref', name: 'ShapeSquare' },
      ],
    });
    expect(model.types.find((t) => t.name === 'Pinned')).toMatchObject({
      fields: [{ name: 'pinned', type: { kind: 'literal', value: true } }, { name: 'shape' }, { name: 'at' }],
    });
    const list = model.services[0]!.methods.find((m) => m.name === 'list')!;
    expect(list.params[0]).toMatchObject({ type: { kind: 'literal', value: 'cm' }, default: 'cm' });
  });

  it.each(['shapes.troupe.idl', 'shapes.client.ts', 'shapes.model.ts'])(
    '%s matches the file in the repository',
    (name) => {
      expect(files.get(name)).toBe(fs.readFileSync(path.join(outDir, name), 'utf8'));
    },
  );

  it('round-trips through the IDL text and generates the same files from it', () => {
    expect(parseIdl(printIdl(model))).toStrictEqual(model);
    expect(generateFiles([parseIdl(files.get('shapes.troupe.idl')!)], { outDir, cwd: root })).toStrictEqual(
      files,
    );
  });

  it('refuses an inline member without a discriminant, naming the union', () => {
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: { strict: true, experimentalDecorators: true, target: 99 },
    });
    const sf = project.createSourceFile(
      '/src/bad.ts',
      `declare function Service(n: string): ClassDecorator;
declare function Query(): MethodDecorator;
type Lump = { a: number } | { b: string };
@Service('s') class S {
  @Query() f(x: Lump): void {}
}
`,
    );
    let err: unknown;
    try {
      extractFromFiles([sf], '/src', false);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExtractError);
    expect((err as ExtractError).where).toBe('Lump');
    expect((err as ExtractError).reason).toContain('needs a discriminant');
  });
});

describe('a tagged-union service through three real replicas', () => {
  let group: UdpReplicas | undefined;
  afterAll(() => group?.close());

  it('carries every member both ways and refuses a bad one by its path', async () => {
    group = await udpReplicas(() => new Shapes(), 'shapes', validateShapesRequest);
    const { client } = group;
    const shapes = ShapesClient.connect(client);

    expect(await shapes.largest()).toBeUndefined();
    expect(await shapes.add({ pinned: true, at: 'top', shape: { kind: 'circle', r: 1 } })).toBe(1);
    expect(await shapes.add({ pinned: false, shape: { kind: 'square', side: 3 } })).toBe(2);
    expect(await shapes.area({ kind: 'square', side: 2 })).toBe(4);
    const big: Shape | undefined = await shapes.largest();
    // The stub's types narrow on the tag, as the service's own types do.
    expect(big?.kind === 'square' ? big.side : -1).toBe(3);
    const every = await shapes.all.list('cm');
    expect(every.entries.map((e) => e.status === 'ok' && e.value.length)).toStrictEqual([2, 2, 2]);

    const refusal = await client
      .invoke('shapes', 'add', [{ pinned: false, shape: { kind: 'square', side: 'wide' } }])
      .catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(BadRequestError);
    expect(refusal).toMatchObject({ param: 'p', path: 'shape.side' });
    const badTag = await client
      .invoke('shapes', 'area', [{ kind: 'triangle', side: 1 }])
      .catch((e: unknown) => e);
    expect((badTag as BadRequestError).message).toContain(
      `at 'kind': expected "circle" | "square" (the kind of Shape), got "triangle"`,
    );
    // Nothing refused reached the replicas.
    expect((await shapes.list()).length).toBe(2);
  });
});
