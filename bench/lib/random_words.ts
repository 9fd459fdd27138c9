// Uniform 64-bit words from the OS CSPRNG: the FSS kernel benchmarks' alphas, offsets and inputs.
import { randomFillSync } from 'node:crypto';

export function randomWords(n: number): BigUint64Array {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return a;
}
