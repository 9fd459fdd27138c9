// TimeDistributed(layer): the layer applied to every step of a sequence, [batch, steps, ...] ->
// [batch, steps, ...out], as one run of the layer over the steps folded into the batch (the
// fold and unfold are local reshapes). The wrapped layer's weights are under the wrapper's name
// (tfjs and Keras write time_distributed/kernel), so it is planned as itself with that name.
import { reshape } from './ops';
import { type LayerConfig, refuse } from './layers_graph';
import { type LayerContext, type LayerPlan, planLayer } from './layers_catalog';
import { ANY, settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';

/** Layers whose meaning depends on the whole sequence or the graph's input: not per step. */
const NOT_PER_STEP = new Set(['TimeDistributed', 'Bidirectional', 'SimpleRNN', 'LSTM', 'GRU', 'Embedding', 'InputLayer']);

/** The wrapped layer, named as the wrapper (whose name its weights carry); refused where not per step. */
export function timeDistributedInner(l: LayerConfig): LayerConfig {
  const c = settings(l, { layer: ANY });
  const inner = c.layer as LayerConfig | undefined;
  if (!inner || typeof inner !== 'object' || typeof inner.class_name !== 'string' || !inner.config || typeof inner.config !== 'object')
    refuse(l, 'has no layer to wrap');
  if (NOT_PER_STEP.has(inner.class_name)) refuse(l, `wraps a ${inner.class_name}, which is not applied step by step; TimeDistributed of it is not supported`);
  return { class_name: inner.class_name, config: { ...inner.config, name: l.config.name } };
}

/** [n, steps, ...rest] -> [n * steps, ...rest], run `f`, -> [n, steps, ...out]. */
export function perStep<T extends { shape: readonly number[] }>(x: T, fold: (x: T, shape: number[]) => T, f: (x: T) => T): T {
  if (x.shape.length < 3) throw new Error(`TimeDistributed: input [${x.shape}] has no steps axis ([batch, steps, ...])`);
  const [n, steps, ...rest] = x.shape;
  const y = f(fold(x, [n * steps, ...rest]));
  return fold(y, [n, steps, ...y.shape.slice(1)]);
}

export function timeDistributed(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const plan = planLayer(timeDistributedInner(l), ctx);
  const step = (p: PrivateTensor[]) => {
    const inner = plan.step(p);
    return ([x]: AnyTensor[]) => perStep<AnyTensor>(x, reshape, (v) => inner([v]));
  };
  return { step, comparisons: plan.comparisons, exactOnly: plan.exactOnly, finalActivation: plan.finalActivation };
}
