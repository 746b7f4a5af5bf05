/** Emits the typed client stub of one service: a class over an `Invoker` (runtime/rpc/api.ts). */
import type { IdlFile, MethodDecl, ServiceDecl } from '../idl/model.js';
import { header, pascal, tsdoc, tsType, typeDeclarations } from './emit-ts.js';
import { InputError } from './errors.js';

/**
 * Method names the stub class itself uses: its `all`/`majority` views, and names that change
 * what the object is (`then` makes every client a thenable that `await` would unwrap).
 * The stub's own state is in `#private` fields, so no other name can clash.
 */
const STUB_MEMBERS = new Set(['all', 'majority', 'then', 'constructor']);

/** Words that cannot name a parameter in generated code (strict-mode reserved words). */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false ' +
    'finally for function if import in instanceof new null return super switch this throw true try ' +
    'typeof var void while with yield let static implements interface package private protected public ' +
    'await arguments eval'
  ).split(' '),
);

/** What a stub imports from the client entry to build a call's options (runtime/rpc/stub.ts). */
const OPTIONS_HELPER = 'stubCallOptions';

/** Refuses a service whose stub could not compile or would misbehave; one line, with the fix. */
export function checkStubNames(svc: ServiceDecl): void {
  for (const m of svc.methods) {
    if (STUB_MEMBERS.has(m.name)) {
      throw new InputError(
        `service '${svc.name}': a method cannot be named '${m.name}': the generated client uses that name${
          m.name === 'then'
            ? ' (a `then` method makes the client a thenable)'
            : ` (client.${m.name} is a view)`
        }; rename the method`,
      );
    }
    for (const p of m.params) {
      if (p.name === OPTIONS_HELPER) {
        throw new InputError(
          `service '${svc.name}': ${m.name}(${p.name}): the generated client uses the name '${p.name}'; rename the parameter`,
        );
      }
      if (RESERVED.has(p.name)) {
        throw new InputError(
          `service '${svc.name}': ${m.name}(${p.name}): '${p.name}' is a reserved word; rename the parameter`,
        );
      }
    }
  }
}

/** A name for the stub's call-options parameter that no parameter of `m` uses. */
function optionsName(m: MethodDecl): string {
  let name = 'opts';
  while (m.params.some((p) => p.name === name)) name += '_';
  return name;
}

/** A name for the implementation's rest parameter that no parameter of `m` (nor `opts`) uses. */
function extraName(m: MethodDecl, opts: string): string {
  let name = 'extra';
  while (name === opts || m.params.some((p) => p.name === name)) name += '_';
  return name;
}

const params = (m: MethodDecl) => m.params.map((p) => `${p.name}${p.optional ? '?' : ''}: ${tsType(p.type)}`);
const result = (m: MethodDecl) => (m.returns ? tsType(m.returns) : 'void');

function methodDoc(m: MethodDecl, extra?: string): string[] {
  const defaults = m.params
    .filter((p) => p.default !== undefined)
    .map((p) => `@param ${p.name} - defaults to ${JSON.stringify(p.default)} on the server.`);
  const errs = m.throws
    .filter((e) => !m.doc?.includes(`{${e}}`))
    .map((e) => `@throws {${e}} (declared error; arrives as a remote error named '${e}')`);
  const parts = [m.doc, extra, [...defaults, ...errs].join('\n') || undefined].filter((x) => x !== undefined);
  return tsdoc(parts.length > 0 ? parts.join('\n\n') : undefined, '  ');
}

