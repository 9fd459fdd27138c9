// Keras's EinsumDense (Keras 3 transformers' projections: 'abc,cde->abde' to heads, 'abcd,cde->abe'
// back; 'ab,bc->ac' is a Dense): one private product of x and the kernel laid out as matrices
// (einsum_plan.ts), the layouts local, then the bias and the activation as Dense's.
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { activation } from './layers_activations';
import { ANY, settings } from './layers_settings';
import { matmul } from './ops_nonlinear';
import { einsumPlan, isIdentityPerm } from './einsum_plan';
import { add, reshape, transpose } from './ops';
import type { AnyTensor, PrivateTensor } from './tensor';

const isNull = (v: unknown) => v === undefined || v === null;

/** An EinsumDense's settings checked: its equation is read by einsum_plan.ts when the input's shape is known. */
export function einsumDenseSettings(l: LayerConfig): void {
  settings(l, {
    equation: (v) => typeof v === 'string',
    output_shape: ANY, // checked against the plan's output below
    activation: ANY,
    bias_axes: (v) => isNull(v) || typeof v === 'string',
    // Keras 3: a low-rank adapter (training) and quantization change the weights: not supported.
    lora_rank: isNull,
    lora_alpha: isNull,
    quantization_config: isNull,
  });
  // The bias's axes are the output's letters (read before its weight is).
  const out = /->(.*)$/.exec(String(l.config.equation).replace(/\s+/g, ''))?.[1] ?? '';
  const axes = String(l.config.bias_axes ?? ''), stray = [...axes].find((c) => !/[a-zA-Z]/.test(c) || !out.includes(c));
  if (stray) refuse(l, `bias_axes = ${JSON.stringify(axes)}: '${stray}' is not an axis of the output ${JSON.stringify(out)}`);
}

/**
 * Keras's output_shape against the plan's: without the batch and the axes an ellipsis stands for
 * (one number for one axis, null for a size it infers).
 */
export function checkOutputShape(l: LayerConfig, out: readonly number[]): void {
  const given = l.config.output_shape;
  const want = Array.isArray(given) ? given : isNull(given) ? [] : [given];
  const rest = String(l.config.equation).includes('...') ? out.slice(Math.max(1, out.length - want.length)) : out.slice(1);
  if (want.length && (want.length !== rest.length || want.some((d, i) => d !== null && d !== rest[i])))
    refuse(l, `output_shape = ${JSON.stringify(given)} does not match the equation's output [${rest}] for this input`);
}

export function einsumDense(l: LayerConfig, ctx: LayerContext): LayerPlan {
  einsumDenseSettings(l);
  const kShape = ctx.shapeOf(`${l.config.name}/kernel`);
  const k = ctx.take('kernel');
  const hasBias = !isNull(l.config.bias_axes) && l.config.bias_axes !== '';
  const b = hasBias ? ctx.take('bias') : -1;
  const a = activation(l, l.config.activation, ctx);
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    const plan = einsumPlan(l, x.shape, kShape);
    checkOutputShape(l, plan.out);
    if (hasBias && ctx.shapeOf(`${l.config.name}/bias`).join() !== plan.biasShape.join()) refuse(l, `weight bias has shape [${ctx.shapeOf(`${l.config.name}/bias`)}], expected [${plan.biasShape}] (bias_axes ${JSON.stringify(l.config.bias_axes)})`);
    const xm = reshape(isIdentityPerm(plan.xPerm) ? x : transpose(x, plan.xPerm), [plan.rows, plan.inner]);
    const km = reshape(isIdentityPerm(plan.kPerm) ? p[k] : transpose(p[k], plan.kPerm), [plan.inner, plan.cols]);
    const g = reshape(matmul(xm, km), plan.grouped);
    let y = isIdentityPerm(plan.outPerm) ? g : transpose(g, plan.outPerm);
    if (hasBias) y = add(y, reshape(p[b], plan.biasBroadcast));
    return a.f ? a.f(y) : y;
  };
  return { step, comparisons: a.comparisons, exactOnly: a.exactOnly, finalActivation: a.finalActivation };
}
