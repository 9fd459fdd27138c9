// keras.applications.inception_resnet_v2's own layer, CustomScaleLayer: a block's residual,
// inputs[0] + inputs[1] * scale, with a public scale from its config (0.1 to 1.0 there). Keras
// saves it with the module keras.src.applications.inception_resnet_v2 (tensorflowjs_converter
// deletes every module key); one of that name from another module is a user's own class, whose
// computation is unknown here: refused.
import { add } from './ops';
import { mul } from './ops_nonlinear';
import { type LayerConfig, refuse } from './layers_graph';
import { checkApplicationModule } from './layers_convnext';
import type { LayerPlan } from './layers_catalog';
import { isNum, settings } from './layers_settings';
import type { AnyTensor } from './tensor';

export const INCEPTION_RESNET_MODULE = 'keras.src.applications.inception_resnet_v2';

/** A CustomScaleLayer's scale, its module and settings checked. */
export function customScaleOf(l: LayerConfig): number {
  checkApplicationModule(l, INCEPTION_RESNET_MODULE, 'write it with keras.layers or operations');
  const c = settings(l, { scale: isNum });
  if (!Number.isFinite(Number(c.scale))) refuse(l, `scale = ${JSON.stringify(c.scale)}: a finite number is needed`);
  return Number(c.scale);
}

/** CustomScaleLayer: x0 + x1 scale, a public constant's product (local) and a sum. */
export function customScaleLayer(l: LayerConfig): LayerPlan {
  const scale = customScaleOf(l);
  const step = () => ([x0, x1]: AnyTensor[]) => {
    if (x0.shape.join() !== x1.shape.join()) refuse(l, `adds inputs of shapes [${x0.shape}] and [${x1.shape}]; they must be equal`);
    return add(x0, scale === 1 ? x1 : mul(x1, scale));
  };
  return { step, comparisons: false, exactOnly: false };
}
