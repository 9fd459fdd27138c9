// Checking a layer's settings against what the catalog supports: every key is either known to
// only matter for training, or has a check; anything else is refused by name (layers_catalog.ts,
// layers_norm.ts).
import { type LayerConfig, refuse } from './layers_graph';

export type Check = (v: unknown) => boolean;
export const ANY: Check = () => true;
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const ones: Check = (v) => v === undefined || v === null || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));
export const channelsLast: Check = (v) => v === undefined || v === null || v === 'channels_last';
export const padMode: Check = (v) => v === undefined || v === 'valid' || v === 'same';
export const bool: Check = (v) => v === undefined || typeof v === 'boolean';
const IGNORED = new Set(['name', 'trainable', 'dtype', 'batch_input_shape', 'batchInputShape', 'batch_shape', 'input_dim', 'input_shape', 'sparse', 'ragged', 'seed', 'noise_shape']);
const trainingOnly = (k: string) => IGNORED.has(k) || /_(initializer|regularizer|constraint)$/.test(k);

/**
 * A Keras 3 dtype policy that quantizes the layer (int8, int4, float8, GPTQ): its weights and
 * products are not the float ones the model's weights describe. Others (float32, mixed precision)
 * only change Keras's own rounding.
 */
function quantizedPolicy(v: unknown): string | undefined {
  const o = v && typeof v === 'object' ? (v as { class_name?: unknown; config?: { name?: unknown } }) : undefined;
  const name = String(o ? (o.config?.name ?? o.class_name ?? '') : (v ?? ''));
  return /^(int8|int4|float8|gptq)|quantized|gptq|int4/i.test(`${name} ${o ? String(o.class_name ?? '') : ''}`) ? name : undefined;
}

/** Refuses every setting not in `allowed`, and every allowed one whose value its check rejects. */
export function settings(l: LayerConfig, allowed: Record<string, Check>): Record<string, unknown> {
  const q = quantizedPolicy(l.config.dtype);
  if (q !== undefined) refuse(l, `dtype policy '${q}' quantizes the layer; only float models are supported`);
  for (const [k, v] of Object.entries(l.config)) {
    if (trainingOnly(k)) continue;
    const ok = allowed[k];
    if (!ok) refuse(l, `setting '${k}' is not supported`);
    if (!ok(v)) refuse(l, `${k} = ${JSON.stringify(v)} is not supported`);
  }
  return l.config;
}

/** One axis (checked against the input's rank when the layer runs: only the last is supported). */
export const lastAxis: Check = (v) => v === undefined || Number.isInteger(v) || (Array.isArray(v) && v.length === 1 && Number.isInteger(v[0]));
export const posInt: Check = (v) => v === undefined || (Number.isInteger(v) && (v as number) >= 1);
/** A 2-D size (kernel_size, strides, pool_size, dilation_rate): a positive integer for both, or one or two of them; null or absent for the layer's default. */
export const positivePair: Check = (v) => v === undefined || v === null || (Number.isInteger(v) && (v as number) >= 1) || (Array.isArray(v) && v.length <= 2 && v.every((d) => Number.isInteger(d) && d >= 1));
/**
 * A 1-D layer's before and after (ZeroPadding1D's padding, Cropping1D's cropping): a number for
 * both sides or a pair, non-negative integers; `d` when absent. Undefined when it is neither.
 */
export const sides1d = (v: unknown, d: number): [number, number] | undefined => {
  const [a, b] = Array.isArray(v) ? (v.length === 2 ? [v[0], v[1]] : [NaN, NaN]) : v === undefined || v === null ? [d, d] : [v, v];
  return [a, b].every((n) => Number.isInteger(n) && (n as number) >= 0) ? [a as number, b as number] : undefined;
};

/** A 2-D setting (kernel_size, strides, pool_size...): a number for both, or a pair; `d` when absent. */
export const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined || v === null ? [d, d] : [Number(v), Number(v)]);
/** A padding setting as the ops take it. */
export const padding = (v: unknown) => (String(v ?? 'valid').toUpperCase() as 'SAME' | 'VALID');

/** A Reshape's target_shape, its one unknown size as -1 (tfjs saves the -1 given as null). */
export function reshapeTarget(l: LayerConfig): number[] {
  const v = l.config.target_shape;
  const ok = Array.isArray(v) && v.every((d) => d === null || (Number.isInteger(d) && (d > 0 || d === -1))) && v.filter((d) => d === null || d === -1).length <= 1;
  if (!ok) refuse(l, `target_shape = ${JSON.stringify(v)} is not supported: positive sizes, one of them -1 (or null) at most`);
  return (v as (number | null)[]).map((d) => (d === null ? -1 : d));
}

/** The target's sizes for an input of (per-sample) shape `shape`, its -1 filled in. */
export function reshapeTo(target: readonly number[], shape: readonly number[]): number[] {
  const known = target.filter((d) => d > 0).reduce((a, d) => a * d, 1), per = shape.reduce((a, d) => a * d, 1);
  return target.map((d) => (d === -1 ? per / known : d));
}
