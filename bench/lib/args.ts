// Numeric command-line options of the benchmark scripts.

/** The number after `name` in argv (dflt when absent); at least `min`, else an error naming it. */
export function numberOption(argv: readonly string[], name: string, dflt: number, min = 0): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!(Number.isFinite(v) && v >= min)) throw new Error(`${name} wants a number >= ${min}, got ${argv[i + 1]}`);
  return v;
}

/** What a benchmark script accepts: switches, options that take a value, and how many plain arguments. */
export interface OptionSpec {
  flags?: readonly string[];
  values?: readonly string[];
  positional?: number;
  /** One line per form, printed by --help. */
  usage: string;
}

/**
 * Refuses what `spec` does not name (a mistyped option would otherwise run the whole benchmark
 * without it), an option's missing value, and extra plain arguments; `--help` prints the usage
 * and exits. Scripts call it before anything starts.
 */
export function checkOptions(argv: readonly string[], spec: OptionSpec): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${spec.usage.trim()}\n`);
    process.exit(0);
  }
  const flags = new Set(spec.flags ?? []), values = new Set(spec.values ?? []);
  const known = () => [...flags, ...values].join(', ') || 'none';
  let plain = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (values.has(a)) {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
      i++;
    } else if (!flags.has(a)) {
      if (a.startsWith('-')) throw new Error(`unknown option ${a} (known: ${known()}; --help for usage)`);
      if (++plain > (spec.positional ?? 0)) throw new Error(`unexpected argument ${JSON.stringify(a)} (options: ${known()}; --help for usage)`);
    }
  }
}
