/**
 * Extraction: reads `@Service` classes from a TypeScript project (syntactically, by
 * decorator name) and describes each as an IDL model. The runtime never reflects on types;
 * it loads this model instead.
 */
import * as path from 'node:path';
import {
  type ClassDeclaration,
  type Decorator,
  type Expression,
  type MethodDeclaration,
  Node,
  Project,
  type SourceFile,
  SyntaxKind,
  type Type,
  type TypeNode,
  ts,
} from 'ts-morph';
import { checkModel } from '../idl/check.js';
import {
  type ErrorDecl,
  type IdlFile,
  isCallQos,
  type Literal,
  type MethodDecl,
  type MethodKind,
  type MethodOptions,
  type Param,
  type ReplyMode,
  type TypeRef,
} from '../idl/model.js';
import { docOf, type Site, TypeMapper } from './type-mapper.js';

/** Options for {@link extractServices}. */
export interface ExtractOptions {
  /** Path of the tsconfig.json whose compiler options are used; without one, {@link DEFAULT_COMPILER_OPTIONS}. */
  tsconfig?: string;
  /** Source files to scan for `@Service` classes. */
  files: string[];
  /** Directory error messages are relative to (default: the tsconfig's directory). */
  root?: string;
  /** Map `any`/`unknown` to the IDL `any` type instead of failing. */
  allowAny?: boolean;
}

const METHOD_DECORATORS: Record<string, MethodKind> = {
  Ordered: 'ordered',
  Query: 'query',
  Handler: 'handler',
};
const REPLY_MODES: readonly ReplyMode[] = ['first', 'all', 'majority', 'none'];

/**
 * Compiler options when a project has no tsconfig.json: what `tsc --init` and Node 20 agree
 * on (strict, ES2023, Node's ESM resolution). Extraction only needs types to resolve.
 */
export const DEFAULT_COMPILER_OPTIONS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  esModuleInterop: true,
};

/**
 * The name a decorator is known by where it is declared: `@Ord()` after
 * `import { Ordered as Ord } from 'troupe'` is `Ordered`, as `@troupe.Ordered()` is. Read by
 * the written name alone, an aliased decorator was skipped: gen dropped the method without a
 * word, and `troupe serve` then refused the class ("decorated but not in the model") however
 * often gen ran again.
 */
function decoratorName(d: Decorator): string {
  const call = d.getCallExpression();
  const callee = call ? call.getExpression() : d.getExpression();
  let sym = callee.getSymbol();
  if (sym?.isAlias()) sym = sym.getAliasedSymbol();
  const name = sym?.getName();
  return name && name !== 'unknown' && name !== 'default' ? name : d.getName();
}

/** Loads the project and returns one model per `@Service` class found, sorted by service name. */
export function extractServices(opts: ExtractOptions): IdlFile[] {
  return extractServiceSources(opts).map((s) => s.model);
}

/** {@link extractServices}, with the absolute path of the file each model's class is in. */
export function extractServiceSources(opts: ExtractOptions): { model: IdlFile; file: string }[] {
  const project = opts.tsconfig
    ? new Project({ tsConfigFilePath: opts.tsconfig, skipAddingFilesFromTsConfig: true })
    : new Project({ compilerOptions: DEFAULT_COMPILER_OPTIONS });
  const files = opts.files.map((f) => project.addSourceFileAtPath(f));
  project.resolveSourceFileDependencies();
  const root = opts.root ?? (opts.tsconfig ? path.dirname(path.resolve(opts.tsconfig)) : process.cwd());
  return extractFrom(files, root, opts.allowAny ?? false);
}

/** Extraction over already-loaded source files. */
export function extractFromFiles(files: SourceFile[], root: string, allowAny: boolean): IdlFile[] {
  return extractFrom(files, root, allowAny).map((s) => s.model);
}

function extractFrom(
  files: SourceFile[],
  root: string,
  allowAny: boolean,
): { model: IdlFile; file: string }[] {
  const models: { model: IdlFile; file: string }[] = [];
  for (const sf of files) {
    for (const cls of sf.getClasses()) {
      const dec = cls.getDecorators().find((d) => decoratorName(d) === 'Service');
      if (dec) models.push({ model: extractService(cls, dec, root, allowAny), file: sf.getFilePath() });
    }
  }
  return models.sort((a, b) => (a.model.services[0]!.name < b.model.services[0]!.name ? -1 : 1));
}

