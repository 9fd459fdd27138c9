// Keras's LSTM, GRU and SimpleRNN in a GraphModel. TensorFlow runs a recurrent layer as a while
// loop, which a frozen graph holds as control-flow ops (Enter, Merge, Switch, NextIteration, Exit,
// LoopCond) around the cell's ops, with the steps in TensorLists. Keras 3.15 writes an LSTM, after
// the converter's passes, as:
//
//   xs = TensorListFromTensor(Transpose(x, [1, 0, 2]))     (time major; ReverseV2 on axis 0 first
//                                                           with go_backwards)
//   loop variables: a step counter t (0, +1), xs (unchanged), h and c (zeros), the outputs'
//   TensorList (TensorListReserve), a loop counter; the loop runs while t < steps
//   body:  z = x_t W + h U + b,  x_t = TensorListGetItem(xs, t)
//          i, f, g, o = Split(z, 4)
//          c' = sigmoid(f) c + sigmoid(i) tanh(g),  h' = sigmoid(o) tanh(c')
//          outputs' = TensorListSetItem(outputs, t, h')       (index 0 without return_sequences)
//   after: TensorListStack(outputs): Transpose(., [1, 0, 2]) with return_sequences, or its
//          element -1 (the last output) without; a following layer's loop reads the stack itself
//
// A SimpleRNN's loop is the same with h' = tanh(x_t W + h U + b) (or relu, sigmoid) and no c, a
// GRU's (reset_after, Keras's default) with its cell (graph_model_cells.ts reads the cells). With
// Keras's padding mask (Embedding(mask_zero) before the layer), the mask is one more TensorList,
// and the states and the output keep their values at a padded step (a SelectV2 of each by the
// step's mask): the layer is then handed the mask (graph_model_masks.ts), which it applies so.
// Each such loop becomes one '_Recurrent' node reading x (batch major) and the cell's weights, in
// place of what reads the stack (graph_model_nodes.ts makes Keras's layer of it: the library's
// own, exact-only). Its final states read after it are the layer's outputs 1 and 2
// (return_state), and states computed before it its first ones (initial_state). Anything else in
// a loop (another cell or activation, another mask) leaves it as it is: its ops are then refused,
// naming one.
import { constValue, dataInputs, scalarValue } from './graph_model_algebra';
import { addRecurrent, at, gruCell, is, isZeros, key, lstmCell, name, operands, port, simpleCell } from './graph_model_cells';
import { stepMaskAt } from './graph_model_masks';
import type { GraphNode, Weights } from './graph_model_ops';

/** A loop variable: its Enter (initial value `init`), Merge, Switch (the body reads `body`), NextIteration (`update`), Exit. */
interface LoopVar {
  init: string;
  merge: string;
  body: string;
  update: string;
  exit?: string;
}

/** The loop variables of each while frame, with its LoopCond's input. */
function framesOf(nodes: Map<string, GraphNode>): { frame: string; vars: LoopVar[]; cond: string }[] {
  const readers = new Map<string, GraphNode[]>();
  for (const n of nodes.values()) for (const r of dataInputs(n)) readers.set(name(r), [...(readers.get(name(r)) ?? []), n]);
  const frames = new Map<string, { vars: LoopVar[]; cond?: string; broken?: true }>();
  for (const e of nodes.values()) {
    if (e.op !== 'Enter' || e.attr.is_constant?.b) continue;
    const frame = e.attr.frame_name?.s ?? '';
    const f = frames.get(frame) ?? { vars: [] };
    frames.set(frame, f);
    const merge = (readers.get(e.name) ?? []).find((r) => r.op === 'Merge');
    const next = merge && dataInputs(merge).map((r) => nodes.get(name(r))).find((n) => n?.op === 'NextIteration');
    const sw = merge && (readers.get(merge.name) ?? []).find((r) => r.op === 'Switch');
    if (!merge || !next || !sw || dataInputs(merge).length !== 2) {
      f.broken = true;
      continue;
    }
    const cond = nodes.get(name(dataInputs(sw)[1]));
    if (cond?.op !== 'LoopCond' || (f.cond !== undefined && f.cond !== dataInputs(cond)[0])) f.broken = true;
    else f.cond = dataInputs(cond)[0];
    const exit = (readers.get(sw.name) ?? []).find((r) => r.op === 'Exit' && port(dataInputs(r)[0]) === 0);
    f.vars.push({ init: dataInputs(e)[0], merge: merge.name, body: `${sw.name}:1`, update: dataInputs(next)[0], ...(exit ? { exit: exit.name } : {}) });
  }
  return [...frames].filter(([, f]) => !f.broken && f.cond !== undefined).map(([frame, f]) => ({ frame, vars: f.vars, cond: f.cond! }));
}

