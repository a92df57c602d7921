// What a command may touch of the outside world, passed in so tests run commands in-process and
// read their output.

/** Output streams, environment and working directory of one CLI run. */
export interface CliIo {
  /** Writes to standard output (text as given; callers add newlines). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Environment variables (SWITCHYARD_API_URL, SWITCHYARD_ADMIN_TOKEN, ...). */
  env: Record<string, string | undefined>;
  /** Working directory that relative paths (`--state-dir`) resolve against. */
  cwd: string;
}

/** The real process's IO. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Prints `value` as indented JSON and a newline. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as a plain text table with a header; `(none)` when there are no rows. */
export function printTable(io: CliIo, columns: readonly string[], rows: readonly (readonly string[])[]): void {
  if (rows.length === 0) {
    io.stdout('(none)\n');
    return;
  }
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  io.stdout(`${[line(columns), ...rows.map(line)].join('\n')}\n`);
}