function extractService(cls: ClassDeclaration, dec: Decorator, root: string, allowAny: boolean): IdlFile {
  const mapper = new TypeMapper(root, allowAny);
  const className = cls.getName() ?? '<anonymous>';
  const [nameArg, optsArg] = dec.getArguments();
  const site = { node: dec, where: `@Service on ${className}` };
  const name = nameArg ? literal(mapper, nameArg, site) : undefined;
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(name)) {
    return mapper.fail(site, "the service name must be a string literal identifier, e.g. @Service('bank')");
  }
  const serviceOpts = optsArg ? objectLiteral(mapper, optsArg, site) : {};
  const version = serviceOpts.version ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    return mapper.fail(site, 'version must be a whole number');
  }
  for (const key of Object.keys(serviceOpts)) {
    if (key !== 'version') mapper.fail(site, `unknown @Service option '${key}'`);
  }

  // The runtime refuses these when the class is defined; gen used to skip them and exit 0.
  for (const member of [
    ...cls.getStaticMethods(),
    ...cls.getProperties(),
    ...cls.getGetAccessors(),
    ...cls.getSetAccessors(),
  ]) {
    const dec = member.getDecorators().find((d) => decoratorName(d) in METHOD_DECORATORS);
    if (dec)
      mapper.fail(
        { node: dec, where: `${className}.${member.getName()}` },
        `troupe method decorators go on instance methods, not on ${member.getName()} (${Node.isPropertyDeclaration(member) ? 'a property' : Node.isMethodDeclaration(member) ? 'a static method' : 'an accessor'})`,
      );
  }

  const errors = new Map<string, ErrorDecl>();
  const methods: MethodDecl[] = [];
  for (const { m, owner } of instanceMethods(mapper, cls)) {
    const decs = m.getDecorators().filter((d) => decoratorName(d) in METHOD_DECORATORS);
    if (decs.length === 0) continue;
    const where = owner === cls ? className : `${className} (inherited from ${owner.getName()})`;
    if (owner !== cls && owner.getTypeParameters().length > 0) {
      mapper.fail(
        { node: decs[0]!, where: `${where}.${m.getName()}` },
        'codegen cannot read a remote method inherited from a generic base class (its types depend on the type arguments); declare it on the @Service class',
      );
    }
    if (decs.length > 1)
      mapper.fail(
        { node: m, where: `${where}.${m.getName()}` },
        'a method takes one of @Ordered, @Query, @Handler',
      );
    methods.push(extractMethod(mapper, where, m, decs[0]!, errors));
  }
  const doc = docOf(cls);
  const model: IdlFile = {
    package: name,
    version,
    types: mapper.declarations(),
    errors: [...errors.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    services: [{ name, methods, ...(doc !== undefined ? { doc } : {}) }],
  };
  checkModel(model, `${className} (${path.relative(root, cls.getSourceFile().getFilePath())})`);
  return model;
}

/**
 * The methods an instance of `cls` runs, each from the class that declares it last: `cls`'s
 * own, then its base classes' (nearest first), as the runtime finds decorated methods
 * (runtime/rpc/decorators.ts). A method a subclass redeclares is the subclass's, decorated or
 * not. Walking stops at a base class from a declaration file (no decorators survive there);
 * a base that is not a class declared in the project (a mixin call) is refused.
 */
function instanceMethods(
  mapper: TypeMapper,
  cls: ClassDeclaration,
): { m: MethodDeclaration; owner: ClassDeclaration }[] {
  const out: { m: MethodDeclaration; owner: ClassDeclaration }[] = [];
  const seen = new Set<string>();
  const chain: ClassDeclaration[] = [];
  for (let c: ClassDeclaration | undefined = cls; c; ) {
    if (chain.includes(c)) break;
    chain.push(c);
    for (const m of c.getInstanceMethods()) if (!seen.has(m.getName())) out.push({ m, owner: c });
    // A method or accessor on the prototype hides a base class's method of that name.
    for (const m of c.getInstanceMethods()) seen.add(m.getName());
    for (const a of [...c.getGetAccessors(), ...c.getSetAccessors()])
      if (!a.isStatic()) seen.add(a.getName());
    const ext = c.getExtends();
    if (!ext) break;
    const where = `${cls.getName() ?? '<anonymous>'} extends ${ext.getText()}`;
    const base = baseClass(ext.getExpression());
    if (base === 'library') break;
    if (!base) {
      return mapper.fail(
        { node: ext, where },
        'codegen cannot resolve the base class to a class declaration, so it cannot see the remote methods it may inherit; extend a class declared in the project, or declare the remote methods on the @Service class',
      );
    }
    if (base.getSourceFile().isDeclarationFile()) break;
    c = base;
  }
  return out;
}