/** A step counter: starts at 0, adds 1 per step. */
const counter = (nodes: Map<string, GraphNode>, weights: Weights, v: LoopVar) => {
  const add = operands(nodes, v.update, 'AddV2');
  return scalarValue(nodes, weights, v.init) === 0 && !!add && add.some((r) => key(nodes, r) === key(nodes, v.body)) && add.some((r) => scalarValue(nodes, weights, r) === 1);
};

/** How many steps the loop runs: the smallest bound of a counter in its condition (each a Less of a counter's Merge and a constant or an unchanged variable). */
function stepsOf(nodes: Map<string, GraphNode>, weights: Weights, cond: string, vars: LoopVar[]): number | undefined {
  const byMerge = new Map(vars.map((v) => [v.merge, v]));
  const bounds: number[] = [];
  const walk = (ref: string, depth: number): boolean => {
    const n = at(nodes, ref)?.n;
    if (!n || depth > 8) return false;
    if (n.op === 'LogicalAnd') return dataInputs(n).every((r) => walk(r, depth + 1));
    if (n.op !== 'Less') return false;
    const [a, b] = dataInputs(n);
    const v = byMerge.get(name(a));
    if (!v || !counter(nodes, weights, v)) return false;
    const other = byMerge.get(name(b));
    const bound = other ? (key(nodes, other.update) === key(nodes, other.body) ? scalarValue(nodes, weights, other.init) : undefined) : scalarValue(nodes, weights, b);
    if (bound === undefined) return false;
    bounds.push(bound);
    return true;
  };
  return walk(cond, 0) && bounds.length > 0 ? Math.min(...bounds) : undefined;
}

/**
 * The padding mask a loop's TensorList is made of: Transpose(ExpandDims(m, -1), [1, 0, 2]),
 * reversed on axis 0 with go_backwards; m an Embedding's NotEqual(ids, 0) (its source the ids), or
 * a Masking layer's Any(NotEqual(x, c), -1) (its source x, and c: graph_model_masking.ts).
 */
function maskListOf(nodes: Map<string, GraphNode>, weights: Weights, init: string): { source: string; backwards: boolean; value?: number } | undefined {
  const from = is(nodes, init, 'TensorListFromTensor');
  let src = from && dataInputs(from)[0];
  const rev = is(nodes, src, 'ReverseV2');
  if (rev) {
    const axis = constValue(nodes, weights, dataInputs(rev)[1]);
    if (axis?.data.length !== 1 || axis.data[0] !== 0) return undefined;
    src = dataInputs(rev)[0];
  }
  const t = is(nodes, src, 'Transpose');
  const perm = t && constValue(nodes, weights, dataInputs(t)[1]);
  const e = t && is(nodes, dataInputs(t)[0], 'ExpandDims');
  const axis = e && scalarValue(nodes, weights, dataInputs(e)[1]);
  if (!perm || [...perm.data].join() !== '1,0,2' || !e || (axis !== 2 && axis !== -1)) return undefined;
  const m = stepMaskAt(nodes, weights, dataInputs(e)[0]);
  return m ? { ...m, backwards: !!rev } : undefined;
}

