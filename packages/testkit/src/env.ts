// Environment variables set for the length of a test, for code that reads its configuration from
// process.env (OpenTelemetry's OTEL_* variables, Switchyard's own).

/**
 * Sets each of `vars` in process.env (a string), or unsets it (undefined), and returns a function that
 * puts every one of them back as it was before: its old value, or unset when it had none. Call the
 * function once, after the code that read them has stopped (e.g. in `after`).
 */
export function overrideEnv(vars: Readonly<Record<string, string | undefined>>): () => void {
  const before = Object.keys(vars).map((name) => [name, process.env[name]] as const);
  const apply = (entries: Iterable<readonly [string, string | undefined]>) => {
    for (const [name, value] of entries) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(Object.entries(vars));
  return () => apply(before);
}
