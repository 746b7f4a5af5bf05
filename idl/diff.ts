/**
 * Compatibility check between two versions of a contract, in the spirit of `buf breaking`:
 * every difference is reported with a rule name and classified as compatible (old clients
 * and servers keep working) or breaking (some old client or server would fail).
 */
import type { ErrorDecl, Field, IdlFile, MethodDecl, ServiceDecl, StructDecl, TypeDecl } from './model.js';
import { literalToString, sameType, typeToString } from './model.js';

/** Whether a change keeps old clients and servers working (`compatible`) or not (`breaking`). */
export type ChangeLevel = 'breaking' | 'compatible';

/** One difference between the old and new contract. */
export interface Change {
  level: ChangeLevel;
  /** Stable rule name, e.g. `PARAM_TYPE_CHANGED`; documented in docs/idl.md. */
  rule: string;
  /** What changed, e.g. `bank.withdraw(amount)` or `AuditReport.total`. */
  path: string;
  message: string;
}

type Emit = (level: ChangeLevel, rule: string, path: string, message: string) => void;

function byName<T extends { name: string }>(xs: T[]): Map<string, T> {
  return new Map(xs.map((x) => [x.name, x]));
}

function fields(
  emit: Emit,
  owner: string,
  prefix: 'FIELD' | 'ERROR_FIELD',
  old: Field[],
  neu: Field[],
): void {
  const olds = byName(old);
  const news = byName(neu);
  for (const o of old) {
    const n = news.get(o.name);
    const path = `${owner}.${o.name}`;
    if (!n) {
      emit('breaking', `${prefix}_REMOVED`, path, `field '${o.name}' was removed`);
      continue;
    }
    if (!sameType(o.type, n.type)) {
      emit(
        'breaking',
        `${prefix}_TYPE_CHANGED`,
        path,
        `type changed from ${typeToString(o.type)} to ${typeToString(n.type)}`,
      );
    }
    // Structs travel both ways, so optionality changes break either readers or writers.
    if (o.optional !== n.optional) {
      emit(
        'breaking',
        `${prefix}_OPTIONALITY_CHANGED`,
        path,
        `field became ${n.optional ? 'optional' : 'required'}`,
      );
    }
  }
  for (const n of neu) {
    if (olds.has(n.name)) continue;
    const path = `${owner}.${n.name}`;
    if (n.optional)
      emit('compatible', `${prefix}_ADDED_OPTIONAL`, path, `optional field '${n.name}' was added`);
    else emit('breaking', `${prefix}_ADDED_REQUIRED`, path, `required field '${n.name}' was added`);
  }
}

function typeDecl(emit: Emit, o: TypeDecl, n: TypeDecl): void {
  if (o.kind !== n.kind) {
    emit('breaking', 'TYPE_KIND_CHANGED', o.name, `changed from ${o.kind} to ${n.kind}`);
    return;
  }
  if (o.kind === 'struct') fields(emit, o.name, 'FIELD', o.fields, (n as StructDecl).fields);
  else if (o.kind === 'enum' && n.kind === 'enum') {
    const news = byName(n.members);
    for (const m of o.members) {
      const nm = news.get(m.name);
      const path = `${o.name}.${m.name}`;
      if (!nm) emit('breaking', 'ENUM_VALUE_REMOVED', path, `enum value '${m.name}' was removed`);
      else if (nm.value !== m.value) {
        emit(
          'breaking',
          'ENUM_VALUE_CHANGED',
          path,
          `value changed from ${literalToString(m.value)} to ${literalToString(nm.value)}`,
        );
      }
    }
    const olds = byName(o.members);
    for (const m of n.members) {
      if (!olds.has(m.name))
        emit('compatible', 'ENUM_VALUE_ADDED', `${o.name}.${m.name}`, `enum value '${m.name}' was added`);
    }
  } else if (o.kind === 'union' && n.kind === 'union') {
    const key = (m: (typeof o.members)[number]) => (m.kind === 'ref' ? m.name : literalToString(m.value));
    const oldKeys = o.members.map(key);
    const newKeys = n.members.map(key);
    for (const k of oldKeys) {
      if (!newKeys.includes(k)) emit('breaking', 'UNION_MEMBER_REMOVED', o.name, `member ${k} was removed`);
    }
    for (const k of newKeys) {
      if (!oldKeys.includes(k)) emit('compatible', 'UNION_MEMBER_ADDED', o.name, `member ${k} was added`);
    }
  }
}

