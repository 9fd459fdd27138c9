// Keras 3 writes a padding mask out in the saved graph: Embedding(mask_zero)'s as the operation
// NotEqual(ids, 0), Masking(c)'s as Any(NotEqual(x, c), axis=-1), merged by merge layers as
// LogicalOr(m, m) (or LogicalAnd), passed on by an attention as ConvertToTensor(m), each handed to the layers that
// take it as their call's `mask` argument. Here those operations are taken out and each `mask`
// argument becomes a note of where the mask comes from ({source, maskValue}, MaskNote); the mask
// itself is built as for tfjs models (layers_mask.ts), which checks that it reaches exactly the
// layers Keras handed it to. A mask of any other form stays a tensor argument, refused by name.
import type { LayerConfig } from './layers_graph';

/** The class name a `mask` argument's note has in place of a tensor. */
export const MASK_NOTE = '__tfe_padding_mask__';
export interface MaskNote {
  /** The node whose values give the mask: the token ids an Embedding reads, or a Masking layer's input. */
  source: string;
  /** Masking's mask_value; absent for an Embedding's ids (the mask is id != 0). */
  maskValue?: number;
}

/** The MaskNote a call argument holds, or undefined. */
export function maskNoteOf(v: unknown): MaskNote | undefined {
  const o = v as { class_name?: unknown; config?: MaskNote } | null;
  return o && typeof o === 'object' && o.class_name === MASK_NOTE && o.config && typeof o.config.source === 'string' ? o.config : undefined;
}

type Node = { args?: unknown[]; kwargs?: Record<string, unknown> };
/** A Keras 3 tensor argument's [layer, node, tensor] (its keras_history), or undefined. */
export const historyOf = (v: unknown): unknown[] | undefined => {
  const o = v as { class_name?: unknown; config?: { keras_history?: unknown } } | null;
  return o && typeof o === 'object' && o.class_name === '__keras_tensor__' && Array.isArray(o.config?.keras_history) ? o.config.keras_history : undefined;
};
/** Whether a layer entry's module is Keras 3's operations' (keras.src.ops.*; keras.ops.* before Keras 3.3). */
export const isOpsModule = (module: unknown): boolean => typeof module === 'string' && /^keras(\.src)?\.ops\b/.test(module);
/** The id a tensor reference names (layer, or layer[k] for its call k: layers_graph.ts nodeId). */
const idOf = (h: unknown[]): string => (Number(h[1] ?? 0) === 0 ? String(h[0]) : `${String(h[0])}[${Number(h[1])}]`);
const isOp = (l: LayerConfig | undefined, cls: string): boolean => {
  const module = (l as { module?: unknown } | undefined)?.module;
  return !!l && l.class_name === cls && (module === undefined || isOpsModule(module));
};
const nodesOf = (l: LayerConfig): Node[] => (Array.isArray(l.inbound_nodes) ? (l.inbound_nodes as Node[]).filter((n) => n && typeof n === 'object' && !Array.isArray(n)) : []);

/**
 * The layer list with Keras 3's mask operations taken out and the `mask` arguments they fed
 * replaced by notes; the same list when there are none.
 */
