/**
 * Maps TypeScript types (through the ts-morph type checker) to IDL type expressions,
 * collecting the named structs, enums and unions they reference.
 */
import * as path from 'node:path';
import { type EnumDeclaration, Node, type Symbol as TsSymbol, type Type, type TypeNode } from 'ts-morph';
import {
  type EnumDecl,
  type Field,
  INTEGER_TYPES,
  type IntegerType,
  type Literal,
  normalizeDoc,
  type TypeDecl,
  type TypeRef,
  type UnionMember,
} from '../idl/model.js';
import { ExtractError } from './errors.js';

/** Where a type occurs, for error messages. */
export interface Site {
  node: Node;
  /** `Class.method(param)`, `Class.method -> return` or `Type.field`. */
  where: string;
}

/** JSDoc text of a node, normalized; `undefined` when it has none. */
export function docOf(node: Node): string | undefined {
  if (!Node.isJSDocable(node)) return undefined;
  const texts = node.getJsDocs().map((d) => d.getInnerText());
  return normalizeDoc(texts.join('\n\n'));
}

/** Accumulates the named declarations reached while mapping one service's types. */
export class TypeMapper {
  /** Declarations by name, with the TS node each came from (to detect name clashes). */
  private readonly decls = new Map<string, { decl: TypeDecl; origin: Node }>();

  constructor(
    private readonly root: string,
    private readonly allowAny: boolean,
  ) {}