function method(emit: Emit, svc: string, o: MethodDecl, n: MethodDecl): void {
  const at = `${svc}.${o.name}`;
  if (o.kind !== n.kind)
    emit('breaking', 'METHOD_KIND_CHANGED', at, `kind changed from ${o.kind} to ${n.kind}`);
  else if (o.lock !== n.lock)
    emit('breaking', 'METHOD_LOCK_CHANGED', at, `lock changed from "${o.lock}" to "${n.lock}"`);
  if ((o.options.consistency ?? 'local') !== (n.options.consistency ?? 'local')) {
    emit(
      'breaking',
      'METHOD_ORDERING_CHANGED',
      at,
      `consistency changed from ${o.options.consistency ?? 'local'} to ${n.options.consistency ?? 'local'}`,
    );
  }
  // The default reply mode decides what a stub call returns (a value or every member's reply).
  if (o.options.reply !== n.options.reply) {
    emit(
      'breaking',
      'METHOD_REPLY_CHANGED',
      at,
      `default reply changed from ${o.options.reply} to ${n.options.reply}`,
    );
  }
  if (o.options.timeoutMs !== n.options.timeoutMs || o.options.qos !== n.options.qos) {
    emit('compatible', 'METHOD_OPTIONS_CHANGED', at, 'default timeout or qos changed');
  }
  const ret = (m: MethodDecl) => (m.returns ? typeToString(m.returns) : 'void');
  if (ret(o) !== ret(n))
    emit('breaking', 'RETURN_TYPE_CHANGED', at, `return type changed from ${ret(o)} to ${ret(n)}`);

  // Arguments are positional: compare parameters by position, not by name.
  const len = Math.max(o.params.length, n.params.length);
  for (let i = 0; i < len; i++) {
    const op = o.params[i];
    const np = n.params[i];
    const path = `${at}(${(np ?? op)!.name})`;
    if (!np) {
      emit('breaking', 'PARAM_REMOVED', path, `parameter '${op!.name}' was removed`);
    } else if (!op) {
      if (np.optional)
        emit('compatible', 'PARAM_ADDED_OPTIONAL', path, `optional parameter '${np.name}' was added`);
      else emit('breaking', 'PARAM_ADDED_REQUIRED', path, `required parameter '${np.name}' was added`);
    } else {
      if (op.name !== np.name)
        emit('compatible', 'PARAM_RENAMED', path, `parameter '${op.name}' was renamed to '${np.name}'`);
      if (!sameType(op.type, np.type)) {
        emit(
          'breaking',
          'PARAM_TYPE_CHANGED',
          path,
          `type changed from ${typeToString(op.type)} to ${typeToString(np.type)}`,
        );
      }
      if (op.optional && !np.optional)
        emit('breaking', 'PARAM_MADE_REQUIRED', path, `parameter '${np.name}' became required`);
      if (!op.optional && np.optional)
        emit('compatible', 'PARAM_MADE_OPTIONAL', path, `parameter '${np.name}' became optional`);
      if (op.optional && np.optional && op.default !== np.default) {
        const show = (v: typeof op.default) => (v === undefined ? 'none' : literalToString(v));
        emit(
          'breaking',
          'PARAM_DEFAULT_CHANGED',
          path,
          `default changed from ${show(op.default)} to ${show(np.default)}`,
        );
      }
    }
  }
  for (const e of n.throws) {
    if (!o.throws.includes(e)) emit('breaking', 'THROWS_ADDED', at, `may now throw ${e}`);
  }
  for (const e of o.throws) {
    if (!n.throws.includes(e)) emit('compatible', 'THROWS_REMOVED', at, `no longer throws ${e}`);
  }
}

