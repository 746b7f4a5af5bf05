/** A command-line flag or value the simulator's CLIs do not take: printed without a stack, exit 2. */
export class UsageError extends Error {}

/**
 * Runs a CLI's `main`; an unknown flag (node's `parseArgs`) or a {@link UsageError} prints one
 * line and the hint to `--help` on stderr and exits 2, as `npm run chaos` does. Anything else is
 * a bug of the simulator or the product and keeps its stack.
 */
export async function runCli(cmd: string, main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (!(e instanceof UsageError) && !(typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')))
      throw e;
    process.stderr.write(`${cmd}: ${(e as Error).message}\n(${cmd} -- --help lists the options)\n`);
    process.exitCode = 2;
  }
}