/**
 * The class an `extends` clause names: its declaration, `'library'` for a class only a
 * declaration file describes (`extends Error`: no decorators survive there), or `undefined`
 * when it is not a plain (possibly qualified) class name, e.g. a mixin call.
 */
function baseClass(e: Expression): ClassDeclaration | 'library' | undefined {
  if (!Node.isIdentifier(e) && !Node.isPropertyAccessExpression(e)) return undefined;
  let sym = e.getSymbol();
  if (sym?.isAlias()) sym = sym.getAliasedSymbol();
  const decls = sym?.getDeclarations() ?? [];
  if (decls.length > 0 && decls.every((d) => d.getSourceFile().isDeclarationFile())) return 'library';
  return decls.find((d) => Node.isClassDeclaration(d)) as ClassDeclaration | undefined;
}

function extractMethod(
  mapper: TypeMapper,
  className: string,
  m: MethodDeclaration,
  dec: Decorator,
  errors: Map<string, ErrorDecl>,
): MethodDecl {
  const where = `${className}.${m.getName()}`;
  const site = { node: dec, where };
  const kind = METHOD_DECORATORS[decoratorName(dec)]!;
  const args = dec.getArguments();
  let lock: string | undefined;
  if (kind === 'handler') {
    const l = args[0] ? literal(mapper, args[0], site) : undefined;
    if (typeof l !== 'string' || l === '')
      return mapper.fail(site, "@Handler needs a lock name, e.g. @Handler('statements')");
    lock = l;
  }
  const optsNode = kind === 'handler' ? args[1] : args[0];
  const options = methodOptions(mapper, kind, optsNode ? objectLiteral(mapper, optsNode, site) : {}, site);
  if (m.isStatic()) mapper.fail(site, 'a static method cannot be a remote method');

  const params: Param[] = m.getParameters().map((p) => {
    const psite = { node: p, where: `${where}(${p.getName()})` };
    if (p.isRestParameter()) return mapper.fail(psite, 'rest parameters are not supported');
    if (!Node.isIdentifier(p.getNameNode()))
      return mapper.fail(psite, 'destructured parameters are not supported');
    const typeNode = p.getTypeNode();
    const type = mapper.map(typeNode ? typeNode.getType() : p.getType(), typeNode, psite);
    const init = p.getInitializer();
    const def = init ? defaultLiteral(init) : undefined;
    const optional = p.hasQuestionToken() || init !== undefined;
    return { name: p.getName(), type, optional, ...(def !== undefined ? { default: def } : {}) };
  });

  const returns = returnType(mapper, m, {
    node: m.getReturnTypeNode() ?? m.getNameNode(),
    where: `${where} -> return`,
  });
  if (options.reply === 'none' && returns) {
    mapper.fail({ node: m.getNameNode(), where }, "a one-way method (reply: 'none') must return void");
  }
  const throws = throwsOf(mapper, m, where, errors);
  const doc = docOf(m);
  return {
    name: m.getName(),
    kind,
    ...(lock !== undefined ? { lock } : {}),
    params,
    ...(returns ? { returns } : {}),
    throws,
    options,
    ...(doc !== undefined ? { doc } : {}),
  };
}

function methodOptions(
  mapper: TypeMapper,
  kind: MethodKind,
  o: Record<string, Literal>,
  site: Site,
): MethodOptions {
  const out: MethodOptions = { reply: 'first' };
  for (const [key, v] of Object.entries(o)) {
    if (key === 'reply' && REPLY_MODES.includes(v as ReplyMode)) out.reply = v as ReplyMode;
    else if (key === 'timeoutMs' && typeof v === 'number' && Number.isInteger(v) && v >= 0) out.timeoutMs = v;
    else if (key === 'qos' && typeof v === 'string' && isCallQos(v)) out.qos = v;
    else if (key === 'consistency' && kind === 'query' && v === 'ordered') out.consistency = 'ordered';
    else mapper.fail(site, `invalid option ${key}: ${JSON.stringify(v)}`);
  }
  return out;
}