/** x [batch, steps, features] (batch major) a loop's xs is made of, and whether it is reversed (go_backwards). */
function sequenceOf(nodes: Map<string, GraphNode>, weights: Weights, xs: string, lstms: Map<string, string>): { x: string; backwards: boolean } | undefined {
  const from = is(nodes, xs, 'TensorListFromTensor');
  let src = from && dataInputs(from)[0];
  let backwards = false;
  const rev = is(nodes, src, 'ReverseV2');
  if (rev) {
    const axis = constValue(nodes, weights, dataInputs(rev)[1]);
    if (axis?.data.length !== 1 || axis.data[0] !== 0) return undefined;
    backwards = true;
    src = dataInputs(rev)[0];
  }
  const t = is(nodes, src, 'Transpose');
  if (t) {
    const perm = constValue(nodes, weights, dataInputs(t)[1]);
    return perm && [...perm.data].join() === '1,0,2' ? { x: dataInputs(t)[0], backwards } : undefined;
  }
  // Steps packed time major (TimeDistributed's outputs read by the loop directly): packed on axis 1.
  const pack = is(nodes, src, 'Pack');
  if (pack && Number(pack.attr.axis?.i ?? 0) === 0) {
    const name = `${pack.name}/batch_major`;
    if (!nodes.has(name)) nodes.set(name, { name, op: 'Pack', input: dataInputs(pack), attr: { ...pack.attr, axis: { i: 1 } } });
    return { x: name, backwards };
  }
  // Another LSTM's outputs, time major as its loop stacked them.
  const stack = src && at(nodes, src)?.n;
  const lstm = stack && lstms.get(stack.name);
  return lstm ? { x: lstm, backwards } : undefined;
}

/**
 * Replaces each Keras LSTM, GRU or SimpleRNN loop (see above) by one '_Recurrent' node where its
 * outputs are read; returns the stacks of those returning every step, each to its node (batch
 * major), for other readers of a stack (graph_model_steps.ts).
 */
export function matchRecurrentLoops(nodes: Map<string, GraphNode>, weights: Weights): Map<string, string> {
  const lstms = new Map<string, string>(); // a loop's TensorListStack -> its _Recurrent node (all steps)
  const pending = framesOf(nodes);
  // A loop reading another's outputs is matched after it.
  for (let progress = true; progress; ) {
    progress = false;
    for (const loop of [...pending]) {
      const done = matchLoop(nodes, weights, loop, lstms);
      if (done === 'wait') continue;
      pending.splice(pending.indexOf(loop), 1);
      progress = true;
    }
  }
  return lstms;
}

