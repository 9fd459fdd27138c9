// Values of command-line flags, shared by the training scripts: a bad value is an error that
// names the flag and what it got.

export function positiveInt(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer, got '${v}'`);
  return n;
}

export function positiveNumber(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, got '${v}'`);
  return n;
}
