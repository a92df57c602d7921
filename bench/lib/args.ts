// Command-line helpers shared by the bench modes.

/**
 * `raw` (a `--name` option's text) as an integer of at least `min` (a positive one by default), or
 * `fallback` when the option is absent.
 * @throws TypeError naming the option when `raw` is not such an integer.
 */
export function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new TypeError(`${name} must be ${min === 1 ? 'a positive integer' : `an integer >= ${min}`}, got ${raw}`);
  return value;
}

/**
 * The values of a comma-separated list option (`raw`, e.g. `direct,nginx`) among `all`, in the order of
 * `all`; every one of `all` when the option is absent.
 * @param name what one value is, for the error (`path`, `target`).
 * @throws TypeError naming a value not in `all`.
 */
export function listOf<T extends string>(name: string, raw: string | undefined, all: readonly T[]): T[] {
  const picked = (raw ?? all.join(',')).split(',') as T[];
  for (const p of picked) if (!all.includes(p)) throw new TypeError(`unknown ${name} ${p} (${all.join(', ')})`);
  return all.filter((p) => picked.includes(p));
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
