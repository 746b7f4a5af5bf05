/**
 * Anonymous unions of literals (`unit: "cm" | "mm"`, issue 12) at the IDL level: they parse,
 * print and round-trip (in parentheses under `[]` and `?`); the checker refuses a repeated
 * value; the validator accepts exactly the listed values and names the path of a bad one; the
 * diff reports a changed list.
 */
import { describe, expect, it } from 'vitest';
import { checkModel } from '../../idl/check.js';
import { diffIdl } from '../../idl/diff.js';
import { IdlModelError, IdlParseError } from '../../idl/errors.js';
import type { IdlFile } from '../../idl/model.js';
import { parseIdl } from '../../idl/parser.js';
import { printIdl } from '../../idl/printer.js';
import { createValidator } from '../../idl/validate.js';
import { BadRequestError } from '../../runtime/errors.js';

const TEXT = `package units;
version 1;

struct Length {
  value: f64;
  unit: "mm" | "cm" | "m";
  seen?: ("mm" | "cm")[];
  round: ("up" | "down")?;
}

service units {
  ordered convert(l: Length, to: "mm" | "cm" | 1 | true = "mm") -> "ok" | "lossy";
}
`;

const model = parseIdl(TEXT);
const validate = createValidator(model, 'units');

function refusal(args: unknown[]): BadRequestError {
  try {
    validate('convert', args);
  } catch (e) {
    if (e instanceof BadRequestError) return e;
    throw e;
  }
  throw new Error('the validator accepted it');
}

describe('unions of literals in the IDL', () => {
  it('parse in the order written and print back byte for byte', () => {
    const length = model.types[0]!;
    expect(length.kind === 'struct' && length.fields.map((f) => f.type)).toStrictEqual([
      { kind: 'prim', name: 'f64' },
      { kind: 'oneOf', values: ['mm', 'cm', 'm'] },
      { kind: 'array', of: { kind: 'oneOf', values: ['mm', 'cm'] } },
      { kind: 'optional', of: { kind: 'oneOf', values: ['up', 'down'] } },
    ]);
    const convert = model.services[0]!.methods[0]!;
    expect(convert.params[1]).toMatchObject({
      type: { kind: 'oneOf', values: ['mm', 'cm', 1, true] },
      default: 'mm',
    });
    expect(convert.returns).toStrictEqual({ kind: 'oneOf', values: ['ok', 'lossy'] });
    expect(printIdl(model)).toBe(TEXT);
    expect(parseIdl(printIdl(model))).toStrictEqual(model);
  });

  it('refuses a repeated value, a name among literals and a bare suffix, with positions', () => {
    const parse = (field: string) => () =>
      parseIdl(`package p;\nversion 1;\nstruct S {\n  u: ${field};\n}\n`);
    expect(parse('"a" | "b" | "a"')).toThrow(/4:6: "a" is listed twice in "a" \| "b" \| "a"/);
    expect(parse('"a" | Other')).toThrow(IdlParseError);
    expect(parse('"a" | Other')).toThrow(/union U = A \| "x"/);
    expect(parse('"a" | "b"[]')).toThrow(/\("cm" \| "mm"\)\[\]/);
    const one: IdlFile = {
      package: 'p',
      version: 1,
      types: [
        {
          kind: 'struct',
          name: 'S',
          fields: [{ name: 'u', type: { kind: 'oneOf', values: ['a'] }, optional: false }],
        },
      ],
      errors: [],
      services: [],
    };
    expect(() => checkModel(one)).toThrow(IdlModelError);
  });
});

describe('validating a union of literals', () => {
  const length = () => ({ value: 2, unit: 'cm', seen: ['mm'], round: null });

  it('accepts each listed value, of every literal kind', () => {
    for (const to of ['mm', 'cm', 1, true]) expect(validate('convert', [length(), to])).toHaveLength(2);
    expect(validate('convert', [{ value: 1, unit: 'm', round: 'up' }])).toHaveLength(2);
  });

  it('refuses any other value, naming its path and the values it may take', () => {
    const e = refusal([{ ...length(), unit: 'km' }]);
    expect(e.param).toBe('l');
    expect(e.path).toBe('unit');
    expect(e.message).toContain(`at 'unit': expected "mm" | "cm" | "m", got "km"`);
    expect(refusal([{ ...length(), seen: ['mm', 'm'] }]).path).toBe('seen[1]');
    expect(refusal([{ ...length(), round: 'sideways' }]).path).toBe('round');
    expect(refusal([length(), false]).message).toContain(
      `argument 'to': expected "mm" | "cm" | 1 | true, got false`,
    );
    expect(refusal([length(), '1']).param).toBe('to');
  });
});

describe('diffing a union of literals', () => {
  it('the order of the values does not matter', () => {
    expect(diffIdl(model, parseIdl(TEXT.replace('"mm" | "cm" | "m"', '"m" | "mm" | "cm"')))).toStrictEqual(
      [],
    );
  });

  it('a changed list of values is a changed type', () => {
    const changes = diffIdl(model, parseIdl(TEXT.replace('unit: "mm" | "cm" | "m";', 'unit: "mm" | "cm";')));
    expect(changes.map((c) => [c.level, c.rule, c.path, c.message])).toStrictEqual([
      ['breaking', 'FIELD_TYPE_CHANGED', 'Length.unit', 'type changed from "mm" | "cm" | "m" to "mm" | "cm"'],
    ]);
  });
});