function returnType(mapper: TypeMapper, m: MethodDeclaration, site: Site): TypeRef | undefined {
  let node: TypeNode | undefined = m.getReturnTypeNode();
  let type: Type = node ? node.getType() : m.getReturnType();
  if (type.getSymbol()?.getName() === 'Promise') {
    const arg = node && Node.isTypeReference(node) ? node.getTypeArguments()[0] : undefined;
    type = arg ? arg.getType() : type.getTypeArguments()[0]!;
    node = arg;
  }
  if (type.isVoid() || type.isUndefined()) return undefined;
  return mapper.map(type, node, site);
}

/** Declared errors come from `@throws {ErrorClass}` TSDoc tags. */
function throwsOf(
  mapper: TypeMapper,
  m: MethodDeclaration,
  where: string,
  errors: Map<string, ErrorDecl>,
): string[] {
  const names: string[] = [];
  for (const tag of m.getJsDocs().flatMap((d) => d.getTags())) {
    if (!Node.isJSDocThrowsTag(tag)) continue;
    const site = { node: tag, where };
    const expr = tag.compilerNode.typeExpression;
    if (!expr) mapper.fail(site, '@throws needs the error class in braces, e.g. @throws {InsufficientFunds}');
    const typeNode = tag.getDescendantsOfKind(SyntaxKind.JSDocTypeExpression)[0]?.getTypeNode();
    const sym = typeNode?.getType().getSymbol();
    const decl = sym?.getDeclarations()[0];
    if (!decl || !Node.isClassDeclaration(decl)) {
      return mapper.fail(site, `@throws type '${typeNode?.getText()}' must be an error class`);
    }
    const name = decl.getName()!;
    if (!errors.has(name)) errors.set(name, errorDecl(mapper, decl));
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** An error's payload: its own public data properties (constructor parameter properties included). */
function errorDecl(mapper: TypeMapper, cls: ClassDeclaration): ErrorDecl {
  const name = cls.getName()!;
  const own = new Set<string>([
    ...cls
      .getProperties()
      .filter((p) => !p.isStatic() && p.getScope() !== 'private' && p.getScope() !== 'protected')
      .map((p) => p.getName()),
    ...cls
      .getConstructors()
      .flatMap((c) => c.getParameters())
      .filter((p) => p.isParameterProperty() && p.getScope() !== 'private' && p.getScope() !== 'protected')
      .map((p) => p.getName()),
  ]);
  const type = cls.getType();
  const fields = mapper.fields(
    {
      getProperties: () => type.getProperties().filter((p) => own.has(p.getName())),
    } as Type,
    name,
    cls,
  );
  const doc = docOf(cls);
  return { name, fields, ...(doc !== undefined ? { doc } : {}) };
}

function unwrap(e: Expression): Expression {
  return Node.isAsExpression(e) || Node.isParenthesizedExpression(e) || Node.isSatisfiesExpression(e)
    ? unwrap(e.getExpression())
    : e;
}

function defaultLiteral(e: Expression): Literal | undefined {
  const x = unwrap(e);
  if (Node.isStringLiteral(x) || Node.isNoSubstitutionTemplateLiteral(x)) return x.getLiteralValue();
  if (Node.isNumericLiteral(x)) return x.getLiteralValue();
  if (Node.isTrueLiteral(x)) return true;
  if (Node.isFalseLiteral(x)) return false;
  if (Node.isPrefixUnaryExpression(x) && x.getOperatorToken() === SyntaxKind.MinusToken) {
    const operand = x.getOperand();
    if (Node.isNumericLiteral(operand)) return -operand.getLiteralValue();
  }
  return undefined;
}

function literal(mapper: TypeMapper, e: Node, site: Site): Literal {
  const v = Node.isExpression(e) ? defaultLiteral(e) : undefined;
  if (v === undefined)
    return mapper.fail(
      site,
      `'${e.getText()}' must be a literal (codegen reads decorators without running them)`,
    );
  return v;
}

function objectLiteral(mapper: TypeMapper, e: Node, site: Site): Record<string, Literal> {
  if (!Node.isObjectLiteralExpression(e))
    return mapper.fail(site, `options must be an object literal, not '${e.getText()}'`);
  const out: Record<string, Literal> = {};
  for (const p of e.getProperties()) {
    if (!Node.isPropertyAssignment(p))
      return mapper.fail(site, `option '${p.getText()}' must be written 'key: literal'`);
    out[p.getName()] = literal(mapper, p.getInitializerOrThrow(), site);
  }
  return out;
}
