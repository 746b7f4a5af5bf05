/**
 * Parser for `.troupe.idl` text. See docs/idl.md for the grammar. Errors carry the file,
 * line and column of the offending token and, where one helps, a hint.
 */
import { checkModel, type Positions } from './check.js';
import type { IdlComments, NodeComments } from './comments.js';
import { IdlParseError } from './errors.js';
import { type Comment, type Token, tokenize } from './lexer.js';
import {
  type EnumDecl,
  type ErrorDecl,
  type Field,
  type IdlFile,
  isCallQos,
  type Literal,
  type MethodDecl,
  type MethodKind,
  normalizeDoc,
  type Param,
  PRIMITIVE_TYPES,
  type PrimitiveType,
  type ReplyMode,
  type ServiceDecl,
  type StructDecl,
  type TypeRef,
  type UnionDecl,
  type UnionMember,
} from './model.js';

const REPLY_MODES: readonly ReplyMode[] = ['first', 'all', 'majority', 'none'];
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses IDL text into a checked model. `file` is used in error positions only. */
export function parseIdl(text: string, file = '<idl>'): IdlFile {
  const positions: Positions = new WeakMap();
  const model = new Parser(tokenize(text, file), file, positions).file();
  checkModel(model, file, positions);
  return model;
}

/**
 * Parses IDL text and keeps its `//` comments beside the model, for `troupe idl fmt`.
 * @throws {IdlParseError} also for a comment that has no place to be printed back (inside a
 * type, a method's attributes, ...), so formatting never drops one silently.
 */
export function parseIdlWithComments(
  text: string,
  file = '<idl>',
): { model: IdlFile; comments: IdlComments } {
  const positions: Positions = new WeakMap();
  const comments: IdlComments = new WeakMap();
  const toks = tokenize(text, file);
  const parser = new Parser(toks, file, positions, comments);
  const model = parser.file();
  checkModel(model, file, positions);
  for (const t of toks) {
    for (const c of [...(t.comments ?? []), ...(t.trailing ? [t.trailing] : [])]) {
      if (!parser.claimed.has(c)) {
        throw new IdlParseError(
          'troupe idl fmt cannot keep this comment here',
          file,
          c.line,
          c.column,
          'put it on its own line above a declaration, member or parameter, or at the end of its line',
        );
      }
    }
  }
  return { model, comments };
}

function withDoc<T extends object>(node: T, doc: string | undefined): T {
  const d = normalizeDoc(doc);
  return d === undefined ? node : { ...node, doc: d };
}

class Parser {
  private i = 0;
  /** Comments given a place in {@link notes}. */
  readonly claimed = new Set<Comment>();

  constructor(
    private readonly toks: Token[],
    private readonly fileName: string,
    private readonly positions: Positions,
    private readonly notes?: IdlComments,
  ) {}

  /** Own-line comments before `t` go above the node. */
  private lead(n: NodeComments, t: Token): void {
    if (!t.comments) return;
    n.before = t.comments.map((c) => this.claim(c));
    if (t.blankAfterComments) n.blank = true;
  }

  /** The comment at the end of `t`'s line, if any. */
  private trail(t: Token | undefined): string | undefined {
    return t?.trailing ? this.claim(t.trailing) : undefined;
  }

  private claim(c: Comment): string {
    this.claimed.add(c);
    return c.text;
  }

  /** Records `n` for `node`, merged with what is recorded already. */
  private attach<T extends object>(node: T, n: NodeComments): T {
    if (!this.notes) return node;
    const entries = Object.entries(n).filter(([, v]) => v !== undefined);
    if (entries.length > 0) this.notes.set(node, { ...this.notes.get(node), ...Object.fromEntries(entries) });
    return node;
  }

  /** {@link withDoc}, keeping the node's comments on the copy. */
  private doc<T extends object>(node: T, d: string | undefined): T {
    const out = withDoc(node, d);
    const n = this.notes?.get(node);
    if (out !== node && n) this.notes!.set(out, n);
    return out;
  }