  /** The collected declarations, sorted by name for deterministic output. */
  declarations(): TypeDecl[] {
    return [...this.decls.values()].map((d) => d.decl).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  fail(site: Site, reason: string): never {
    const sf = site.node.getSourceFile();
    const { line, column } = sf.getLineAndColumnAtPos(site.node.getStart());
    const file = path.relative(this.root, sf.getFilePath()) || sf.getFilePath();
    throw new ExtractError(reason, file.split(path.sep).join('/'), line, column, site.where);
  }

  /** Maps `type`, using its written `node` (when there is one) for integer aliases and unions. */
  map(type: Type, node: TypeNode | undefined, site: Site): TypeRef {
    if (node && Node.isParenthesizedTypeNode(node)) return this.map(type, node.getTypeNode(), site);
    if (node && Node.isTypeReference(node)) {
      const name = node.getTypeName().getText().split('.').pop()!;
      if ((INTEGER_TYPES as readonly string[]).includes(name) && type.isNumber()) {
        return { kind: 'prim', name: name as IntegerType };
      }
    }
    if (type.isAny() || type.isUnknown()) {
      if (this.allowAny) return { kind: 'prim', name: 'any' };
      return this.fail(
        site,
        `type '${type.getText()}' cannot be checked; declare a real type (or pass --allow-any)`,
      );
    }
    if (type.isBoolean()) return { kind: 'prim', name: 'bool' };
    if (type.isString()) return { kind: 'prim', name: 'string' };
    if (type.isNumber()) return { kind: 'prim', name: 'f64' };
    if (type.isBigInt()) return { kind: 'prim', name: 'bigint' };
    if (type.isEnum()) return this.enumRef(type, site);
    if (type.isUnion()) return this.union(type, node, site);
    if (type.isArray() || type.isReadonlyArray()) {
      const element = type.getArrayElementTypeOrThrow();
      let elementNode: TypeNode | undefined;
      if (node && Node.isArrayTypeNode(node)) elementNode = node.getElementTypeNode();
      else if (node && Node.isTypeReference(node)) elementNode = node.getTypeArguments()[0];
      return { kind: 'array', of: this.map(element, elementNode, site) };
    }
    if (type.isTuple()) return this.fail(site, 'tuples are not supported; use a named interface');
    if (type.isEnumLiteral()) {
      return this.fail(
        site,
        `a single enum member type '${type.getText()}' is not supported; use a string or number literal`,
      );
    }
    // A literal type: most often the discriminant of a tagged union (`kind: 'circle'`).
    if (type.isStringLiteral() || type.isNumberLiteral())
      return { kind: 'literal', value: type.getLiteralValue() as Literal };
    if (type.isBooleanLiteral()) return { kind: 'literal', value: type.getText() === 'true' };
    if (type.isLiteral())
      return this.fail(site, `literal type '${type.getText()}' cannot be carried; use a string or number`);
    if (type.isObject()) return this.object(type, node, site);
    return this.fail(site, `type '${type.getText()}' cannot be carried`);
  }

  private union(type: Type, node: TypeNode | undefined, site: Site): TypeRef {
    const members = type.getUnionTypes();
    const present = members.filter((t) => !t.isUndefined() && !t.isNull());
    if (present.length < members.length) {
      // `T | undefined`: map T, preferring its written node so an alias name survives.
      const written = node && Node.isUnionTypeNode(node) ? node.getTypeNodes() : [];
      const nonNull = written.filter((n) => !/^(undefined|null)$/.test(n.getText()));
      if (nonNull.length === 1)
        return { kind: 'optional', of: this.map(nonNull[0]!.getType(), nonNull[0], site) };
      if (present.length === 1) return { kind: 'optional', of: this.map(present[0]!, undefined, site) };
      if (present.every((t) => t.isBooleanLiteral()))
        return { kind: 'optional', of: { kind: 'prim', name: 'bool' } };
      if (!present[0]!.getAliasSymbol() && present.every(isLiteral))
        return { kind: 'optional', of: oneOf(present, node) };
      const enumSym = present[0]!.isEnumLiteral() ? this.parentEnum(present[0]!) : undefined;
      if (enumSym && present.every((t) => t.isEnumLiteral() && this.parentEnum(t) === enumSym)) {
        return { kind: 'optional', of: this.enumFromDecl(enumSym, site) };
      }
      return this.fail(site, 'an optional union must name its union with a type alias');
    }
    const alias = type.getAliasSymbol();
    // `unit: 'cm' | 'mm'` written inline: carried as it is written (IDL `"cm" | "mm"`).
    if (!alias && members.every(isLiteral)) return oneOf(members, node);
    if (!alias)
      return this.fail(
        site,
        `anonymous union '${type.getText()}'; declare it as a named type alias (only a union of literals may be written inline)`,
      );
    const name = alias.getName();
    const origin = alias.getDeclarations()[0] ?? site.node;
    if (this.reserve(name, origin, site)) return { kind: 'ref', name };
    const out: UnionMember[] = [];
    for (const t of members) {
      if (t.isStringLiteral() || t.isNumberLiteral())
        out.push({ kind: 'literal', value: t.getLiteralValue() as Literal });
      else if (t.isBooleanLiteral()) out.push({ kind: 'literal', value: t.getText() === 'true' });
      else if (isAnonymousObject(t)) out.push(this.taggedMember(t, members, name, origin));
      else {
        const ref = this.map(t, undefined, { node: origin, where: name });
        const target = ref.kind === 'ref' ? this.decls.get(ref.name)?.decl : undefined;
        if (ref.kind !== 'ref' || target?.kind !== 'struct') {
          return this.fail(
            { node: origin, where: name },
            `union members must be interfaces or literals, not '${t.getText()}'`,
          );
        }
        out.push(ref);
      }
    }
    this.define(name, origin, { kind: 'union', name, members: out, ...withDoc(origin) });
    return { kind: 'ref', name };
  }

  /**
   * An inline object member of a tagged union (`{ kind: 'circle'; r: number } | ...`). The IDL
   * names every struct, so the member becomes the struct `<Union><Tag>` (`ShapeCircle`), named
   * from its discriminant: a field every object member has, of a literal type, with a value
   * of its own in each. The generated union is the same TypeScript type under those names.
   */
  private taggedMember(t: Type, all: Type[], union: string, origin: Node): UnionMember {
    const objects = all.filter(isAnonymousObject);
    const site = { node: origin, where: union };
    const tagOf = (o: Type, prop: string): Literal | undefined => {
      const p = o.getProperty(prop);
      if (!p || p.isOptional()) return undefined;
      const pt = p.getTypeAtLocation(origin);
      if (pt.isStringLiteral() || pt.isNumberLiteral()) return pt.getLiteralValue() as Literal;
      if (pt.isBooleanLiteral()) return pt.getText() === 'true';
      return undefined;
    };
    const field = t
      .getProperties()
      .map((p) => p.getName())
      .find((prop) => {
        const tags = objects.map((o) => tagOf(o, prop));
        return tags.every((x) => x !== undefined) && new Set(tags).size === tags.length;
      });
    if (field === undefined) {
      return this.fail(
        site,
        'an inline object member of a union needs a discriminant: a field of a literal type with a different value in each member (or declare each member as a named interface)',
      );
    }
    const tag = String(tagOf(t, field));
    const name =
      union + tag.replace(/(^|[^A-Za-z0-9])([A-Za-z0-9]?)/g, (_, _sep, c: string) => c.toUpperCase());
    const memberOrigin = t.getSymbol()?.getDeclarations()[0] ?? origin;
    if (!this.reserve(name, memberOrigin, { node: memberOrigin, where: `${union} (${field}: ${tag})` })) {
      const fields = this.fields(t, name, memberOrigin);
      this.define(name, memberOrigin, { kind: 'struct', name, fields });
    }
    return { kind: 'ref', name };
  }

  private parentEnum(t: Type): EnumDeclaration | undefined {
    const decl = t.getSymbol()?.getDeclarations()[0]?.getParent();
    return decl && Node.isEnumDeclaration(decl) ? decl : undefined;
  }

  private enumRef(type: Type, site: Site): TypeRef {
    const decl = type.getSymbol()?.getDeclarations()[0];
    if (!decl || !Node.isEnumDeclaration(decl))
      return this.fail(site, `cannot find the enum '${type.getText()}'`);
    return this.enumFromDecl(decl, site);
  }

  private enumFromDecl(decl: EnumDeclaration, site: Site): TypeRef {
    const name = decl.getName();
    if (this.reserve(name, decl, site)) return { kind: 'ref', name };
    const members: EnumDecl['members'] = decl.getMembers().map((m) => {
      const value = m.getValue();
      if (value === undefined)
        return this.fail({ node: m, where: `${name}.${m.getName()}` }, 'enum value must be constant');
      return { name: m.getName(), value, ...withDoc(m) };
    });
    const kinds = new Set(members.map((m) => typeof m.value));
    if (kinds.size !== 1)
      return this.fail({ node: decl, where: name }, 'an enum must be all strings or all numbers');
    const valueType = kinds.has('string') ? 'string' : 'number';
    this.define(name, decl, { kind: 'enum', name, valueType, members, ...withDoc(decl) });
    return { kind: 'ref', name };
  }

  private object(type: Type, node: TypeNode | undefined, site: Site): TypeRef {
    const sym = type.getSymbol();
    const symName = sym?.getName();
    if (type.getCallSignatures().length > 0)
      return this.fail(site, `type '${type.getText()}' is a function and cannot be carried`);
    if (symName === 'Date') return { kind: 'prim', name: 'timestamp' };
    if (symName === 'Uint8Array' || symName === 'Buffer') return { kind: 'prim', name: 'bytes' };
    if (symName === 'Promise')
      return this.fail(site, 'nested Promise; only the return type may be a Promise');
    if (symName === 'Map' || symName === 'Set') {
      return this.fail(site, `${symName} is not supported; use Record<string, V> or an array`);
    }
    const stringIndex = type.getStringIndexType();
    if (stringIndex && type.getProperties().length === 0) {
      let valueNode: TypeNode | undefined;
      if (node && Node.isTypeReference(node)) valueNode = node.getTypeArguments()[1];
      return { kind: 'map', value: this.map(stringIndex, valueNode, site) };
    }
    if (type.getNumberIndexType())
      return this.fail(site, 'number-keyed maps are not supported; use Record<string, V>');
    const alias = type.getAliasSymbol();
    const named: TsSymbol | undefined = alias ?? sym;
    const name = named?.getName();
    if (!named || !name || name.startsWith('__')) {
      return this.fail(site, `anonymous object type '${type.getText()}'; declare a named interface`);
    }
    if (type.getTypeArguments().length > 0 || type.getAliasTypeArguments().length > 0) {
      return this.fail(
        site,
        `generic type '${type.getText()}' is not supported; declare a concrete interface`,
      );
    }
    const origin = named.getDeclarations()[0] ?? site.node;
    if (Node.isClassDeclaration(origin) && origin.getMethods().length > 0) {
      return this.fail(site, `class '${name}' has methods and cannot be carried; use a data-only interface`);
    }
    if (this.reserve(name, origin, site)) return { kind: 'ref', name };
    const fields = this.fields(type, name, origin);
    this.define(name, origin, { kind: 'struct', name, fields, ...withDoc(origin) });
    return { kind: 'ref', name };
  }

  /** Maps the properties of an object type to fields. */
  fields(type: Type, owner: string, origin: Node): Field[] {
    return type.getProperties().map((prop) => {
      const decl = prop.getValueDeclaration() ?? prop.getDeclarations()[0] ?? origin;
      const site = { node: decl, where: `${owner}.${prop.getName()}` };
      if (Node.isMethodSignature(decl) || Node.isMethodDeclaration(decl)) {
        return this.fail(site, 'a method cannot be carried; use a data-only interface');
      }
      const typeNode =
        Node.isPropertySignature(decl) ||
        Node.isPropertyDeclaration(decl) ||
        Node.isParameterDeclaration(decl)
          ? decl.getTypeNode()
          : undefined;
      const optional = prop.isOptional();
      let t = typeNode ? typeNode.getType() : prop.getTypeAtLocation(decl);
      if (optional && !typeNode && t.isUnion()) t = t.getNonNullableType();
      return { name: prop.getName(), type: this.map(t, typeNode, site), optional, ...withDoc(decl) };
    });
  }

  /**
   * Claims `name` for `origin`. Returns true when it is already defined (or being defined,
   * for recursive types) by the same declaration; fails when another declaration has it.
   */
  private reserve(name: string, origin: Node, site: Site): boolean {
    const existing = this.decls.get(name);
    if (!existing) {
      // Placeholder so a recursive reference finds the name while its fields are mapped.
      this.decls.set(name, { decl: { kind: 'struct', name, fields: [] }, origin });
      return false;
    }
    if (existing.origin !== origin) {
      return this.fail(site, `two different types are named '${name}'; rename one (IDL names are global)`);
    }
    return true;
  }

  private define(name: string, origin: Node, decl: TypeDecl): void {
    this.decls.set(name, { decl, origin });
  }
}

/** A string, number or boolean literal type (not an enum member, which names its enum). */
function isLiteral(t: Type): boolean {
  return !t.isEnumLiteral() && (t.isStringLiteral() || t.isNumberLiteral() || t.isBooleanLiteral());
}

/**
 * An inline union of literal types, in the order written when `node` shows it (the checker
 * orders a union's members by when it first met each type, not as written).
 */
function oneOf(members: Type[], node: TypeNode | undefined): TypeRef {
  const value = (t: Type): Literal =>
    t.isBooleanLiteral() ? t.getText() === 'true' : (t.getLiteralValue() as Literal);
  const values = members.map(value);
  const written =
    node && Node.isUnionTypeNode(node)
      ? node
          .getTypeNodes()
          .filter((n) => !/^(undefined|null)$/.test(n.getText()))
          .map((n) => n.getType())
      : [];
  if (written.length === members.length && written.every(isLiteral))
    return { kind: 'oneOf', values: written.map(value) };
  return { kind: 'oneOf', values };
}

/** An object type written inline (`{ kind: 'circle'; r: number }`), not a named interface. */
function isAnonymousObject(t: Type): boolean {
  if (!t.isObject() || t.isArray() || t.getAliasSymbol()) return false;
  const name = t.getSymbol()?.getName();
  return name === '__type' || name === '__object';
}

function withDoc(node: Node): { doc?: string } {
  const doc = docOf(node);
  return doc === undefined ? {} : { doc };
}