export function withoutKeras3Masks(layers: LayerConfig[]): LayerConfig[] {
  const byName = new Map(layers.map((l) => [String(l?.config?.name ?? l?.name), l]));
  // Who reads each node as an ordinary input (an Embedding's ids, a Masking layer's values).
  const readers = (id: string, cls: string) => layers.filter((l) => l.class_name === cls && nodesOf(l).some((n) => Array.isArray(n.args) && n.args.some((a) => historyOf(a) && idOf(historyOf(a)!) === id)));
  /**
   * The note for the mask tensor a history names, when it is one of the two forms, or a merge
   * layer's LogicalOr / LogicalAnd of one such mask with itself (Keras 3's Add, Concatenate...
   * combine their inputs' masks so: the same mask). `chain` collects the operations it read.
   */
  const noteFor = (h: unknown[], chain: Set<string>, path: readonly string[] = []): MaskNote | undefined => {
    const op = byName.get(String(h[0]));
    // (A reference back into its own path is no mask: a cycle, which no model has.)
    if (path.includes(String(h[0]))) return undefined;
    chain.add(String(h[0]));
    // An attention's output mask (Keras 3's Attention.compute_mask: convert_to_tensor of the
    // query's), the same mask: dtype null (kept) and nothing else set.
    if (isOp(op, 'ConvertToTensor')) {
      const c = op!.config as Record<string, unknown>, args = nodesOf(op!)[0]?.args ?? [];
      const inner = args.length === 1 ? historyOf(args[0]) : undefined;
      return inner && c.dtype == null && !c.sparse && !c.ragged ? noteFor(inner, chain, [...path, String(h[0])]) : undefined;
    }
    if (isOp(op, 'LogicalOr') || isOp(op, 'LogicalAnd')) {
      const args = nodesOf(op!)[0]?.args ?? [];
      const notes = args.map((a) => (historyOf(a) ? noteFor(historyOf(a)!, chain, [...path, String(h[0])]) : undefined));
      const [a, b] = notes;
      return args.length === 2 && a && b && a.source === b.source && a.maskValue === b.maskValue ? a : undefined;
    }
    const notEqual = (l: LayerConfig | undefined): { source: string; value: unknown } | undefined => {
      const n = l && isOp(l, 'NotEqual') ? nodesOf(l)[0] : undefined;
      const x = n?.args?.[0] !== undefined ? historyOf(n.args[0]) : undefined;
      return x && n?.args?.length === 2 ? { source: idOf(x), value: n.args[1] } : undefined;
    };
    if (isOp(op, 'NotEqual')) {
      const ne = notEqual(op);
      // Embedding(mask_zero)'s: the ids it reads, compared with 0.
      if (ne && ne.value === 0 && readers(ne.source, 'Embedding').some((e) => e.config.mask_zero === true)) return { source: ne.source };
      return undefined;
    }
    if (isOp(op, 'Any')) {
      const c = op!.config as Record<string, unknown>;
      const arg = nodesOf(op!)[0]?.args?.[0];
      const inner = arg !== undefined ? historyOf(arg) : undefined;
      const ne = inner ? notEqual(byName.get(String(inner[0]))) : undefined;
      if (inner) chain.add(String(inner[0]));
      if (!ne || c.axis !== -1 || c.keepdims === true || typeof ne.value !== 'number') return undefined;
      // Masking(c)'s: its input compared with c, any over the features.
      if (readers(ne.source, 'Masking').some((m) => Number(m.config.mask_value ?? 0) === ne.value)) return { source: ne.source, maskValue: ne.value };
    }
    return undefined;
  };
  const used = new Set<string>();
  let changed = false;
  const out = layers.map((l) => {
    const nodes = nodesOf(l);
    if (!nodes.some((n) => n.kwargs && historyOf(n.kwargs.mask))) return l;
    const inbound = (l.inbound_nodes as unknown[]).map((n) => {
      const node = n as Node;
      const h = node?.kwargs ? historyOf(node.kwargs.mask) : undefined;
      const chain = new Set<string>();
      const note = h ? noteFor(h, chain) : undefined;
      if (!note) return n;
      changed = true;
      for (const name of chain) used.add(name);
      return { ...node, kwargs: { ...node.kwargs, mask: { class_name: MASK_NOTE, config: note } } };
    });
    return { ...l, inbound_nodes: inbound };
  });
  if (!changed) return layers;
  // The mask operations nothing else reads are dropped (an Any's NotEqual with it, a LogicalOr's
  // operands), until none is left that only dropped ones read.
  const text = (l: LayerConfig) => JSON.stringify(l.inbound_nodes ?? null);
  const referenced = (name: string, except: Set<string>) => out.some((l) => !except.has(String(l.config?.name ?? l.name)) && text(l).includes(`"keras_history":["${name}",`));
  const drop = new Set<string>();
  for (let more = true; more; ) {
    more = false;
    for (const name of used)
      if (!drop.has(name) && !referenced(name, new Set([name, ...drop]))) {
        drop.add(name);
        more = true;
      }
  }
  return out.filter((l) => !drop.has(String(l.config?.name ?? l.name)));
}
