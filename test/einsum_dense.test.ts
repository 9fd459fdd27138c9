// EinsumDense (lib/api/layers_einsum_dense.ts, einsum_plan.ts), beyond its Keras 3 models'
// predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, ed*): equations
// it cannot run as one product, and settings it does not have, refused by name; the per-query
// memory estimate follows its output's shape.
import test from 'ava';

import * as tfe from '../lib';
import { estimateQueryBytes } from '../lib/serve/limits';
import { oneLayerModel } from './helpers/one_layer_model';

const model = (config: Record<string, unknown>, shape: number[], kernel: number[]) =>
  oneLayerModel('EinsumDense', { activation: null, bias_axes: null, ...config }, shape, { name: 'ed', weights: [{ name: 'ed/kernel', shape: kernel, data: new Array(kernel.reduce((a, b) => a * b, 1)).fill(0.5) }] });

test('EinsumDense: equations that are not one product, and settings it does not have, refused by name', (t) => {
  const refused = (config: Record<string, unknown>, shape: number[], kernel: number[], message: RegExp) => t.throws(() => tfe.loadPlainModel(model(config, shape, kernel)), { message });
  refused({ equation: 'abc,cd->abd', output_shape: [5, 4], lora_rank: 2 }, [5, 3], [3, 4], /\(EinsumDense\): lora_rank = 2 is not supported/);
  refused({ equation: 'abc,cd->ad', output_shape: [4] }, [5, 3], [3, 4], /\(EinsumDense\): equation "abc,cd->ad": axis 'b' of one operand is summed alone/);
  refused({ equation: 'abc,cdd->abd', output_shape: [5, 4] }, [5, 3], [3, 4, 4], /\(EinsumDense\): equation = "abc,cdd->abd": the kernel repeats a letter/);
  refused({ equation: 'ab,bc', output_shape: [4] }, [3], [3, 4], /\(EinsumDense\): equation = "ab,bc" is not supported/);
  refused({ equation: 'abc,cd->abd', output_shape: [5, 7] }, [5, 3], [3, 4], /\(EinsumDense\): output_shape = \[5,7\] does not match the equation's output \[5,4\]/);
  refused({ equation: 'abc,cd->dab', output_shape: [4, 5] }, [5, 3], [3, 4], /the output's first axis must be the input's \(the batch\)/);
  refused({ equation: 'abc,cd->abd', output_shape: [5, 4], bias_axes: 'x' }, [5, 3], [3, 4], /bias_axes = "x": 'x' is not an axis of the output/);
});

test("the per-query memory estimate follows an EinsumDense's output shape (to heads: [steps, heads, width])", (t) => {
  const topo = (width: number) => ({ class_name: 'Sequential', config: { layers: [
    { class_name: 'EinsumDense', config: { name: 'e', batch_input_shape: [null, 16, 32], equation: 'abc,cde->abde', output_shape: [null, 8, width], bias_axes: 'de' } },
    { class_name: 'Activation', config: { name: 'a', activation: 'relu' } },
  ] } });
  const est = (width: number) => estimateQueryBytes({ topology: topo(width) as never, protocol: 'fss', inputShape: [16, 32] }, 1);
  // The relu after it compares 16 x 8 x width values: a dealt key of 100+ words each.
  t.true(est(64) - est(4) >= 8 * 16 * 8 * 60 * 100, `${est(64)} vs ${est(4)}`);
});
