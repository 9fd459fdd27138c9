// SpectralNormalization(layer), Keras's wrapper for GANs' discriminators and generators: while
// training it divides the wrapped layer's kernel by its largest singular value (a power iteration
// on its `vector_u`) and writes the result back into the kernel; at inference it calls the wrapped
// layer as it is (Keras 3's call: the normalisation runs only under training=True). So a saved
// model's wrapper is read here as the wrapped layer under the wrapper's name, before anything else
// reads the topology: every reader, and the servers, see the layer itself. Its weights: Keras 3
// writes the wrapped layer's as wrapper/inner/kernel, which withoutWrappedNames (layers_spec.ts)
// has read as wrapper/kernel by then; wrapper/vector_u is training state and stays unread.
import type { LayersModelJson } from './layers_spec';

const WRAPPER = 'SpectralNormalization';
/** The wrapper's own settings (the base layer's, the wrapped layer, the power iterations). */
const SETTINGS = new Set(['name', 'trainable', 'dtype', 'layer', 'power_iterations']);

type Entry = { class_name?: unknown; config?: Record<string, unknown>; name?: unknown; inbound_nodes?: unknown };

/** Whether the topology has a SpectralNormalization anywhere (nested models too). */
function hasWrapper(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasWrapper);
  if (!v || typeof v !== 'object') return false;
  return (v as Entry).class_name === WRAPPER || Object.values(v).some(hasWrapper);
}

/** The wrapped layer as the wrapper's entry. */
function unwrapped(o: Entry): Entry {
  const c = o.config ?? {};
  const name = String(c.name ?? o.name);
  const label = `layer '${name}' (${WRAPPER})`;
  for (const k of Object.keys(c)) if (!SETTINGS.has(k)) throw new Error(`${label}: setting '${k}' is not supported`);
  const p = c.power_iterations;
  if (p !== undefined && !(Number.isSafeInteger(p) && (p as number) >= 1)) throw new Error(`${label}: power_iterations = ${JSON.stringify(p)} is not supported (a positive integer)`);
  const inner = c.layer as Entry | undefined;
  if (!inner || typeof inner !== 'object' || typeof inner.class_name !== 'string' || !inner.config || typeof inner.config !== 'object') throw new Error(`${label}: has no layer to wrap`);
  if (inner.class_name === WRAPPER) throw new Error(`${label}: wraps another SpectralNormalization, which Keras cannot build`);
  const out: Entry = { ...inner, config: { ...inner.config, name } };
  if ('name' in o) out.name = o.name;
  if ('inbound_nodes' in o) out.inbound_nodes = o.inbound_nodes;
  return out;
}

/** The topology with every SpectralNormalization read as the layer it wraps (see the top); the same object when it has none. */
export function withoutSpectralNormalization(json: LayersModelJson): LayersModelJson {
  if (!hasWrapper(json.modelTopology)) return json;
  const map = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(map);
    if (!v || typeof v !== 'object') return v;
    if ((v as Entry).class_name === WRAPPER) return unwrapped(v as Entry);
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, map(e)]));
  };
  return { ...json, modelTopology: map(json.modelTopology) as LayersModelJson['modelTopology'] };
}
