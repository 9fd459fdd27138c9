// Keras's Normalization(mean=..., variance=...) keeps the two in its config, and the config is part
// of the topology every server reads. Keras 3's own applications do this with ImageNet's
// statistics (EfficientNetV2, ConvNeXt), and users do it with their data's. The owner moves them
// into weights, where adapt() would have put them, before anything reads the topology: then they
// are folded and shared privately as adapted ones are (layers_norm.ts), and no server sees them.
import { type LayerConfig, refuse } from './layers_graph';
import type { LayersModelJson, WeightSpec } from './layers_spec';

/** A weight's values and shape, as readWeights returns them. */
type Weight = { data: Float32Array; shape: number[] };

/** More values than this in a config's mean or variance is not a per-channel statistic. */
const MAX_VALUES = 1 << 20;

/** A config's mean or variance as a flat array: a number, or a list of numbers (Keras writes both). */
function valuesOf(l: LayerConfig, key: 'mean' | 'variance'): number[] {
  const v = l.config[key];
  // Nested lists: a statistic per position of several axes, which the layer does not support.
  if (Array.isArray(v) && v.some((x) => Array.isArray(x))) refuse(l, `axis = ${JSON.stringify(l.config.axis)}: its config's ${key} has a value per position of several axes; only the last axis (one value per channel) or None (one value) is supported`);
  const values = typeof v === 'number' ? [v] : Array.isArray(v) && v.length <= MAX_VALUES && v.every((x) => typeof x === 'number') ? (v as number[]) : null;
  if (!values || values.length === 0)
    refuse(l, `${key} = ${JSON.stringify(v)?.slice(0, 60)} in its config is not a number or a list of at most ${MAX_VALUES} numbers (one per channel of its axis)`);
  const bad = values.findIndex((x) => !Number.isFinite(x) || (key === 'variance' && x < 0));
  if (bad >= 0) refuse(l, `${key}[${bad}] = ${values[bad]} in its config is not ${key === 'variance' ? 'a finite number >= 0' : 'finite'}`);
  return values;
}

/** The Normalization layers (anywhere in the topology) whose config gives a mean or a variance. */
function withConstants(topology: unknown): LayerConfig[] {
  const found: LayerConfig[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as { class_name?: unknown; config?: Record<string, unknown> };
    if (o.class_name === 'Normalization' && o.config && typeof o.config === 'object' && (o.config.mean != null || o.config.variance != null)) found.push(o as unknown as LayerConfig);
    Object.values(o).forEach(visit);
  };
  visit(topology);
  return found;
}

/**
 * The model with each Normalization's config mean and variance moved into weights `name/mean`
 * and `name/variance` (a list of C values and a single one broadcast to C, as Keras broadcasts
 * them; two single ones of shape [1]), the config's set to null as an adapted layer's are.
 * `constants` holds their values, for the caller to add to the weights it read; the manifest
 * lists them in a group of their own, with no files.
 */
export function normalizationConstantsAsWeights(json: LayersModelJson): { json: LayersModelJson; constants: Map<string, Weight> } {
  const constants = new Map<string, Weight>();
  if (withConstants(json.modelTopology).length === 0) return { json, constants };
  // A copy: the caller's topology (artifacts in memory) is left as it was.
  const topology = JSON.parse(JSON.stringify(json.modelTopology));
  const names = new Set((Array.isArray(json.weightsManifest) ? json.weightsManifest : []).flatMap((g) => (Array.isArray(g?.weights) ? g.weights.map((w) => w.name) : [])));
  const specs: WeightSpec[] = [];
  for (const l of withConstants(topology)) {
    if (l.config.mean == null || l.config.variance == null) refuse(l, `its config gives ${l.config.mean == null ? 'a variance but no mean' : 'a mean but no variance'}: Keras takes both or neither`);
    const mean = valuesOf(l, 'mean'), variance = valuesOf(l, 'variance');
    const c = Math.max(mean.length, variance.length);
    if ((mean.length !== c && mean.length !== 1) || (variance.length !== c && variance.length !== 1))
      refuse(l, `its config's mean (${mean.length} values) and variance (${variance.length}) do not broadcast together`);
    for (const [key, values] of [['mean', mean], ['variance', variance]] as const) {
      const name = `${l.config.name}/${key}`;
      if (names.has(name) || constants.has(name)) refuse(l, `its config gives a ${key}, and the model also has a weight '${name}'`);
      constants.set(name, { data: Float32Array.from({ length: c }, (_, i) => values[values.length === 1 ? 0 : i]), shape: [c] });
      specs.push({ name, shape: [c], dtype: 'float32' });
    }
    l.config.mean = null;
    l.config.variance = null;
  }
  return { json: { modelTopology: topology, weightsManifest: [...json.weightsManifest, { paths: [], weights: specs }] }, constants };
}