/** One stub method: with the method's default reply mode, or the mode of a `Replies` view. */
function method(svc: ServiceDecl, m: MethodDecl, view: 'default' | 'replies'): string[] {
  const reply = view === 'replies' ? 'this.#mode' : `'${m.options.reply}'`;
  const opts = optionsName(m);
  const mode = view === 'replies' ? 'all' : m.options.reply;
  const ret = mode === 'none' ? 'void' : mode === 'first' ? result(m) : `Replies<${result(m)}>`;
  const defaults = m.options.timeoutMs !== undefined ? `, { timeoutMs: ${m.options.timeoutMs} }` : '';
  const args = m.params.map((p) => p.name).join(', ');
  const sig = [...params(m), `${opts}?: StubCallOptions`].join(', ');
  const extra = extraName(m, opts);
  // The implementation's signature: the declared one plus a rest parameter for plain JavaScript.
  const impl = `${sig}, ...${extra}: unknown[]`;
  const note = view === 'replies' ? 'Returns the reply of each member this view waits for.' : undefined;
  const call = `this.#invoker.invoke('${svc.name}', '${m.name}', [${args}], ${OPTIONS_HELPER}(${opts}, ${extra}, ${reply}${defaults}))`;
  // An absent optional result travels as nil and decodes as null; the type promises undefined.
  const absent = m.returns?.kind === 'optional' && mode !== 'none';
  const body = !absent
    ? [`    return ${call} as Promise<${ret}>;`]
    : mode === 'first'
      ? [`    return ${call}.then((v) => v ?? undefined) as Promise<${ret}>;`]
      : [
          `    return ${call}.then((r) => {`,
          `      const replies = r as ${ret};`,
          "      for (const e of replies.entries) if (e.status === 'ok') e.value ??= undefined;",
          '      return replies;',
          '    });',
        ];
  return [
    ...methodDoc(m, note),
    `  ${m.name}(${sig}): Promise<${ret}>;`,
    `  ${m.name}(${impl}): Promise<${ret}> {`,
    ...body,
    '  }',
  ];
}

/** Returns the `<service>.client.ts` source (unformatted; the caller formats it). */
export function emitClient(
  model: IdlFile,
  svc: ServiceDecl,
  apiImport: string,
  head = header(svc.name),
): string {
  checkStubNames(svc);
  const name = pascal(svc.name);
  const twoWay = svc.methods.filter((m) => m.options.reply !== 'none');
  const usesReplies = twoWay.length > 0;
  const types = ['CallOptions', 'Invoker', ...(usesReplies ? ['Replies'] : [])].map((t) => `type ${t}`);
  const imports = [...types, ...(svc.methods.length > 0 ? [OPTIONS_HELPER] : [])].sort((a, b) =>
    a.replace(/^type /, '').localeCompare(b.replace(/^type /, '')),
  );
  const blocks: string[][] = [
    [`import { ${imports.join(', ')} } from '${apiImport}';`],
    [
      '/** Per-call options. The reply mode is chosen by the view (`client.all`, `client.majority`), so return types stay exact. */',
      "export type StubCallOptions = Omit<CallOptions, 'reply'>;",
    ],
    ...typeDeclarations(model),
  ];
  if (model.errors.length > 0) {
    blocks.push([
      `/** Names of the errors ${svc.name} methods declare. */`,
      `export type ${name}ErrorName = ${model.errors.map((e) => `'${e.name}'`).join(' | ')};`,
    ]);
  }
  if (usesReplies) {
    blocks.push([
      `/** ${name} calls that return every member's reply instead of the first. */`,
      `export class ${name}Replies {`,
      '  readonly #invoker: Invoker;',
      "  readonly #mode: 'all' | 'majority';",
      '',
      "  constructor(invoker: Invoker, mode: 'all' | 'majority') {",
      '    this.#invoker = invoker;',
      '    this.#mode = mode;',
      '  }',
      '',
      ...twoWay.flatMap((m) => ['', ...method(svc, m, 'replies')]).slice(1),
      '}',
    ]);
  }
  const views = usesReplies
    ? [
        '  /** Every member of the view replies; each call returns all the replies. */',
        `  readonly all: ${name}Replies;`,
        '  /** A majority of the view replies; each call returns the replies gathered. */',
        `  readonly majority: ${name}Replies;`,
        '',
      ]
    : [];
  const ctorBody = usesReplies
    ? [
        `    this.all = new ${name}Replies(invoker, 'all');`,
        `    this.majority = new ${name}Replies(invoker, 'majority');`,
      ]
    : [];
  blocks.push([
    ...tsdoc(
      svc.doc
        ? `${svc.doc}\n\nTyped client of service '${svc.name}'.`
        : `Typed client of service '${svc.name}'.`,
    ),
    `export class ${name}Client {`,
    '  /** Service name every call is addressed to. */',
    `  static readonly service = '${svc.name}';`,
    ...views,
    '  readonly #invoker: Invoker;',
    '',
    '  constructor(invoker: Invoker) {',
    '    this.#invoker = invoker;',
    ...ctorBody,
    '  }',
    '',
    '  /** Wraps a connected client. */',
    `  static connect(invoker: Invoker): ${name}Client {`,
    `    return new ${name}Client(invoker);`,
    '  }',
    ...svc.methods.flatMap((m) => ['', ...method(svc, m, 'default')]),
    '}',
  ]);
  return head + '\n' + blocks.map((b) => b.join('\n')).join('\n\n') + '\n';
}
