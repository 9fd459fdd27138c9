// Which layers of a model are plain relus: what Pond runs as relu's default polynomial (on
// [-4, 4], wrong outside), so that loading or deploying such a model under Pond needs calibration
// (calibrate.ts) or the owner's explicit consent.
import { graphOf, type LayerConfig } from './layers_graph';
import type { LayersModelJson } from './layers_spec';

/** A ReLU layer without settings, or an Activation('relu'). */
export const isPlainRelu = (l: LayerConfig): boolean =>
  (l.class_name === 'ReLU' && ['max_value', 'maxValue', 'negative_slope', 'threshold'].every((k) => !l.config[k])) ||
  (l.class_name === 'Activation' && l.config.activation === 'relu');

/** The layer a TimeDistributed wraps (whose relu calibration moves out of it), else undefined. */
export function timeDistributed(l: LayerConfig): LayerConfig | undefined {
  const inner = (l.config as { layer?: LayerConfig }).layer;
  return l.class_name === 'TimeDistributed' && inner?.config !== undefined ? inner : undefined;
}

/** Whether `l` wraps a layer with a relu (TimeDistributed(Dense(relu)), say). */
export function wrapsRelu(l: LayerConfig): boolean {
  const inner = (l.config as { layer?: LayerConfig }).layer;
  return inner?.config !== undefined && (inner.config.activation === 'relu' || isPlainRelu(inner));
}

/**
 * The model's relu layers (plain ones, fused `activation: 'relu'`, and wrapped ones: Pond runs
 * those with the default polynomial too, so such a model, like any with relu, is calibrated or
 * refused under Pond). Empty when Pond computes the model as given.
 */
export function reluLayers(json: LayersModelJson): string[] {
  // Each layer once, however many of its calls the graph has (a shared layer's first may not be one).
  const nodes = [...new Map(graphOf(json.modelTopology).nodes.map((node) => [node.layer.config.name, node])).values()];
  return [
    ...nodes.filter((node) => isPlainRelu(node.layer) || (node.layer.class_name !== 'Activation' && node.layer.config.activation === 'relu')).map((node) => node.layer.config.name),
    ...nodes.filter((node) => wrapsRelu(node.layer)).map((node) => node.layer.config.name),
  ];
}
