/**
 * Canonical printer: one layout for every model, so `troupe idl fmt` output is stable and
 * `parseIdl(printIdl(m))` deep-equals `m`.
 */
import type { Field, IdlFile, MethodDecl, Param, TypeDecl } from './model.js';
import { literalToString, typeToString } from './model.js';

const docLines = (doc: string | undefined, indent: string): string[] =>
  doc === undefined ? [] : doc.split('\n').map((l) => (l === '' ? `${indent}///` : `${indent}/// ${l}`));

function fields(fs: Field[]): string[] {
  return fs.flatMap((f) => [
    ...docLines(f.doc, '  '),
    `  ${f.name}${f.optional ? '?' : ''}: ${typeToString(f.type)};`,
  ]);
}

function block(head: string, body: string[]): string[] {
  return body.length === 0 ? [`${head} {}`] : [`${head} {`, ...body, '}'];
}

function typeDecl(d: TypeDecl): string[] {
  const head = docLines(d.doc, '');
  switch (d.kind) {
    case 'struct':
      return [...head, ...block(`struct ${d.name}`, fields(d.fields))];
    case 'enum':
      return [
        ...head,
        ...block(
          `enum ${d.name}`,
          d.members.flatMap((m) => [...docLines(m.doc, '  '), `  ${m.name} = ${literalToString(m.value)};`]),
        ),
      ];
    case 'union': {
      const members = d.members.map((m) => (m.kind === 'ref' ? m.name : literalToString(m.value)));
      return [...head, `union ${d.name} = ${members.join(' | ')};`];
    }
  }
}

function param(p: Param): string {
  const def = p.default !== undefined ? ` = ${literalToString(p.default)}` : '';
  // A default already makes the parameter optional; `?` is only written when there is none.
  const q = p.optional && p.default === undefined ? '?' : '';
  return `${p.name}${q}: ${typeToString(p.type)}${def}`;
}

function method(m: MethodDecl): string[] {
  const oneway = m.options.reply === 'none';
  const kind = m.kind === 'handler' ? `handler(${JSON.stringify(m.lock ?? '')})` : m.kind;
  const attrs: string[] = [];
  if (!oneway && m.options.reply !== 'first') attrs.push(`reply = ${m.options.reply}`);
  if (m.options.consistency) attrs.push(`consistency = ${m.options.consistency}`);
  if (m.options.timeoutMs !== undefined) attrs.push(`timeout = ${m.options.timeoutMs}`);
  if (m.options.qos !== undefined) attrs.push(`qos = ${JSON.stringify(m.options.qos)}`);
  const lines = docLines(m.doc, '  ');
  const tail =
    (m.returns ? ` -> ${typeToString(m.returns)}` : '') +
    (m.throws.length > 0 ? ` throws ${m.throws.join(', ')}` : '') +
    (attrs.length > 0 ? ` [${attrs.join(', ')}]` : '') +
    ';';
  const head = `  ${oneway ? 'oneway ' : ''}${kind} ${m.name}(`;
  if (m.params.some((p) => p.doc !== undefined)) {
    const ps = m.params.map((p, i) => [
      ...docLines(p.doc, '    '),
      `    ${param(p)}${i < m.params.length - 1 ? ',' : ''}`,
    ]);
    return [...lines, head, ...ps.flat(), `  )${tail}`];
  }
  return [...lines, `${head}${m.params.map(param).join(', ')})${tail}`];
}

/** Prints a model as canonical IDL text (LF line endings, trailing newline). */
export function printIdl(model: IdlFile): string {
  const sections: string[][] = [
    [...docLines(model.doc, ''), `package ${model.package};`, `version ${model.version};`],
    ...model.types.map(typeDecl),
    ...model.errors.map((e) => [...docLines(e.doc, ''), ...block(`error ${e.name}`, fields(e.fields))]),
    ...model.services.map((s) => [
      ...docLines(s.doc, ''),
      ...block(`service ${s.name}`, s.methods.flatMap(method)),
    ]),
  ];
  return `${sections.map((s) => s.join('\n')).join('\n\n')}\n`;
}
