// A Keras 3 model of one layer (`name`, default 'layer') reading an input, as artifacts.
import type * as tfe from '../../lib';

export function oneLayerModel(cls: string, config: Record<string, unknown>, shape: number[], opts: { name?: string; dtype?: string; weights?: { name: string; shape: number[]; data: number[] }[] } = {}): tfe.ModelArtifacts {
  const { name = 'layer', dtype = 'float32', weights = [] } = opts;
  const ref = { class_name: '__keras_tensor__', config: { shape: [null, ...shape], dtype, keras_history: ['in', 0, 0] } };
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, ...shape], dtype }, inbound_nodes: [] },
    { module: 'keras.layers', class_name: cls, name, config: { name, dtype: 'float32', ...config }, inbound_nodes: [{ args: [ref], kwargs: {} }] },
  ];
  return {
    modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [[name, 0, 0]] } },
    weightSpecs: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })),
    weightData: new Float32Array(weights.flatMap((w) => w.data)).buffer,
  } as unknown as tfe.ModelArtifacts;
}
