/**
 * Canonical printer: one layout for every model, so `troupe idl fmt` output is stable and
 * `parseIdl(printIdl(m))` deep-equals `m`. Given the comments `parseIdlWithComments` kept, it
 * prints them back in place.
 */
import type { IdlComments, NodeComments } from './comments.js';
import type { Field, IdlFile, MethodDecl, Param, TypeDecl } from './model.js';
import { literalToString, typeToString } from './model.js';

const docLines = (doc: string | undefined, indent: string): string[] =>
  doc === undefined ? [] : doc.split('\n').map((l) => (l === '' ? `${indent}///` : `${indent}/// ${l}`));

const NONE: IdlComments = new WeakMap();

/** Own-line comments above a node (and, at top level, the blank line after them). */
function before(n: NodeComments | undefined, indent: string, topLevel = false): string[] {
  if (!n?.before) return [];
  return [...n.before.map((c) => `${indent}${c}`), ...(topLevel && n.blank ? [''] : [])];
}

/** `lines` with the comment `c` at the end of the last one. */
function after(lines: string[], c: string | undefined): string[] {
  return c === undefined ? lines : [...lines.slice(0, -1), `${lines[lines.length - 1]} ${c}`];
}

class Printer {
  constructor(private readonly notes: IdlComments) {}

  /** A node's doc, comments above it, its lines and its trailing comment. */
  private node(
    node: object,
    doc: string | undefined,
    indent: string,
    lines: string[],
    topLevel = false,
  ): string[] {
    const n = this.notes.get(node);
    return [...before(n, indent, topLevel), ...docLines(doc, indent), ...after(lines, n?.after)];
  }

  private fields(fs: Field[]): string[] {
    return fs.flatMap((f) =>
      this.node(f, f.doc, '  ', [`  ${f.name}${f.optional ? '?' : ''}: ${typeToString(f.type)};`]),
    );
  }

  /** `head { body }`; the block's trailing comment is the node's, printed by {@link node}. */
  private block(node: object, head: string, body: string[]): string[] {
    const n = this.notes.get(node);
    const end = (n?.end ?? []).map((c) => `  ${c}`);
    if (body.length === 0 && end.length === 0 && n?.open === undefined) return [`${head} {}`];
    return [`${head} {${n?.open !== undefined ? ` ${n.open}` : ''}`, ...body, ...end, '}'];
  }

  typeDecl(d: TypeDecl): string[] {
    switch (d.kind) {
      case 'struct':
        return this.node(d, d.doc, '', this.block(d, `struct ${d.name}`, this.fields(d.fields)), true);
      case 'enum':
        return this.node(
          d,
          d.doc,
          '',
          this.block(
            d,
            `enum ${d.name}`,
            d.members.flatMap((m) =>
              this.node(m, m.doc, '  ', [`  ${m.name} = ${literalToString(m.value)};`]),
            ),
          ),
          true,
        );
      case 'union': {
        const members = d.members.map((m) => (m.kind === 'ref' ? m.name : literalToString(m.value)));
        return this.node(d, d.doc, '', [`union ${d.name} = ${members.join(' | ')};`], true);
      }
    }
  }

  method(m: MethodDecl): string[] {
    const oneway = m.options.reply === 'none';
    const kind = m.kind === 'handler' ? `handler(${JSON.stringify(m.lock ?? '')})` : m.kind;
    const attrs: string[] = [];
    if (!oneway && m.options.reply !== 'first') attrs.push(`reply = ${m.options.reply}`);
    if (m.options.consistency) attrs.push(`consistency = ${m.options.consistency}`);
    if (m.options.timeoutMs !== undefined) attrs.push(`timeout = ${m.options.timeoutMs}`);
    if (m.options.qos !== undefined) attrs.push(`qos = ${JSON.stringify(m.options.qos)}`);
    const tail =
      (m.returns ? ` -> ${typeToString(m.returns)}` : '') +
      (m.throws.length > 0 ? ` throws ${m.throws.join(', ')}` : '') +
      (attrs.length > 0 ? ` [${attrs.join(', ')}]` : '') +
      ';';
    const head = `  ${oneway ? 'oneway ' : ''}${kind} ${m.name}(`;
    // Docs and comments on parameters need a line each.
    if (m.params.some((p) => p.doc !== undefined || this.notes.has(p))) {
      const ps = m.params.flatMap((p, i) =>
        this.node(p, p.doc, '    ', [`    ${param(p)}${i < m.params.length - 1 ? ',' : ''}`]),
      );
      return this.node(m, m.doc, '  ', [head, ...ps, `  )${tail}`]);
    }
    return this.node(m, m.doc, '  ', [`${head}${m.params.map(param).join(', ')})${tail}`]);
  }

  file(model: IdlFile): string {
    const n = this.notes.get(model);
    const sections: string[][] = [
      [
        ...before(n, '', true),
        ...docLines(model.doc, ''),
        ...after([`package ${model.package};`], n?.packageAfter),
        ...after([`version ${model.version};`], n?.versionAfter),
      ],
      ...model.types.map((d) => this.typeDecl(d)),
      ...model.errors.map((e) =>
        this.node(e, e.doc, '', this.block(e, `error ${e.name}`, this.fields(e.fields)), true),
      ),
      ...model.services.map((s) =>
        this.node(
          s,
          s.doc,
          '',
          this.block(
            s,
            `service ${s.name}`,
            s.methods.flatMap((m) => this.method(m)),
          ),
          true,
        ),
      ),
      ...(n?.end ? [n.end] : []),
    ];
    return `${sections.map((s) => s.join('\n')).join('\n\n')}\n`;
  }
}

function param(p: Param): string {
  const def = p.default !== undefined ? ` = ${literalToString(p.default)}` : '';
  // A default already makes the parameter optional; `?` is only written when there is none.
  const q = p.optional && p.default === undefined ? '?' : '';
  return `${p.name}${q}: ${typeToString(p.type)}${def}`;
}

/**
 * Prints a model as canonical IDL text (LF line endings, trailing newline), with the `//`
 * comments `parseIdlWithComments` kept, if given.
 */
export function printIdl(model: IdlFile, comments: IdlComments = NONE): string {
  return new Printer(comments).file(model);
}
