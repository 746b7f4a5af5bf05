/**
 * Ordinary `//` comments, kept beside the model (never in it: the model is the contract, and
 * codegen emits it byte for byte) so that `troupe idl fmt` can print them back. See
 * docs/idl.md for where a comment may stand.
 */

/** The comments around one declaration, member, method or parameter (or the file itself). */
export interface NodeComments {
  /** Own-line comments just above it (above its `///` doc, if any). */
  before?: string[];
  /** A blank line followed {@link before} (kept between top-level declarations only). */
  blank?: boolean;
  /** The comment at the end of its (last) line. */
  after?: string;
  /** The comment after a block's opening `{`. */
  open?: string;
  /** Own-line comments before a block's closing `}` (or, for the file, at its end). */
  end?: string[];
  /** The file: comments at the end of the `package` and `version` lines. */
  packageAfter?: string;
  versionAfter?: string;
}

/** Comments by model node (the file model, declarations, fields, enum members, methods, parameters). */
export type IdlComments = WeakMap<object, NodeComments>;