function service(emit: Emit, o: ServiceDecl, n: ServiceDecl): void {
  const news = byName(n.methods);
  for (const m of o.methods) {
    const nm = news.get(m.name);
    if (nm) method(emit, o.name, m, nm);
    else emit('breaking', 'METHOD_REMOVED', `${o.name}.${m.name}`, `method '${m.name}' was removed`);
  }
  const olds = byName(o.methods);
  for (const m of n.methods) {
    if (!olds.has(m.name))
      emit('compatible', 'METHOD_ADDED', `${o.name}.${m.name}`, `method '${m.name}' was added`);
  }
}

function errorDecl(emit: Emit, o: ErrorDecl, n: ErrorDecl): void {
  // Error payloads only flow server to client; classify like struct fields all the same,
  // because clients destructure them.
  fields(emit, o.name, 'ERROR_FIELD', o.fields, n.fields);
}

/** Lists every difference from `old` to `neu`, sorted by path then rule. Docs are ignored. */
export function diffIdl(old: IdlFile, neu: IdlFile): Change[] {
  const changes: Change[] = [];
  const emit: Emit = (level, rule, path, message) => changes.push({ level, rule, path, message });

  if (old.package !== neu.package) {
    emit('breaking', 'PACKAGE_CHANGED', old.package, `package renamed from ${old.package} to ${neu.package}`);
  }
  if (old.version !== neu.version) {
    emit(
      'compatible',
      'VERSION_CHANGED',
      neu.package,
      `version changed from ${old.version} to ${neu.version}`,
    );
  }
  const pairs = <T extends { name: string }>(
    os: T[],
    ns: T[],
    same: (o: T, n: T) => void,
    removed: (o: T) => void,
    added: (n: T) => void,
  ) => {
    const nm = byName(ns);
    const om = byName(os);
    for (const o of os) {
      const n = nm.get(o.name);
      if (n) same(o, n);
      else removed(o);
    }
    for (const n of ns) if (!om.has(n.name)) added(n);
  };
  pairs(
    old.services,
    neu.services,
    (o, n) => service(emit, o, n),
    (o) => emit('breaking', 'SERVICE_REMOVED', o.name, `service '${o.name}' was removed`),
    (n) => emit('compatible', 'SERVICE_ADDED', n.name, `service '${n.name}' was added`),
  );
  pairs(
    old.types,
    neu.types,
    (o, n) => typeDecl(emit, o, n),
    (o) => emit('breaking', 'TYPE_REMOVED', o.name, `${o.kind} '${o.name}' was removed`),
    (n) => emit('compatible', 'TYPE_ADDED', n.name, `${n.kind} '${n.name}' was added`),
  );
  pairs(
    old.errors,
    neu.errors,
    (o, n) => errorDecl(emit, o, n),
    (o) => emit('compatible', 'ERROR_REMOVED', o.name, `error '${o.name}' was removed`),
    (n) => emit('compatible', 'ERROR_ADDED', n.name, `error '${n.name}' was added`),
  );
  return changes.sort((a, b) =>
    a.path === b.path ? a.rule.localeCompare(b.rule) : a.path < b.path ? -1 : 1,
  );
}

/** True when any change is breaking. */
export const hasBreaking = (changes: Change[]): boolean => changes.some((c) => c.level === 'breaking');

/** One line per change: `BREAKING  PARAM_TYPE_CHANGED  bank.withdraw(amount): type changed ...`. */
export function formatChanges(changes: Change[]): string {
  return changes
    .map((c) => `${c.level === 'breaking' ? 'BREAKING  ' : 'compatible'}  ${c.rule}  ${c.path}: ${c.message}`)
    .join('\n');
}
