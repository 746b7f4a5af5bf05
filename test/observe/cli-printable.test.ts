// `troupe status` and `troupe trace` print strings the members answered (member ids, methods,
// error messages): a control character among them reaches the operator's terminal, where an
// escape sequence can clear the screen or print lines that are not there (session 25's review).
import { expect, it } from 'vitest';
import { printable, traceCommand } from '../../runtime/observe/cli.js';

it('printable escapes control characters and keeps the rest', () => {
  expect(printable('m1 \u001b[2J\u001b]0;owned\u0007 ok\tdone')).toBe(
    'm1 \\u001b[2J\\u001b]0;owned\\u0007 ok\tdone',
  );
  expect(printable('a\nb\r\u007f\u009b€é')).toBe('a\\u000ab\\u000d\\u007f\\u009b€é');
  expect(printable('plain line, 12.5 ms')).toBe('plain line, 12.5 ms');
});

it('the commands write every line through it', async () => {
  const out: string[] = [];
  // An unknown option is echoed in the usage error: a string from outside, like a member's.
  const code = await traceCommand(['c:1', '--x\u001b[2J', 'v'], {
    out: (l) => out.push(l),
    err: (l) => out.push(l),
  });
  expect(code).toBe(2);
  expect(out).toEqual(['troupe: CLI_USAGE: unknown option --x\\u001b[2J']);
});
