// Numeric command-line options of the benchmark scripts.

/** The number after `name` in argv (dflt when absent); at least `min`, else an error naming it. */
export function numberOption(argv: readonly string[], name: string, dflt: number, min = 0): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!(Number.isFinite(v) && v >= min)) throw new Error(`${name} wants a number >= ${min}, got ${argv[i + 1]}`);
  return v;
}
