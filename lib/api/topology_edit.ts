// Small, checked edits of a LayersModel topology (a deep copy is edited; the source is never
// touched): split a fused relu activation into its own layer, and replace a layer in place. Used
// by Pond calibration (calibrate.ts), which swaps each relu for a fitted polynomial layer.
// Sequential models are layer lists; Functional ones (tfjs/Keras 2 nested-array inbound nodes, or
// Keras 3 `keras_history` objects) are rewired so every consumer of a split layer reads the new one.
import { type LayerConfig, type ModelTopology, refsIn } from './layers_graph';

/** The editable parts of a topology: its layer list and, for Functional models, its outputs. */
interface Parts {
  layers: LayerConfig[];
  functional?: { output_layers?: unknown };
}

function partsOf(topo: ModelTopology): Parts {
  const cfg = topo.model_config ? topo.model_config.config : topo.config;
  const cls = topo.model_config?.class_name ?? topo.class_name;
  if (Array.isArray(cfg)) return { layers: cfg };
  if (!cfg || !Array.isArray(cfg.layers)) throw new Error('the topology has no layer list');
  return cls === 'Sequential' ? { layers: cfg.layers } : { layers: cfg.layers, functional: cfg };
}

export function cloneTopology(topo: ModelTopology): ModelTopology {
  return structuredClone(topo);
}

/** Every reference to layer `from` as an input (both formats) in `v` now names `to`. */
function renameRefs(v: unknown, from: string, to: string): void {
  for (const ref of refsIn(v)) if (ref[0] === from) ref[0] = to;
}

/** A layer name not yet used in the model, from `base`. */
function freshName(layers: LayerConfig[], base: string): string {
  const used = new Set(layers.map((l) => l.config.name));
  if (!used.has(base)) return base;
  for (let i = 1; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
}

/**
 * Moves the fused `activation` of layer `name` (or of the layer a TimeDistributed `name` wraps)
 * into an Activation layer right after it (the layer becomes linear); returns the new layer's name. In a Functional model every consumer of
 * `name`, and the model output if it was `name`, reads the new layer instead.
 */
export function splitActivation(topo: ModelTopology, name: string): string {
  const { layers, functional } = partsOf(topo);
  const at = layers.findIndex((l) => l.config.name === name);
  if (at < 0) throw new Error(`no layer named '${name}'`);
  const src = layers[at];
  // TimeDistributed(Dense(activation)) applies the activation to each step's output, which is
  // the activation of the wrapper's whole output: it moves out of the wrapper the same way.
  const inner = src.class_name === 'TimeDistributed' ? (src.config.layer as { class_name: string; config: Record<string, unknown> } | undefined) : undefined;
  const act = String((inner ? inner.config.activation : src.config.activation) ?? 'linear');
  if (act === 'linear') throw new Error(`layer '${name}' has no activation to split off`);
  const newName = freshName(layers, `${name}_${act}`);
  const added: LayerConfig = { class_name: 'Activation', config: { name: newName, activation: act, trainable: false } };
  if (functional) {
    // A Functional layer entry names itself at the top too: TF.js's loader waits forever for a
    // layer whose entry lacks it (tf.loadLayersModel never settled on a calibrated residual model).
    added.name = newName;
    for (const l of layers) if (l !== src) renameRefs(l.inbound_nodes, name, newName);
    renameRefs(functional.output_layers, name, newName);
    // The new layer's one call takes the source's output, in the source's own serialisation.
    const keras3 = JSON.stringify(src.inbound_nodes ?? []).includes('__keras_tensor__');
    added.inbound_nodes = keras3 ? [{ args: [{ class_name: '__keras_tensor__', config: { keras_history: [name, 0, 0] } }], kwargs: {} }] : [[[name, 0, 0, {}]]];
  }
  src.config = inner ? { ...src.config, layer: { ...inner, config: { ...inner.config, activation: 'linear' } } } : { ...src.config, activation: 'linear' };
  layers.splice(at + 1, 0, added);
  return newName;
}

/** Replaces layer `name` by `layer` (same name, same inputs: the graph is unchanged). */
export function replaceLayer(topo: ModelTopology, name: string, layer: { class_name: string; config: Record<string, unknown> }): void {
  const { layers } = partsOf(topo);
  const at = layers.findIndex((l) => l.config.name === name);
  if (at < 0) throw new Error(`no layer named '${name}'`);
  const old = layers[at];
  // A Sequential model's first layer carries the input shape: keep it.
  const shape = Object.fromEntries(Object.entries(old.config).filter(([k]) => /^batch_?(input_)?shape$|^batchInputShape$/.test(k)));
  layers[at] = { ...old, class_name: layer.class_name, config: { ...layer.config, ...shape, name } };
}