function matchLoop(nodes: Map<string, GraphNode>, weights: Weights, loop: { frame: string; vars: LoopVar[]; cond: string }, lstms: Map<string, string>): 'done' | 'wait' {
  const readers = (n: string) => [...nodes.values()].filter((r) => dataInputs(r).some((ref) => name(ref) === n));
  const steady = (v: LoopVar) => key(nodes, v.update) === key(nodes, v.body);
  const time = loop.vars.find((v) => counter(nodes, weights, v) && [...nodes.values()].some((n) => n.op === 'TensorListGetItem' && key(nodes, dataInputs(n)[1]) === key(nodes, v.body)));
  const xsVar = loop.vars.find((v) => steady(v) && is(nodes, v.init, 'TensorListFromTensor')?.attr.element_dtype?.type === 'DT_FLOAT');
  const outVar = loop.vars.find((v) => is(nodes, v.init, 'TensorListReserve') && is(nodes, v.update, 'TensorListSetItem'));
  if (!time || !xsVar || !outVar || !outVar.exit) return 'done';
  const seq = sequenceOf(nodes, weights, xsVar.init, lstms);
  if (!seq) {
    // Its input may be an LSTM loop not matched yet.
    const from = is(nodes, xsVar.init, 'TensorListFromTensor');
    const src = from && at(nodes, dataInputs(from)[0])?.n;
    const inner = src?.op === 'ReverseV2' ? at(nodes, dataInputs(src)[0])?.n : src;
    return inner?.op === 'TensorListStack' ? 'wait' : 'done';
  }
  const get = [...nodes.values()].find((n) => n.op === 'TensorListGetItem' && key(nodes, dataInputs(n)[0]) === key(nodes, xsVar.body) && key(nodes, dataInputs(n)[1]) === key(nodes, time.body));
  const set = is(nodes, outVar.update, 'TensorListSetItem')!;
  const [listRef, indexRef, outRef] = dataInputs(set);
  if (!get || key(nodes, listRef) !== key(nodes, outVar.body)) return 'done';
  const sequences = key(nodes, indexRef) === key(nodes, time.body);
  if (!sequences && scalarValue(nodes, weights, indexRef) !== 0) return 'done';
  // Keras's padding mask: a TensorList of m[:, :, None] read at each step; the states and the
  // output keep their last values where m is 0 (SelectV2(m_t, new, old)).
  const maskVar = loop.vars.find((v) => v !== xsVar && steady(v) && is(nodes, v.init, 'TensorListFromTensor')?.attr.element_dtype?.type === 'DT_BOOL');
  const mask = maskVar && maskListOf(nodes, weights, maskVar.init);
  const mGet = maskVar && [...nodes.values()].find((n) => n.op === 'TensorListGetItem' && key(nodes, dataInputs(n)[0]) === key(nodes, maskVar.body) && key(nodes, dataInputs(n)[1]) === key(nodes, time.body));
  if (maskVar && (!mask || !mGet || mask.backwards !== seq.backwards)) return 'done';
  /** The new value of `v` that `ref` holds where the step is not padding: `ref` itself without a mask. */
  const unmasked = (ref: string, v?: LoopVar): string | undefined => {
    if (!mGet) return ref;
    const sel = is(nodes, ref, 'SelectV2');
    const [c, a, b] = sel ? dataInputs(sel) : [];
    return sel && key(nodes, c) === `${mGet.name}:0` && (!v || key(nodes, b) === key(nodes, v.body)) ? a : undefined;
  };
  const zero = (ref: string) => isZeros(nodes, weights, ref);
  // With a mask the output at a padded step is the last output (a variable of its own, which is
  // h), or zeros (zero_output_for_mask, Bidirectional's with every step returned: an unchanged
  // variable of zeros); without, h' itself.
  const prevVar = mGet ? loop.vars.find((v) => key(nodes, v.update) === key(nodes, outRef)) : undefined;
  const held = mGet && is(nodes, outRef, 'SelectV2') ? dataInputs(is(nodes, outRef, 'SelectV2')!)[2] : undefined;
  const zeros = loop.vars.find((v) => held !== undefined && key(nodes, v.body) === key(nodes, held) && steady(v) && zero(v.init));
  if (zeros && !sequences) return 'done';
  const hNew = unmasked(outRef, zeros ?? prevVar);
  if ((mGet && !prevVar) || !hNew) return 'done';
  const hVar = loop.vars.find((v) => v !== prevVar && key(nodes, unmasked(v.update, v)) === key(nodes, hNew));
  if (!hVar) return 'done';
  const rest = loop.vars.filter((v) => ![time, xsVar, outVar, hVar, prevVar, maskVar, zeros].includes(v));
  // An LSTM's other state (c); the rest counters or bounds that only count the steps.
  const others = rest.filter((v) => !steady(v) && !counter(nodes, weights, v));
  const cVar = others[0];
  const cNew = cVar && unmasked(cVar.update, cVar);
  if (others.length > 1 || (cVar && !cNew)) return 'done';
  // The first state: zeros, or (initial_state) values computed before the loop, h's and an
  // LSTM's c both (an encoder's final states handed to a decoder).
  const given = !zero(hVar.init);
  if ((cVar && zero(cVar.init) === given) || (prevVar && !zero(prevVar.init))) return 'done';
  if (given && [hVar, ...(cVar ? [cVar] : [])].some((v) => constValue(nodes, weights, v.init) !== undefined)) return 'done';
  // Keras 3 hands a call with initial_state no mask (checked against Keras 3.15: the loop has no
  // mask list then); a loop with both is not one of its layers, and its padded leading steps'
  // outputs are not checked here: refused.
  if (given && mask) return 'done';
  const x = `${get.name}:0`;
  const cell = cVar ? lstmCell(nodes, weights, hNew, cNew!, x, hVar.body, cVar.body) : (simpleCell(nodes, weights, hNew, x, hVar.body) ?? gruCell(nodes, weights, hNew, x, hVar.body));
  const steps = stepsOf(nodes, weights, loop.cond, loop.vars);
  if (!cell || steps === undefined) return 'done';
  // What reads the outputs: their stack, then a transpose back (every step) or the last element.
  // (None when only its final states are read: an encoder's.)
  const outReaders = readers(outVar.exit);
  const stack = outReaders.find((r) => r.op === 'TensorListStack');
  if (outReaders.length > (stack ? 1 : 0)) return 'done';
  const { node, inputs, attr } = addRecurrent(nodes, weights, stack?.name ?? outVar.exit, seq.x, cell, { steps, sequences, backwards: seq.backwards, zeros: !!zeros });
  // Its final states read after the loop (Keras's return_state): h, then an LSTM's c, are the
  // layer's outputs 1 and 2 (the Exits become reads of them).
  const read = (v?: LoopVar) => !!v?.exit && [...nodes.values()].some((r) => dataInputs(r).some((ref) => name(ref) === v.exit));
  if (read(hVar) || read(cVar)) {
    Object.assign(attr, { return_state: { b: true } });
    for (const [v, k] of [[hVar, 1], [cVar, 2]] as const) if (v?.exit) nodes.set(v.exit, { name: v.exit, op: 'Identity', input: [`${node}:${k}`], attr: {} });
  }
  if (given) {
    inputs.push(hVar.init, ...(cVar ? [cVar.init] : []));
    Object.assign(attr, { initial_state: { b: true } });
  }
  // The padding mask's source (the int input of token ids, or the values a Masking layer reads), read last.
  if (mask) {
    inputs.push(mask.source);
    Object.assign(attr, { masked: { b: true } });
  }
  if (mask?.value !== undefined) Object.assign(attr, { mask_value: { f: mask.value } });
  if (!stack) return 'done';
  if (sequences) lstms.set(stack.name, node);
  for (const r of readers(stack.name)) {
    if (r.op === 'Transpose' && sequences && [...(constValue(nodes, weights, dataInputs(r)[1])?.data ?? [])].join() === '1,0,2') nodes.set(r.name, { name: r.name, op: 'Identity', input: [node], attr: {} });
    if (r.op === 'StridedSlice' && !sequences && lastElement(nodes, weights, r)) nodes.set(r.name, { name: r.name, op: 'Identity', input: [node], attr: {} });
  }
  return 'done';
}

/** x[-1] (or x[0]) of a one-element stack: StridedSlice on axis 0 alone, shrinking it. */
function lastElement(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode): boolean {
  const [, b, e, s] = dataInputs(n).map((r) => constValue(nodes, weights, r)?.data);
  const mask = (k: string) => Number(n.attr[k]?.i ?? 0);
  return !!b && !!e && !!s && b.length === 1 && s[0] === 1 && (b[0] === -1 || b[0] === 0) && mask('shrink_axis_mask') === 1 && mask('ellipsis_mask') === 0 && mask('new_axis_mask') === 0;
}
