/** Tokenizer for `.troupe.idl` text. Keywords are contextual, so words are all `word` tokens. */
import { IdlParseError } from './errors.js';

export type TokenKind = 'word' | 'string' | 'number' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Source text for words, numbers and punctuation; the decoded value for strings. */
  text: string;
  line: number;
  column: number;
  /** `///` doc lines immediately before this token, joined with newlines. */
  doc?: string;
  /** `//` comments on their own lines before this token (text from `//`, right-trimmed). */
  comments?: Comment[];
  /** A blank line separates {@link comments} from what follows them. */
  blankAfterComments?: boolean;
  /** A `//` comment after this token on the same line. */
  trailing?: Comment;
}

/** An ordinary `//` comment and where it starts. */
export interface Comment {
  text: string;
  line: number;
  column: number;
}

const PUNCT = ['->', '{', '}', '(', ')', '[', ']', '<', '>', ';', ':', ',', '?', '=', '|'];
const WORD = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING = /"(?:[^"\\\n]|\\.)*"/y;

/** Splits `text` into tokens; throws {@link IdlParseError} on a character it cannot start a token with. */
export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let line = 1;
  let lineStart = 0;
  let doc: string[] = [];
  let comments: Comment[] = [];
  let blank: boolean | undefined;
  const col = () => pos - lineStart + 1;
  // After the last own-line comment, the first line with content decides `blankAfterComments`.
  const content = () => {
    if (comments.length > 0 && blank === undefined) blank = line > comments[comments.length - 1]!.line + 1;
  };

  while (pos < text.length) {
    const ch = text[pos]!;
    if (ch === '\n') {
      pos++;
      line++;
      lineStart = pos;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      pos++;
      continue;
    }
    if (text.startsWith('//', pos)) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = text.length;
      if (text.startsWith('///', pos)) {
        content();
        // One space after `///` is layout, not content.
        const body = text.slice(pos + 3, end).replace(/\r$/, '');
        doc.push(body.startsWith(' ') ? body.slice(1) : body);
      } else {
        const c = { text: text.slice(pos, end).trimEnd(), line, column: col() };
        const prev = tokens[tokens.length - 1];
        if (prev && prev.line === line && comments.length === 0 && doc.length === 0) prev.trailing = c;
        else {
          comments.push(c);
          blank = undefined;
        }
      }
      pos = end;
      continue;
    }
    content();
    const start = { line, column: col() };
    let tok: Token | undefined;
    for (const [kind, re] of [
      ['word', WORD],
      ['number', NUMBER],
      ['string', STRING],
    ] as const) {
      re.lastIndex = pos;
      const m = re.exec(text);
      if (m) {
        const raw = m[0];
        let value = raw;
        if (kind === 'string') {
          try {
            value = JSON.parse(raw) as string;
          } catch {
            throw new IdlParseError(
              'invalid escape in string',
              file,
              start.line,
              start.column,
              'use JSON escapes',
            );
          }
        }
        tok = { kind, text: value, ...start };
        pos += raw.length;
        break;
      }
    }
    if (!tok) {
      const p = PUNCT.find((s) => text.startsWith(s, pos));
      if (!p) {
        const hint =
          ch === '"' ? 'strings end on the same line' : ch === "'" ? 'strings use double quotes' : undefined;
        throw new IdlParseError(`unexpected character '${ch}'`, file, start.line, start.column, hint);
      }
      tok = { kind: 'punct', text: p, ...start };
      pos += p.length;
    }
    if (doc.length > 0) {
      tok.doc = doc.join('\n');
      doc = [];
    }
    if (comments.length > 0) {
      tok.comments = comments;
      if (blank) tok.blankAfterComments = true;
      comments = [];
    }
    blank = undefined;
    tokens.push(tok);
  }
  const eof: Token = { kind: 'eof', text: '', line, column: col() };
  if (comments.length > 0) eof.comments = comments;
  tokens.push(eof);
  return tokens;
}
