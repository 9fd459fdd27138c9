// The float64 plaintext forward pass of ResNet-20 (lib/api/plain_forward.ts, no TensorFlow.js) on
// the sample images: the reference the private outputs are compared with. About 0.2 s per image
// here, so the logits are cached in the temp directory, keyed by the model's bytes.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadPlainModel } from '../../lib/api/model';

export const IMAGE = 32 * 32 * 3;

/** The logits ([n, 10], before the model's final softmax) for the first n images of `pixels`. */
export function plainLogits(modelJson: string, pixels: Float64Array, n: number, say: (m: string) => void): Float64Array {
  const dir = path.dirname(modelJson);
  const hash = crypto.createHash('sha256').update(fs.readFileSync(modelJson)).update(fs.readFileSync(path.join(dir, 'weights.bin'))).digest('hex').slice(0, 16);
  const cache = path.join(os.tmpdir(), `tfe-resnet20-plain-${hash}-${n}.bin`);
  if (fs.existsSync(cache)) {
    const buf = fs.readFileSync(cache);
    if (buf.length === n * 10 * 8) return new Float64Array(new Uint8Array(buf).buffer);
  }
  const plain = loadPlainModel(modelJson);
  const out = new Float64Array(n * 10);
  const t0 = performance.now();
  for (let s = 0; s < n; s += 50) {
    const k = Math.min(50, n - s);
    out.set(plain.forward({ data: pixels.subarray(s * IMAGE, (s + k) * IMAGE), shape: [k, 32, 32, 3] }).data, s * 10);
  }
  say(`float64 plaintext of ${n} images: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  fs.writeFileSync(cache, Buffer.from(out.buffer));
  return out;
}
