// RNN(cell): Keras's and tfjs's generic recurrent layer over a cell, `RNN(LSTMCell(64))`, and over
// stacked cells, `RNN([GRUCell(32), LSTMCell(16)])` (StackedRNNCells). With Keras's own cells it
// computes what the matching layer does: RNN(LSTMCell) is LSTM, RNN(GRUCell) GRU, RNN(SimpleRNNCell)
// SimpleRNN, the cell's settings and the RNN's (return_sequences, go_backwards...) together; stacked
// cells are those layers in a chain, every one but the last returning its sequence (each step's
// cells run bottom to top, so the layer below has its whole sequence before the one above reads
// it; go_backwards reverses the input once, the first layer's). So each is read as those layers
// before anything else reads the topology (the servers receive LSTM, GRU, SimpleRNN), the last
// keeping the RNN's name; the weights move to the layers' names:
// - Keras 3: rnn/lstm_cell/kernel; stacked, rnn/stacked_rnn_cells/gru_cell/kernel;
// - tfjs: rnn/kernel; stacked, rnn/RNNCell_0/kernel.
// Other cells (a custom one, a ConvLSTM cell) are refused, naming them; so are stacked cells with
// return_state or an initial_state (every cell's states), or inside Bidirectional.
import type { LayersModelJson } from './layers_spec';

const LAYER_OF: Record<string, string> = { LSTMCell: 'LSTM', GRUCell: 'GRU', SimpleRNNCell: 'SimpleRNN' };
/** The RNN's own settings (the base layer's too); tfjs also writes its one cell's settings beside them. */
const RNN_SETTINGS = ['return_sequences', 'return_state', 'go_backwards', 'stateful', 'unroll', 'time_major'];
const BASE = new Set(['name', 'trainable', 'dtype', 'batch_input_shape', 'input_shape', 'batch_size', 'input_dtype', 'cell', 'cells', 'zero_output_for_mask', ...RNN_SETTINGS]);

type Cfg = Record<string, unknown>;
type Entry = { class_name?: unknown; config?: Cfg; name?: unknown; inbound_nodes?: unknown; module?: unknown; registered_name?: unknown; build_config?: unknown };
type Cell = { class_name: string; config: Cfg };

const isCell = (c: unknown): c is Cell => !!c && typeof c === 'object' && typeof (c as Cell).class_name === 'string' && !!(c as Cell).config && typeof (c as Cell).config === 'object';

/** Whether the topology has an RNN layer anywhere. */
function hasRnn(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasRnn);
  if (!v || typeof v !== 'object') return false;
  return (v as Entry).class_name === 'RNN' || Object.values(v).some(hasRnn);
}

/** The cells an RNN runs, and the weight prefix of each as its writer wrote it. */
function cellsOf(o: Entry, label: string): { cells: Cell[]; prefixes: string[][]; stacked: boolean } {
  const c = o.config ?? {}, name = String(c.name);
  const cell = c.cell as Cell | undefined;
  // tfjs writes stacked cells as `cells` too; Keras 3 as a StackedRNNCells cell.
  const list = isCell(cell) && cell.class_name === 'StackedRNNCells' ? cell.config.cells : Array.isArray(c.cells) ? c.cells : undefined;
  if (list !== undefined) {
    if (!Array.isArray(list) || list.length === 0 || !list.every(isCell)) throw new Error(`${label}: its stacked cells ${JSON.stringify(list)?.slice(0, 80)} are not a list of cells`);
    const stack = isCell(cell) ? String(cell.config.name ?? 'stacked_rnn_cells') : 'stacked_rnn_cells';
    return { cells: list, prefixes: list.map((k, i) => [`${name}/${stack}/${String(k.config.name)}/`, `${name}/RNNCell_${i}/`]), stacked: true };
  }
  if (!isCell(cell)) throw new Error(`${label}: has no cell`);
  return { cells: [cell], prefixes: [[`${name}/${String(cell.config.name)}/`]], stacked: false };
}

/** The Keras 3 or tf-keras/tfjs inbound node of a chain layer reading layer `from`'s call k. */
function chainNode(like: unknown, from: string, k: number): unknown {
  if (like && typeof like === 'object' && !Array.isArray(like)) return { args: [{ class_name: '__keras_tensor__', config: { keras_history: [from, k, 0] } }], kwargs: {} };
  return [[from, k, 0, {}]];
}

/**
 * An RNN entry as its layers (one, or a chain for stacked cells); `renames` gains each layer's
 * weight prefixes; `used` holds every layer name. `inList`: in a model's layer list (a chain can
 * take its place), not a wrapper's one layer.
 */
