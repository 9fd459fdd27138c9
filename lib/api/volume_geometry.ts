// The geometry of Keras's 3-D layers on volumes [batch, depth, height, width, channels]
// (layers_3d.ts privately, plain_3d.ts in float64): each output voxel's window as positions in
// the volume flattened to depth x height x width, TensorFlow's padding (SAME: the total
// max((out - 1) s + k' - n, 0), its smaller half before), and the settings they read. `fail`
// says how a refusal is raised: naming the layer, or the op (ops_conv3d.ts).
import { type LayerConfig, refuse } from './layers_graph';
import { MAX_PLAIN_VALUES } from './plain_kernels';

export type Triple = [number, number, number];

/** A setting given as one number or three (Keras's kernel_size, strides, pool_size...), positive integers. */
export function triple(l: LayerConfig, name: string, v: unknown, d: number): Triple {
  const t = v === undefined || v === null ? [d, d, d] : Array.isArray(v) ? v : [v, v, v];
  if (t.length !== 3 || !t.every((x) => Number.isSafeInteger(x) && (x as number) >= 1)) refuse(l, `${name} = ${JSON.stringify(v)} is not supported: one positive integer or three`);
  return t as Triple;
}

/** The input checked as a volume [batch, depth, height, width, channels]. */
export function volumeOf(l: LayerConfig, shape: readonly number[]): { n: number; dims: Triple; ch: number } {
  if (shape.length !== 5) refuse(l, `takes a rank-5 input [batch, depth, height, width, channels], got [${shape}]`);
  return { n: shape[0], dims: [shape[1], shape[2], shape[3]], ch: shape[4] };
}

/**
 * Refuses an output larger than one tensor may hold before anything is made for it (an
 * UpSampling3D's or ZeroPadding3D's sizes come from the topology a deploy sends).
 */
export function checkVolumeOut(l: LayerConfig, dims: readonly number[], ch: number): void {
  const n = dims.reduce((a, b) => a * b, ch);
  if (!(Number.isSafeInteger(n) && n <= MAX_PLAIN_VALUES)) refuse(l, `its output [${dims}, ${ch}] per example would hold ${n} values, more than the ${MAX_PLAIN_VALUES} one tensor may`);
}

/** Per output voxel, its window's positions (-1 where the window leaves the volume: padding), window after window. */
export interface Windows {
  out: Triple;
  /** Taps per window: k0 k1 k2. */
  taps: number;
  /** out0 out1 out2 windows of `taps` positions each, in the flattened volume (or -1). */
  at: Int32Array;
}

/**
 * The windows of size k (dilation d: taps d apart) at strides s over a volume of `dims`, padded
 * as `padding` says; refuses a window larger than a VALID volume.
 */
export function windows(fail: (msg: string) => never, dims: Triple, k: Triple, s: Triple, d: Triple, padding: 'SAME' | 'VALID'): Windows {
  return remembered(`w ${dims} ${k} ${s} ${d} ${padding}`, () => directWindows(fail, dims, k, s, d, padding));
}

// Geometries made once (a model's queries share their shapes; the API ops are called again and
// again): at most 32, the oldest forgotten first. A refused geometry is never remembered.
const made = new Map<string, Windows>();
function remembered(key: string, make: () => Windows): Windows {
  const known = made.get(key);
  if (known) return known;
  const w = make();
  if (made.size >= 32) made.delete(made.keys().next().value as string);
  made.set(key, w);
  return w;
}

function directWindows(fail: (msg: string) => never, dims: Triple, k: Triple, s: Triple, d: Triple, padding: 'SAME' | 'VALID'): Windows {
  const span = k.map((x, i) => (x - 1) * d[i] + 1);
  const out = dims.map((n, i) => (padding === 'SAME' ? Math.ceil(n / s[i]) : Math.floor((n - span[i]) / s[i]) + 1)) as Triple;
  if (out.some((o) => o < 1)) fail(`its window [${span}] is larger than its input [${dims}] (padding valid)`);
  const before = dims.map((n, i) => (padding === 'SAME' ? Math.floor(Math.max((out[i] - 1) * s[i] + span[i] - n, 0) / 2) : 0));
  // Axis a's tap t of output o reads input position o s + t d - before, or none outside the volume.
  const source = (o: number, t: number, a: number): number => {
    const u = o * s[a] + t * d[a] - before[a];
    return u < 0 || u >= dims[a] ? -1 : u;
  };
  return laidOut(fail, dims, out, k, source);
}

/**
 * A transposed convolution's windows (Conv3DTranspose, kernel size k, strides s) as a direct
 * convolution's: over the input with s - 1 zeros between its voxels and padded, each output
 * voxel's k0 k1 k2 window, the kernel flipped. Output sizes (Keras, output_padding None): VALID
 * n s + max(k - s, 0) (a kernel shorter than its stride leaves zeros between), SAME n s;
 * padding before k - 1 - floor(max(k - s, 0) / 2) (TensorFlow's, the forward convolution's SAME
 * read backwards). Positions that fall on an inserted zero or the
 * padding are -1.
 */
export function transposeWindows(fail: (msg: string) => never, dims: Triple, k: Triple, s: Triple, padding: 'SAME' | 'VALID'): Windows {
  return remembered(`t ${dims} ${k} ${s} ${padding}`, () => directTransposeWindows(fail, dims, k, s, padding));
}

function directTransposeWindows(fail: (msg: string) => never, dims: Triple, k: Triple, s: Triple, padding: 'SAME' | 'VALID'): Windows {
  const out = dims.map((n, i) => n * s[i] + (padding === 'SAME' ? 0 : Math.max(k[i] - s[i], 0))) as Triple;
  const before = dims.map((_, i) => (padding === 'SAME' ? k[i] - 1 - Math.floor(Math.max(k[i] - s[i], 0) / 2) : k[i] - 1));
  // Axis a's tap t of output o reads the dilated input's position o + t - before: an input voxel
  // where that falls on a multiple of s, an inserted zero (none) elsewhere.
  const source = (o: number, t: number, a: number): number => {
    const u = o + t - before[a];
    return u < 0 || u % s[a] !== 0 || u / s[a] >= dims[a] ? -1 : u / s[a];
  };
  return laidOut(fail, dims, out, k, source);
}

/** The windows, output after output, tap after tap, from each axis's input position (-1: none). */
function laidOut(fail: (msg: string) => never, dims: Triple, out: Triple, k: Triple, source: (o: number, t: number, a: number) => number): Windows {
  const taps = k[0] * k[1] * k[2], count = out[0] * out[1] * out[2];
  if (!(count * taps <= 2 ** 28)) fail(`its ${count} output positions of ${taps} taps each would make ${count * taps} window positions, more than the 2^28 supported`);
  const at = new Int32Array(count * taps);
  let p = 0;
  for (let a = 0; a < out[0]; a++)
    for (let b = 0; b < out[1]; b++)
      for (let c = 0; c < out[2]; c++)
        for (let i = 0; i < k[0]; i++)
          for (let j = 0; j < k[1]; j++)
            for (let m = 0; m < k[2]; m++) {
              const z = source(a, i, 0), y = source(b, j, 1), x = source(c, m, 2);
              at[p++] = z < 0 || y < 0 || x < 0 ? -1 : (z * dims[1] + y) * dims[2] + x;
            }
  return { out, taps, at };
}

/** A layer's refusal, for the geometry above. */
export const layerFail = (l: LayerConfig) => (msg: string): never => refuse(l, msg);
