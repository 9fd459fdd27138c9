// Keras's Discretization (structured data's numeric features cut into bins): the bin of x is the
// number of boundaries b_j <= x (NumPy's digitize). Privately, one comparison per boundary,
// g_j = [x >= b_j] (exact protocols): int is their sum, one_hot their differences (bin k holds x
// when g_(k-1) = 1 and g_k = 0), count and multi_hot one_hot summed over the features, multi_hot
// then min(count, 1). An int bin read only by Embeddings (or CategoryEncodings) is that one-hot,
// which they take as a model input's ids (layers_embedding.ts). The boundaries are the owner's,
// shared as weights (config_constants.ts moves them there from the config); their count, the
// bins' number, is public.
//
// What the comparisons see is x and b_j on the fixed-point grid (2^-16 at the default fracBits):
// the bin is Keras's wherever x equals a boundary or lies at least one grid step from every
// boundary; within a step, x's rounding decides (docs/models.md).
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';
import { add, concat, neg, reduceSum, reshape, slice, sub } from './ops';
import { greaterEqual } from './comparison_ops';
import { type CategoricalMode, encodedShape, encodeRows } from './categorical_encoding';
import { checkIdWidth, idsOneHot } from './layers_embedding';

export type DiscretizationMode = 'int' | CategoricalMode;

/** A Discretization's output mode, its settings checked (Keras's default mode: int). */
export function discretizationOf(l: LayerConfig): DiscretizationMode {
  const isNull = (v: unknown) => v === undefined || v === null;
  // bin_boundaries in a topology would travel to the servers: the library's readers move them
  // into weights first (config_constants.ts), so one that still has them did not come through.
  if (!isNull(l.config.bin_boundaries))
    refuse(l, `bin_boundaries given in its config would travel in the topology every server reads; the library's model readers (loadLayersModel, deploy, tfe deploy) move them into private weights first: deploy through one of them`);
  const c = settings(l, {
    bin_boundaries: isNull,
    num_bins: (v) => isNull(v) || (Number.isSafeInteger(v) && (v as number) >= 2),
    // adapt()'s quantile precision: unused at inference.
    epsilon: (v) => isNull(v) || typeof v === 'number',
    output_mode: (v) => v === undefined || ['int', 'one_hot', 'multi_hot', 'count'].includes(v as string),
  });
  // (settings() passes sparse over as an input hint: here it is Keras's sparse output.)
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  return (c.output_mode ?? 'int') as DiscretizationMode;
}

export function discretization(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const mode = discretizationOf(l);
  const name = `${l.config.name}/bin_boundaries`;
  let shape: number[];
  try {
    shape = ctx.shapeOf(name);
  } catch {
    return refuse(l, `has no bin boundaries (none in its config, no weight '${name}'): adapt() it, or give bin_boundaries, before saving`);
  }
  const [n] = shape;
  if (shape.length !== 1 || !(n >= 1)) refuse(l, `weight '${name}' has shape [${shape}]: expected [n], n >= 1 boundaries`);
  checkIdWidth(l, n + 1, ctx.idsOneHot);
  if (l.config.num_bins != null && l.config.num_bins !== n + 1) refuse(l, `num_bins = ${l.config.num_bins} does not match its ${n} bin boundaries (num_bins is their count + 1)`);
  const b = ctx.take('bin_boundaries', [n]);
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    if (mode !== 'int') encodedShape(l, mode, x.shape, n + 1);
    // g [..., n]: x against every boundary.
    const g = greaterEqual(reshape(x, [...x.shape, 1]), p[b]);
    if (mode === 'int' && ctx.idsOneHot === undefined) return reduceSum(g, -1);
    const rows = x.shape.reduce((a, d) => a * d, 1), oneHot = oneHotOfThresholds(reshape(g, [rows, n]), rows, n);
    // The bins' one-hot for the Embeddings or CategoryEncodings that read the bin (idsOneHot).
    if (mode === 'int') return idsOneHot(l, oneHot, x.shape, ctx.idsOneHot!);
    return encodeRows(l, mode, oneHot, x.shape);
  };
  return { step, comparisons: true, exactOnly: true };
}

/**
 * The one-hot [rows, n + 1] of a value's place among n ascending thresholds, from its comparisons
 * g [rows, n], g_j = [x >= t_j]: place 0 is 1 - g_0, place j is g_(j-1) - g_j, place n is
 * g_(n-1) (local differences).
 */
export function oneHotOfThresholds(g: AnyTensor, rows: number, n: number): AnyTensor {
  const parts = [add(neg(slice(g, [0, 0], [rows, 1])), 1)];
  if (n > 1) parts.push(sub(slice(g, [0, 0], [rows, n - 1]), slice(g, [0, 1], [rows, n - 1])));
  parts.push(slice(g, [0, n - 1], [rows, 1]));
  return concat(parts, 1);
}