function asLayers(o: Entry, renames: [string, string][], used: Set<string>, inList: boolean): Entry[] {
  const c = o.config ?? {};
  const name = String(c.name ?? o.name);
  const label = `layer '${name}' (RNN)`;
  const { cells, prefixes, stacked } = cellsOf(o, label);
  for (const k of cells) if (!LAYER_OF[k.class_name]) throw new Error(`${label}: its cell '${String(k.config.name)}' (${k.class_name}) is not supported; an RNN over ${Object.keys(LAYER_OF).join(', ')} is (as LSTM, GRU and SimpleRNN), or stacked lists of them`);
  if (c.zero_output_for_mask === true) throw new Error(`${label}: zero_output_for_mask = true is not supported`);
  // tfjs writes its one cell's settings beside the RNN's: each must be the cell's own.
  for (const [k, v] of Object.entries(c)) {
    if (BASE.has(k) || v === null) continue;
    if (stacked || !(k in cells[0].config)) throw new Error(`${label}: setting '${k}' is not supported`);
    if (JSON.stringify(v) !== JSON.stringify(cells[0].config[k])) throw new Error(`${label}: its setting ${k} = ${JSON.stringify(v)} differs from its cell's ${JSON.stringify(cells[0].config[k])}`);
  }
  if (stacked && !inList) throw new Error(`${label}: stacked cells inside a wrapper (Bidirectional) are not supported: wrap one cell each, or stack layers`);
  if (stacked && c.return_state === true) throw new Error(`${label}: return_state = true with stacked cells (every cell's states) is not supported`);
  const calls = Array.isArray(o.inbound_nodes) ? o.inbound_nodes : [];
  if (stacked && calls.some((n) => JSON.stringify(n).split('keras_history').length > 2 || (Array.isArray(n) && n.length > 1)))
    throw new Error(`${label}: an initial_state with stacked cells (every cell's states) is not supported`);
  const rnn = Object.fromEntries(RNN_SETTINGS.filter((k) => c[k] !== undefined).map((k) => [k, c[k]]));
  const shape = Object.fromEntries(['batch_input_shape', 'input_shape', 'batch_size', 'dtype'].filter((k) => c[k] !== undefined).map((k) => [k, c[k]]));
  const names = cells.map((k, i) => {
    if (i === cells.length - 1) return name;
    let n = `${name}_${String(k.config.name ?? i)}`;
    while (used.has(n)) n += '_';
    used.add(n);
    return n;
  });
  return cells.map((k, i) => {
    for (const p of prefixes[i]) renames.push([p, `${names[i]}/`]);
    const last = i === cells.length - 1;
    const config: Cfg = {
      ...k.config,
      ...(i === 0 ? shape : {}),
      ...rnn,
      // Below the top: the whole sequence for the next; only the first reverses the input.
      ...(last ? {} : { return_sequences: true, return_state: false }),
      ...(i > 0 ? { go_backwards: false } : {}),
      name: names[i],
    };
    const e: Entry = { class_name: LAYER_OF[k.class_name], config };
    if (o.module !== undefined) e.module = o.module;
    if ('registered_name' in o) e.registered_name = null;
    if ('name' in o) e.name = names[i];
    if ('inbound_nodes' in o) e.inbound_nodes = i === 0 ? o.inbound_nodes : calls.map((n, call) => chainNode(n, names[i - 1], call));
    return e;
  });
}

/** The topology with every RNN over Keras's cells read as LSTM, GRU or SimpleRNN layers (see the top); the same object when it has none. */
export function withoutRnnCells(json: LayersModelJson): LayersModelJson {
  if (!hasRnn(json.modelTopology)) return json;
  const renames: [string, string][] = [];
  const used = new Set<string>();
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(collect);
    if (!v || typeof v !== 'object') return;
    const n = (v as Entry).config?.name;
    if (typeof n === 'string') used.add(n);
    Object.values(v).forEach(collect);
  };
  collect(json.modelTopology);
  const map = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.flatMap((e) => ((e as Entry)?.class_name === 'RNN' ? asLayers(e as Entry, renames, used, true) : [map(e)]));
    if (!v || typeof v !== 'object') return v;
    if ((v as Entry).class_name === 'RNN') return asLayers(v as Entry, renames, used, false)[0];
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, map(e)]));
  };
  const modelTopology = map(json.modelTopology) as LayersModelJson['modelTopology'];
  if (!Array.isArray(json.weightsManifest)) return { ...json, modelTopology };
  const rename = (n: string): string => {
    const hit = typeof n === 'string' ? renames.find(([long]) => n.startsWith(long)) : undefined;
    return hit ? hit[1] + n.slice(hit[0].length) : n;
  };
  return { ...json, modelTopology, weightsManifest: json.weightsManifest.map((g) => (Array.isArray(g?.weights) ? { ...g, weights: g.weights.map((w) => ({ ...w, name: rename(w.name) })) } : g)) };
}
