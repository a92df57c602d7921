// Command-line helpers shared by the bench modes.

/**
 * `raw` (a `--name` option's text) as a positive integer, or `fallback` when the option is absent.
 * @throws TypeError naming the option when `raw` is not a positive integer.
 */
export function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${raw}`);
  return value;
}

/**
 * Runs a mode's `parse` on `argv`: its config, or the exit code to return at once (0 after printing
 * `usage` for --help; 2 after printing a bad option's message and `usage`, with no stack trace).
 */
export function parseOrExit<T>(parse: (argv: string[]) => T | undefined, argv: string[], usage: string): T | number {
  let config: T | undefined;
  try {
    config = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  if (config === undefined) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return config;
}
