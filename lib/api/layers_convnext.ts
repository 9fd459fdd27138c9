// The two layers of Keras's own ConvNeXt (keras.applications.convnext) that are not keras.layers:
// LayerScale, x times a learned per-channel gamma (CaiT's layer scale), and StochasticDepth, which
// drops whole residual branches in training and is the identity at inference. Keras saves them
// with the module keras.src.applications.convnext; tensorflowjs_converter deletes every module
// key. A layer of either name from another module is a user's own class, whose computation is
// unknown here: refused.
import { mul } from './ops_nonlinear';
import { expectShape, type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { isNum, posInt, settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';

export const CONVNEXT_MODULE = 'keras.src.applications.convnext';

/**
 * Refuses a layer of a keras.applications class that is not Keras's own: its module is another
 * than `own` (absent: tensorflowjs_converter deletes modules, so it is taken as Keras's).
 * `instead`: what to write in its place.
 */
export function checkApplicationModule(l: LayerConfig, own: string, instead: string): void {
  const module = (l as { module?: unknown }).module;
  if (module !== undefined && module !== null && module !== own)
    refuse(l, `is a custom layer from module '${String(module).slice(0, 80)}', not Keras's own (${own}), so what it computes is not known here: ${instead}`);
}

/** Refuses a LayerScale or StochasticDepth that is not Keras's own (its module another than ConvNeXt's). */
export function checkConvnextModule(l: LayerConfig): void {
  checkApplicationModule(l, CONVNEXT_MODULE, `replace it with keras.layers, or with keras.applications.convnext's ${l.class_name}`);
}

/** LayerScale's settings, checked: init_values (training only) and projection_dim, gamma's length. */
export function layerScaleSettings(l: LayerConfig): { channels: number } {
  checkConvnextModule(l);
  const c = settings(l, { init_values: (v) => v === undefined || isNum(v), projection_dim: posInt });
  if (c.projection_dim === undefined) refuse(l, 'its config gives no projection_dim (the length of its gamma)');
  return { channels: Number(c.projection_dim) };
}

/**
 * LayerScale: x gamma over the last axis, gamma a private weight (one product per element), or
 * nothing where gamma is folded into the Dense before it (ConvNeXt's blocks). Keras 3
 * names the weight `variable` (or `variable_N`: its add_weight has no name); withLayerScaleNames
 * renames it `gamma` before the topology is read.
 */
export function layerScale(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const { channels } = layerScaleSettings(l);
  expectShape(l, 'gamma', ctx.shapeOf(`${l.config.name}/gamma`), [channels], 'projection_dim');
  // Folded into the Dense before it (layers_spec.ts foldBatchNorms): gamma is in its kernel and bias.
  const g = ctx.scaleFolded ? -1 : ctx.take('gamma');
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    if (x.shape[x.rank - 1] !== channels) refuse(l, `scales ${channels} channels (projection_dim), but its input has ${x.shape[x.rank - 1]} (its last axis)`);
    return g < 0 ? x : mul(x, p[g]);
  };
  return { step, comparisons: false, exactOnly: false };
}

/** StochasticDepth: the identity at inference (drop_path_rate is training's). */
export function stochasticDepth(l: LayerConfig): LayerPlan {
  checkConvnextModule(l);
  settings(l, { drop_path_rate: (v) => v === undefined || (isNum(v) && v >= 0 && v <= 1) });
  return { step: () => ([x]: AnyTensor[]) => x, comparisons: false, exactOnly: false };
}

/**
 * The manifest with each LayerScale's one weight named `gamma`: Keras 3 writes
 * `layer/variable` or `layer/variable_N`. A LayerScale with a gamma already keeps it.
 */
export function layerScaleWeightName(layers: ReadonlySet<string>, name: string, names: ReadonlySet<string>): string {
  const m = /^(.*)\/variable(_\d+)?$/.exec(name);
  return m && layers.has(m[1]) && !names.has(`${m[1]}/gamma`) ? `${m[1]}/gamma` : name;
}
