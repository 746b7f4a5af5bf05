/**
 * Tagged unions with literal discriminants (issue 12) at the IDL level: literal types parse,
 * print and round-trip; the validator picks the member by its discriminant and names the
 * path inside it; the diff reports a changed or removed tag.
 */
import { describe, expect, it } from 'vitest';
import { diffIdl } from '../../idl/diff.js';
import { IdlParseError } from '../../idl/errors.js';
import { parseIdl } from '../../idl/parser.js';
import { printIdl } from '../../idl/printer.js';
import { createValidator } from '../../idl/validate.js';
import { BadRequestError } from '../../runtime/errors.js';

const TEXT = `package draw;
version 1;

struct Circle {
  kind: "circle";
  r: f64;
}

struct Square {
  kind: "square";
  side: f64;
  tags: "a"[];
}

struct Untagged {
  n: i32;
}

union Shape = Circle | Square;

union Loose = Circle | Untagged;

struct Scene {
  shapes: Shape[];
  flag?: true;
}

service draw {
  ordered put(scene: Scene, unit: "cm" = "cm", level: 2 = 2) -> u32;
  query loose(x: Loose) -> Loose;
}
`;

const model = parseIdl(TEXT);
const validate = createValidator(model, 'draw');

function refusal(args: unknown[], method = 'put'): BadRequestError {
  try {
    validate(method, args);
  } catch (e) {
    if (e instanceof BadRequestError) return e;
    throw e;
  }
  throw new Error('the validator accepted it');
}

describe('literal types in the IDL', () => {
  it('parses literal field, array and parameter types and prints them back byte for byte', () => {
    const circle = model.types.find((t) => t.name === 'Circle');
    expect(circle?.kind === 'struct' && circle.fields[0]).toStrictEqual({
      name: 'kind',
      type: { kind: 'literal', value: 'circle' },
      optional: false,
    });
    const put = model.services[0]!.methods[0]!;
    expect(put.params[1]).toMatchObject({ type: { kind: 'literal', value: 'cm' }, default: 'cm' });
    expect(put.params[2]).toMatchObject({ type: { kind: 'literal', value: 2 }, default: 2 });
    expect(printIdl(model)).toBe(TEXT);
    expect(parseIdl(printIdl(model))).toStrictEqual(model);
  });

  it('still refuses a literal where a name is needed, with a position', () => {
    expect(() => parseIdl('package p;\nversion 1;\nstruct "x" { }')).toThrow(IdlParseError);
  });
});

describe('validating a tagged union', () => {
  const scene = () => ({
    shapes: [
      { kind: 'circle', r: 1 },
      { kind: 'square', side: 2, tags: ['a'] },
    ],
  });

  it('accepts every member and literal parameters', () => {
    expect(validate('put', [scene()])).toStrictEqual([scene(), 'cm', 2]);
    expect(validate('put', [{ shapes: [], flag: true }, 'cm', 2])).toHaveLength(3);
  });

  it('names the path inside the member the discriminant picks', () => {
    const s = scene();
    (s.shapes[1] as Record<string, unknown>).side = 'wide';
    const e = refusal([s]);
    expect(e.param).toBe('scene');
    expect(e.path).toBe('shapes[1].side');
    expect(e.message).toContain("at 'shapes[1].side': expected f64, got string");
  });

  it('names the discriminant when the tag is unknown or missing', () => {
    const e = refusal([{ shapes: [{ kind: 'triangle', r: 1 }] }]);
    expect(e.path).toBe('shapes[0].kind');
    expect(e.message).toContain('expected "circle" | "square" (the kind of Shape), got "triangle"');
    expect(refusal([{ shapes: [{ r: 1 }] }]).message).toContain('got nothing');
  });

  it('checks literal types exactly', () => {
    expect(refusal([scene(), 'mm']).message).toContain(`argument 'unit': expected "cm", got "mm"`);
    expect(refusal([scene(), 'cm', 3]).message).toContain("argument 'level': expected 2, got number 3");
    const s = scene();
    (s.shapes[1] as Record<string, unknown>).tags = ['b'];
    expect(refusal([s]).path).toBe('shapes[1].tags[0]');
    expect(refusal([{ shapes: [], flag: false }]).path).toBe('flag');
  });

  it('tries each member in turn when the union has no discriminant', () => {
    expect(validate('loose', [{ n: 3 }])).toStrictEqual([{ n: 3 }]);
    expect(validate('loose', [{ kind: 'circle', r: 1 }])).toHaveLength(1);
    const e = refusal([{ kind: 'square' }], 'loose');
    expect(e.message).toContain('expected Loose (Circle | Untagged)');
  });
});

describe('diffing tagged unions', () => {
  const changed = (from: string, to: string) =>
    diffIdl(model, parseIdl(TEXT.replace(from, to))).map((c) => [c.level, c.rule, c.path, c.message]);

  it('a changed tag breaks old clients', () => {
    expect(changed('kind: "circle";', 'kind: "disc";')).toStrictEqual([
      ['breaking', 'FIELD_TYPE_CHANGED', 'Circle.kind', 'type changed from "circle" to "disc"'],
    ]);
  });

  it('a removed member breaks, an added one does not', () => {
    expect(changed('union Shape = Circle | Square;', 'union Shape = Circle;')).toStrictEqual([
      ['breaking', 'UNION_MEMBER_REMOVED', 'Shape', 'member Square was removed'],
    ]);
    expect(
      changed('union Shape = Circle | Square;', 'union Shape = Circle | Square | Untagged;'),
    ).toStrictEqual([['compatible', 'UNION_MEMBER_ADDED', 'Shape', 'member Untagged was added']]);
  });

  it('widening a literal parameter to its base type is reported', () => {
    expect(changed('unit: "cm" = "cm"', 'unit: string = "cm"')).toStrictEqual([
      ['breaking', 'PARAM_TYPE_CHANGED', 'draw.put(unit)', 'type changed from "cm" to string'],
    ]);
  });
});