  private get tok(): Token {
    return this.toks[this.i]!;
  }

  private fail(message: string, hint?: string, at: Token = this.tok): never {
    throw new IdlParseError(message, this.fileName, at.line, at.column, hint);
  }

  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of file';
    if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`;
    return `'${t.text}'`;
  }

  private isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private isWord(w: string): boolean {
    return this.tok.kind === 'word' && this.tok.text === w;
  }

  private eat(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.i++;
    return true;
  }

  private expect(p: string, after: string, hint?: string): Token {
    if (!this.isPunct(p)) this.fail(`expected '${p}' ${after}, found ${this.describe(this.tok)}`, hint);
    return this.toks[this.i++]!;
  }

  private expectWord(what: string, hint?: string): Token {
    if (this.tok.kind !== 'word') this.fail(`expected ${what}, found ${this.describe(this.tok)}`, hint);
    return this.toks[this.i++]!;
  }

  private ident(what: string): Token {
    const t = this.expectWord(what);
    if (!IDENT.test(t.text)) this.fail(`${what} cannot contain '.'`, undefined, t);
    return t;
  }

  private keyword(w: string, hint?: string): Token {
    if (!this.isWord(w)) this.fail(`expected '${w}', found ${this.describe(this.tok)}`, hint);
    return this.toks[this.i++]!;
  }

  file(): IdlFile {
    const doc = this.tok.doc;
    const fileNotes: NodeComments = {};
    this.lead(fileNotes, this.tok);
    this.keyword('package', 'a file starts with `package <name>;`');
    const pkg = this.expectWord('a package name').text;
    fileNotes.packageAfter = this.trail(this.expect(';', 'after the package name'));
    this.keyword('version', 'the package line is followed by `version <n>;`');
    const vt = this.tok;
    if (vt.kind !== 'number' || !/^[0-9]+$/.test(vt.text))
      this.fail('expected a whole version number', 'e.g. `version 1;`');
    this.i++;
    fileNotes.versionAfter = this.trail(this.expect(';', 'after the version'));
    const out: IdlFile = withDoc(
      { package: pkg, version: Number(vt.text), types: [], errors: [], services: [] },
      doc,
    );
    while (this.tok.kind !== 'eof') {
      const t = this.tok;
      const d = t.doc;
      const lead = <T extends object>(node: T): T => {
        const n: NodeComments = {};
        this.lead(n, t);
        return this.doc(this.attach(node, n), d);
      };
      if (this.isWord('struct')) out.types.push(lead(this.struct()));
      else if (this.isWord('enum')) out.types.push(lead(this.enumDecl()));
      else if (this.isWord('union')) out.types.push(lead(this.union()));
      else if (this.isWord('error')) out.errors.push(lead(this.errorDecl()));
      else if (this.isWord('service')) out.services.push(lead(this.service()));
      else
        this.fail(
          `expected a declaration, found ${this.describe(t)}`,
          'declarations are struct, enum, union, error or service',
        );
    }
    if (this.tok.comments) fileNotes.end = this.tok.comments.map((c) => this.claim(c));
    return this.attach(out, fileNotes);
  }

  /** A block's closing `}`: the comments before it and after it. */
  private close(n: NodeComments): boolean {
    if (!this.isPunct('}')) return false;
    if (this.tok.comments) n.end = this.tok.comments.map((c) => this.claim(c));
    n.after = this.trail(this.tok);
    this.i++;
    return true;
  }

  private fields(owner: string, block: NodeComments): Field[] {
    block.open = this.trail(this.expect('{', `after the ${owner} name`));
    const fields: Field[] = [];
    while (!this.close(block)) {
      const d = this.tok.doc;
      const n: NodeComments = {};
      this.lead(n, this.tok);
      const name = this.ident('a field name');
      const optional = this.eat('?');
      this.expect(':', `after field '${name.text}'`, 'fields are written `name: type;`');
      const type = this.type();
      n.after = this.trail(
        this.expect(';', `after the type of field '${name.text}'`, 'every field ends with `;`'),
      );
      const f = this.attach(withDoc<Field>({ name: name.text, type, optional }, d), n);
      this.positions.set(f, name);
      fields.push(f);
    }
    return fields;
  }

  private struct(): StructDecl {
    this.i++;
    const name = this.ident('a struct name');
    const block: NodeComments = {};
    const node: StructDecl = { kind: 'struct', name: name.text, fields: this.fields('struct', block) };
    this.positions.set(node, name);
    return this.attach(node, block);
  }

  private errorDecl(): ErrorDecl {
    this.i++;
    const name = this.ident('an error name');
    const block: NodeComments = {};
    const node: ErrorDecl = { name: name.text, fields: this.fields('error', block) };
    this.positions.set(node, name);
    return this.attach(node, block);
  }

  private enumDecl(): EnumDecl {
    this.i++;
    const name = this.ident('an enum name');
    const block: NodeComments = {};
    block.open = this.trail(this.expect('{', 'after the enum name'));
    const members: EnumDecl['members'] = [];
    let valueType: EnumDecl['valueType'] | undefined;
    while (!this.close(block)) {
      const d = this.tok.doc;
      const n: NodeComments = {};
      this.lead(n, this.tok);
      const m = this.ident('an enum member name');
      this.expect(
        '=',
        `after enum member '${m.text}'`,
        'members are written `NAME = "value";` or `NAME = 1;`',
      );
      const v = this.tok;
      if (v.kind !== 'string' && v.kind !== 'number') this.fail('expected a string or number enum value');
      const kind = v.kind === 'string' ? 'string' : 'number';
      if (valueType && kind !== valueType)
        this.fail(`enum '${name.text}' mixes string and number values`, undefined, v);
      valueType = kind;
      this.i++;
      n.after = this.trail(this.expect(';', `after enum member '${m.text}'`));
      const member = this.attach(
        withDoc({ name: m.text, value: kind === 'string' ? v.text : Number(v.text) }, d),
        n,
      );
      this.positions.set(member, m);
      members.push(member);
    }
    if (!valueType) this.fail(`enum '${name.text}' has no members`, undefined, name);
    const node: EnumDecl = { kind: 'enum', name: name.text, valueType, members };
    this.positions.set(node, name);
    return this.attach(node, block);
  }

  private literal(): Literal | undefined {
    const t = this.tok;
    if (t.kind === 'string') {
      this.i++;
      return t.text;
    }
    if (t.kind === 'number') {
      this.i++;
      return Number(t.text);
    }
    if (t.kind === 'word' && (t.text === 'true' || t.text === 'false')) {
      this.i++;
      return t.text === 'true';
    }
    return undefined;
  }

  private union(): UnionDecl {
    this.i++;
    const name = this.ident('a union name');
    this.expect('=', 'after the union name', 'unions are written `union Name = A | B;`');
    const members: UnionMember[] = [];
    do {
      const t = this.tok;
      const lit = this.literal();
      let m: UnionMember;
      if (lit !== undefined) m = { kind: 'literal', value: lit };
      else m = { kind: 'ref', name: this.ident('a struct name or literal').text };
      this.positions.set(m, t);
      members.push(m);
    } while (this.eat('|'));
    const after = this.trail(this.expect(';', `after union '${name.text}'`));
    const node: UnionDecl = { kind: 'union', name: name.text, members };
    this.positions.set(node, name);
    return this.attach(node, { after });
  }

  private service(): ServiceDecl {
    this.i++;
    const name = this.expectWord('a service name');
    const block: NodeComments = {};
    block.open = this.trail(this.expect('{', 'after the service name'));
    const methods: MethodDecl[] = [];
    while (!this.close(block)) methods.push(this.method());
    const node: ServiceDecl = { name: name.text, methods };
    this.positions.set(node, name);
    return this.attach(node, block);
  }

  private method(): MethodDecl {
    const start = this.tok;
    const n: NodeComments = {};
    this.lead(n, start);
    const oneway = this.isWord('oneway');
    if (oneway) this.i++;
    const kt = this.expectWord(
      'a method kind',
      "methods start with 'ordered', 'query' or 'handler(\"lock\")'",
    );
    if (kt.text !== 'ordered' && kt.text !== 'query' && kt.text !== 'handler') {
      this.fail(`unknown method kind '${kt.text}'`, "use 'ordered', 'query' or 'handler(\"lock\")'", kt);
    }
    const kind = kt.text as MethodKind;
    let lock: string | undefined;
    if (kind === 'handler') {
      this.expect('(', "after 'handler'", 'a handler names its lock: `handler("statements")`');
      const l = this.tok;
      if (l.kind !== 'string')
        this.fail('expected the lock name as a string', 'e.g. `handler("statements")`');
      lock = l.text;
      this.i++;
      this.expect(')', 'after the lock name');
    }
    const name = this.ident('a method name');
    this.expect('(', `after method name '${name.text}'`);
    const params: Param[] = [];
    if (!this.eat(')')) {
      for (;;) {
        const p = this.param();
        params.push(p);
        // A comment after the parameter, before or after its comma.
        const after =
          this.trail(this.toks[this.i - 1]) ?? (this.isPunct(',') ? this.trail(this.tok) : undefined);
        this.attach(p, { after });
        if (!this.eat(',')) break;
      }
      this.expect(')', 'after the parameters', 'parameters are separated by `,`');
    }
    let returns: TypeRef | undefined;
    if (this.eat('->')) returns = this.type();
    const throws: string[] = [];
    const throwsAt: Token[] = [];
    if (this.isWord('throws')) {
      this.i++;
      do {
        const e = this.ident('an error name');
        throws.push(e.text);
        throwsAt.push(e);
      } while (this.eat(','));
    }
    const options: MethodDecl['options'] = { reply: oneway ? 'none' : 'first' };
    const attrs = new Map<string, { tok: Token; value: Token }>();
    if (this.eat('[')) {
      do {
        const key = this.expectWord('an attribute name');
        this.expect('=', `after attribute '${key.text}'`);
        const value = this.tok;
        if (value.kind === 'eof' || value.kind === 'punct') this.fail(`expected a value for '${key.text}'`);
        this.i++;
        if (attrs.has(key.text)) this.fail(`attribute '${key.text}' given twice`, undefined, key);
        attrs.set(key.text, { tok: key, value });
      } while (this.eat(','));
      this.expect(']', 'after the attributes');
    }
    n.after = this.trail(this.expect(';', `after method '${name.text}'`, 'every method ends with `;`'));
    this.applyAttrs(attrs, options, oneway, kind);
    const node: MethodDecl = withDoc<MethodDecl>(
      {
        name: name.text,
        kind,
        ...(lock !== undefined ? { lock } : {}),
        params,
        ...(returns ? { returns } : {}),
        throws,
        options,
      },
      start.doc,
    );
    this.positions.set(node, name);
    this.positions.set(throws, throwsAt);
    return this.attach(node, n);
  }

  private applyAttrs(
    attrs: Map<string, { tok: Token; value: Token }>,
    options: MethodDecl['options'],
    oneway: boolean,
    kind: MethodKind,
  ): void {
    for (const [key, { tok, value }] of attrs) {
      if (key === 'reply') {
        if (!REPLY_MODES.includes(value.text as ReplyMode)) {
          this.fail(`unknown reply mode '${value.text}'`, 'use first, all, majority or none', value);
        }
        if (oneway && value.text !== 'none')
          this.fail("a 'oneway' method cannot declare a reply mode", undefined, tok);
        options.reply = value.text as ReplyMode;
      } else if (key === 'consistency') {
        if (kind !== 'query') this.fail("'consistency' applies to query methods only", undefined, tok);
        if (value.text !== 'ordered')
          this.fail(`unknown consistency '${value.text}'`, "the only value is 'ordered'", value);
        options.consistency = 'ordered';
      } else if (key === 'timeout') {
        if (value.kind !== 'number' || !/^[0-9]+$/.test(value.text)) {
          this.fail('timeout must be a whole number of milliseconds', undefined, value);
        }
        options.timeoutMs = Number(value.text);
      } else if (key === 'qos') {
        if (value.kind !== 'string' || !isCallQos(value.text))
          this.fail(
            `unknown qos ${value.kind === 'string' ? `'${value.text}'` : value.text}`,
            'qos is "none", "majority", "safe" or "k=N" (N from 1 to 999)',
            value,
          );
        options.qos = value.text;
      } else {
        this.fail(`unknown attribute '${key}'`, 'attributes are reply, consistency, timeout and qos', tok);
      }
    }
  }

  private param(): Param {
    const d = this.tok.doc;
    const n: NodeComments = {};
    this.lead(n, this.tok);
    const name = this.ident('a parameter name');
    const optional = this.eat('?');
    this.expect(':', `after parameter '${name.text}'`, 'parameters are written `name: type`');
    const type = this.type();
    let def: Literal | undefined;
    if (this.eat('=')) {
      def = this.literal();
      if (def === undefined) this.fail('a default must be a string, number, true or false');
    }
    const p = withDoc<Param>(
      {
        name: name.text,
        type,
        optional: optional || def !== undefined,
        ...(def !== undefined ? { default: def } : {}),
      },
      d,
    );
    this.positions.set(p, name);
    return this.attach(p, n);
  }

  private type(): TypeRef {
    const t = this.tok;
    let base: TypeRef;
    const lit = this.isWord('map') ? undefined : this.literal();
    if (this.eat('(')) {
      base = this.type();
      this.expect(')', 'after the type in parentheses');
    } else if (lit !== undefined) {
      base = { kind: 'literal', value: lit };
      if (this.isPunct('|')) return this.oneOf(lit, t);
    } else if (this.isWord('map')) {
      this.i++;
      this.expect('<', "after 'map'", 'maps are written `map<string, V>`');
      const k = this.expectWord('the key type');
      if (k.text !== 'string') this.fail('map keys must be string', 'write `map<string, V>`', k);
      this.expect(',', 'after the map key type');
      const value = this.type();
      this.expect('>', 'after the map value type');
      base = { kind: 'map', value };
    } else {
      const w = this.ident('a type');
      base = (PRIMITIVE_TYPES as readonly string[]).includes(w.text)
        ? { kind: 'prim', name: w.text as PrimitiveType }
        : { kind: 'ref', name: w.text };
    }
    this.positions.set(base, t);
    for (;;) {
      if (this.isPunct('[')) {
        const next = this.toks[this.i + 1];
        if (next?.kind !== 'punct' || next.text !== ']') break;
        this.i += 2;
        base = { kind: 'array', of: base };
      } else if (this.eat('?')) {
        base = { kind: 'optional', of: base };
      } else break;
      this.positions.set(base, t);
    }
    return base;
  }

  /** The rest of `"cm" | "mm"` after its first literal: literals only, no suffix (use parentheses). */
  private oneOf(first: Literal, start: Token): TypeRef {
    const values = [first];
    while (this.eat('|')) {
      const v = this.literal();
      if (v === undefined)
        this.fail(
          `expected a literal in a union of literals, found ${this.describe(this.tok)}`,
          'to mix structs and literals, declare it: `union U = A | "x";`',
        );
      values.push(v);
    }
    if (this.isPunct('[') || this.isPunct('?'))
      this.fail(
        'a suffix after a union of literals is ambiguous',
        'write `("cm" | "mm")[]` or `("cm" | "mm")?`',
      );
    const t: TypeRef = { kind: 'oneOf', values };
    this.positions.set(t, start);
    return t;
  }
}
