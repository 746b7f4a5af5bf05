/**
 * Options objects from plain JavaScript: a misspelt key (`connectTimeout`, `transprot`) was
 * ignored, the call ran on a default the caller meant to change, and failed later for a reason
 * that named nothing. Each entry point lists the keys it takes (checked against its options
 * type by the compiler) and refuses any other, naming the nearest one.
 */

/** Every key of an options type, for {@link refuseUnknownOptions}: `{ a: true, … } satisfies Record<keyof T, true>`. */
export type OptionKeys = Readonly<Record<string, true>>;

/**
 * The message for the first own key of `options` that `known` does not list, or undefined.
 *
 * @example
 * ```ts
 * unknownOption('connect', { connectTimeout: 100 }, { connectTimeoutMs: true });
 * // "connect: unknown option 'connectTimeout' (did you mean 'connectTimeoutMs'?); it takes connectTimeoutMs"
 * ```
 */
export function unknownOption(who: string, options: object, known: OptionKeys): string | undefined {
  for (const k of Object.keys(options)) {
    if (Object.hasOwn(known, k)) continue;
    const lower = k.toLowerCase();
    const near = Object.keys(known).find(
      (o) => o.toLowerCase().startsWith(lower) || lower.startsWith(o.toLowerCase()),
    );
    return `${who}: unknown option '${k}'${near ? ` (did you mean '${near}'?)` : ''}; it takes ${Object.keys(known).join(', ')}`;
  }
  return undefined;
}
