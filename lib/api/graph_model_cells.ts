// The cells of Keras's recurrent layers inside a GraphModel's while loop (graph_model_loops.ts
// finds the loops) or written out step by step (graph_model_unrolled.ts), and the `_Recurrent` node
// both become: each read by the value it computes from the step's input x, the state h (and
// an LSTM's c) and constants, never by its ops' names, and its weights taken in Keras's layout.
// Anything else is no cell: undefined, and the loop is left to be refused.
import { addConstant, constValue, dataInputs, scalarValue } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';

/** A ref's node name and output port ('name:1'; a control input's '^'). */
export const name = (ref: string) => ref.replace(/^\^/, '').replace(/:\d+$/, '');
export const port = (ref: string) => Number(/:(\d+)$/.exec(ref)?.[1] ?? 0);
const PASS = new Set(['Identity', 'StopGradient', 'Snapshot']);

/** The node `ref` names (any output), behind pass-through ops. */
export function at(nodes: Map<string, GraphNode>, ref: string | undefined): { n: GraphNode; port: number } | undefined {
  for (let hops = 0; ref !== undefined && hops < 32; hops++) {
    const n = nodes.get(name(ref));
    if (!n) return undefined;
    if (!PASS.has(n.op)) return { n, port: port(ref) };
    ref = dataInputs(n)[0];
  }
  return undefined;
}
/** The node at `ref` (behind pass-throughs) when it is an `op`, read at output `p`. */
export const is = (nodes: Map<string, GraphNode>, ref: string | undefined, op: string, p = 0): GraphNode | undefined => {
  const a = at(nodes, ref);
  return a && a.n.op === op && a.port === p ? a.n : undefined;
};

/** x W + h U + b as the cell computes z (MatMul, _FusedMatMul with BiasAdd, AddV2, BiasAdd): the constants by operand. */
function linear(nodes: Map<string, GraphNode>, weights: Weights, ref: string, x: string, h: string, out: { W?: Float32Array; U?: Float32Array; b?: Float32Array; shapes: Map<string, number[]> }, depth = 0): boolean {
  const a = at(nodes, ref);
  if (!a || a.port !== 0 || depth > 8) return false;
  const n = a.n, ins = dataInputs(n);
  if (n.op === 'AddV2' || n.op === 'Add' || n.op === 'BiasAdd') {
    const c = constValue(nodes, weights, ins[1]) ?? (n.op === 'BiasAdd' ? undefined : constValue(nodes, weights, ins[0]));
    if (c) {
      if (out.b || c.shape.length !== 1) return false;
      out.b = c.data;
      return linear(nodes, weights, constValue(nodes, weights, ins[1]) ? ins[0] : ins[1], x, h, out, depth + 1);
    }
    return ins.length === 2 && linear(nodes, weights, ins[0], x, h, out, depth + 1) && linear(nodes, weights, ins[1], x, h, out, depth + 1);
  }
  if (n.op === 'MatMul' || n.op === '_FusedMatMul') {
    if (n.attr.transpose_a?.b || n.attr.transpose_b?.b) return false;
    const w = constValue(nodes, weights, ins[1]);
    const of = at(nodes, ins[0]);
    const which = of && `${of.n.name}:${of.port}` === x ? 'W' : of && `${of.n.name}:${of.port}` === h ? 'U' : undefined;
    if (!w || w.shape.length !== 2 || !which || out[which]) return false;
    out[which] = w.data;
    out.shapes.set(which, w.shape);
    if (n.op === '_FusedMatMul') {
      const ops = (n.attr.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString());
      const b = constValue(nodes, weights, ins[2]);
      if (ops.join() !== 'BiasAdd' || !b || out.b) return false;
      out.b = b.data;
    }
    return true;
  }
  return false;
}

export const key = (nodes: Map<string, GraphNode>, ref: string | undefined) => {
  const a = at(nodes, ref);
  return a ? `${a.n.name}:${a.port}` : undefined;
};

/** The two operands of a Mul or AddV2 at `ref`, else undefined. */
export function operands(nodes: Map<string, GraphNode>, ref: string | undefined, op: 'Mul' | 'AddV2'): [string, string] | undefined {
  const n = is(nodes, ref, op) ?? (op === 'AddV2' ? is(nodes, ref, 'Add') : undefined);
  const ins = n ? dataInputs(n) : [];
  return ins.length === 2 ? [ins[0], ins[1]] : undefined;
}

/** f(split:k) for `op`: k, else undefined. */
function gateOf(nodes: Map<string, GraphNode>, ref: string, op: string, split: string): number | undefined {
  const g = is(nodes, ref, op);
  const s = g && at(nodes, dataInputs(g)[0]);
  return s && s.n.name === split ? s.port : undefined;
}

/** The cells' activations (Keras's `activation`: tanh by default, relu too) by op. */
export const ACTIVATION_OPS: Record<string, string> = { Tanh: 'tanh', Relu: 'relu' };

/**
 * The LSTM cell h' = sigmoid(o) act(c'), c' = sigmoid(f) c + sigmoid(i) act(g), z split in four,
 * act its activation (tanh, or relu): its weights, else undefined.
 */
export function lstmCell(nodes: Map<string, GraphNode>, weights: Weights, hNew: string, cNew: string, x: string, h: string, c: string) {
  const ho = operands(nodes, hNew, 'Mul');
  /** Whether `ref` is op(c'). */
  const ofC = (ref: string, op: string) => {
    const t = is(nodes, ref, op);
    return !!t && key(nodes, dataInputs(t)[0]) === key(nodes, cNew);
  };
  const actOp = Object.keys(ACTIVATION_OPS).find((op) => ho?.some((r) => ofC(r, op)));
  const tanhC = ho && actOp ? ho.findIndex((r) => ofC(r, actOp)) : -1;
  if (!ho || !actOp || tanhC < 0) return undefined;
  const oRef = ho[1 - tanhC];
  const sig = is(nodes, oRef, 'Sigmoid');
  const split = sig && at(nodes, dataInputs(sig)[0]);
  if (!split || split.n.op !== 'Split' || split.port !== 3 || Number(split.n.attr.num_split?.i) !== 4) return undefined;
  const dim = scalarValue(nodes, weights, dataInputs(split.n)[0]);
  if (dim !== 1 && dim !== -1) return undefined;
  const sp = split.n.name;
  // c' = sigmoid(f) c + sigmoid(i) tanh(g), in any order.
  const terms = operands(nodes, cNew, 'AddV2')?.map((r) => operands(nodes, r, 'Mul'));
  if (!terms || terms.some((t) => !t)) return undefined;
  let forget = false, input = false;
  for (const t of terms as [string, string][]) {
    const [a, b] = t;
    for (const [p, q] of [[a, b], [b, a]]) {
      if (gateOf(nodes, p, 'Sigmoid', sp) === 1 && key(nodes, q) === key(nodes, c)) forget = true;
      if (gateOf(nodes, p, 'Sigmoid', sp) === 0 && gateOf(nodes, q, actOp, sp) === 2) input = true;
    }
  }
  if (!forget || !input) return undefined;
  const lin = { shapes: new Map<string, number[]>() } as { W?: Float32Array; U?: Float32Array; b?: Float32Array; shapes: Map<string, number[]> };
  if (!linear(nodes, weights, dataInputs(split.n)[1], key(nodes, x)!, key(nodes, h)!, lin) || !lin.W || !lin.U) return undefined;
  const [inDim, cols] = lin.shapes.get('W')!, units = cols / 4;
  if (!Number.isInteger(units) || lin.shapes.get('U')!.join() !== `${units},${cols}` || (lin.b && lin.b.length !== cols)) return undefined;
  return { kind: 'LSTM', activation: ACTIVATION_OPS[actOp], kernel: lin.W, recurrent: lin.U, bias: lin.b ?? new Float32Array(cols), inDim, units, biasShape: [cols] };
}

/** Columns [from, to) of a [batch, n] value that StridedSlice `n` keeps (every row), else undefined. */
function columns(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode, width: number): [number, number] | undefined {
  const [b, e, st] = dataInputs(n).slice(1).map((r) => constValue(nodes, weights, r)?.data);
  const mask = (k: string) => Number(n.attr[k]?.i ?? 0);
  if (!b || !e || !st || b.length !== 2 || st[0] !== 1 || st[1] !== 1 || mask('shrink_axis_mask') || mask('ellipsis_mask') || mask('new_axis_mask')) return undefined;
  if (!(mask('begin_mask') & 1) && b[0] !== 0) return undefined;
  if (!(mask('end_mask') & 1)) return undefined;
  const from = mask('begin_mask') & 2 ? 0 : b[1], to = mask('end_mask') & 2 ? width : e[1];
  return from >= 0 && to <= width && from < to ? [from, to] : undefined;
}

/**
 * Keras's GRU cell with reset_after (Keras's default): x_z, x_r, x_h = Split(x W + b_in, 3);
 * r_z, r_r, r_h the columns of h U + b_rec; z = sigmoid(x_z + r_z), r = sigmoid(x_r + r_r),
 * h' = z h + (1 - z) act(x_h + r r_h), act tanh or relu: its weights (bias [2, 3 units]), else
 * undefined.
 */
export function gruCell(nodes: Map<string, GraphNode>, weights: Weights, hNew: string, x: string, h: string) {
  const terms = operands(nodes, hNew, 'AddV2')?.map((r) => operands(nodes, r, 'Mul'));
  if (!terms || terms.some((t) => !t)) return undefined;
  let zRef: string | undefined, cand: string | undefined;
  for (const [a, b] of terms as [string, string][])
    for (const [p, q] of [[a, b], [b, a]]) {
      if (is(nodes, p, 'Sigmoid') && key(nodes, q) === key(nodes, h)) zRef = key(nodes, p);
      const sub = is(nodes, p, 'Sub');
      if (sub && scalarValue(nodes, weights, dataInputs(sub)[0]) === 1 && Object.keys(ACTIVATION_OPS).some((op) => is(nodes, q, op))) cand = `${key(nodes, dataInputs(sub)[1])}|${key(nodes, q)}`;
    }
  if (!zRef || !cand || cand.split('|')[0] !== zRef) return undefined;
  const tanh = at(nodes, cand.split('|')[1])!.n;
  // Each gate's pre-activation: split k of x's part plus a column block of h's (times r for h).
  const parts = (ref: string | undefined): { split: GraphNode; k: number; other: string } | undefined => {
    const ops = operands(nodes, ref, 'AddV2');
    for (const [i, j] of [[0, 1], [1, 0]]) {
      const sp = ops && at(nodes, ops[i]);
      if (ops && sp?.n.op === 'Split') return { split: sp.n, k: sp.port, other: ops[j] };
    }
    return undefined;
  };
  const zPart = parts(dataInputs(at(nodes, zRef)!.n)[0]);
  const hPart = parts(dataInputs(tanh)[0]);
  const rMul = hPart && operands(nodes, hPart.other, 'Mul');
  const rSig = rMul?.map((r) => is(nodes, r, 'Sigmoid')).find((g) => g);
  const rPart = rSig && parts(dataInputs(rSig)[0]);
  const rh = rMul && rSig ? rMul.find((r) => key(nodes, r) !== `${rSig.name}:0`) : undefined;
  if (!zPart || !hPart || !rPart || !rh || zPart.k !== 0 || rPart.k !== 1 || hPart.k !== 2) return undefined;
  const split = zPart.split;
  if (rPart.split !== split || hPart.split !== split || Number(split.attr.num_split?.i) !== 3 || ![1, -1].includes(scalarValue(nodes, weights, dataInputs(split)[0]) ?? 0)) return undefined;
  // The column blocks z, r, h of one h U + b_rec.
  const blocks = [zPart.other, rPart.other, rh].map((r) => is(nodes, r, 'StridedSlice'));
  const inner = blocks[0] && dataInputs(blocks[0])[0];
  if (blocks.some((b) => !b || key(nodes, dataInputs(b)[0]) !== key(nodes, inner))) return undefined;
  const xl = { shapes: new Map<string, number[]>() } as { W?: Float32Array; U?: Float32Array; b?: Float32Array; shapes: Map<string, number[]> };
  const hl = { shapes: new Map<string, number[]>() } as { W?: Float32Array; U?: Float32Array; b?: Float32Array; shapes: Map<string, number[]> };
  if (!linear(nodes, weights, dataInputs(split)[1], key(nodes, x)!, key(nodes, h)!, xl) || !xl.W || xl.U) return undefined;
  if (!linear(nodes, weights, inner!, key(nodes, x)!, key(nodes, h)!, hl) || !hl.U || hl.W) return undefined;
  const [inDim, cols] = xl.shapes.get('W')!, units = cols / 3;
  if (!Number.isInteger(units) || hl.shapes.get('U')!.join() !== `${units},${cols}`) return undefined;
  const want = [[0, units], [units, 2 * units], [2 * units, cols]];
  if (blocks.some((b, k) => columns(nodes, weights, b!, cols)?.join() !== want[k].join())) return undefined;
  const bias = new Float32Array(2 * cols);
  if (xl.b) bias.set(xl.b.length === cols ? xl.b : [], 0);
  if (hl.b) bias.set(hl.b.length === cols ? hl.b : [], cols);
  if ((xl.b && xl.b.length !== cols) || (hl.b && hl.b.length !== cols)) return undefined;
  return { kind: 'GRU', activation: ACTIVATION_OPS[tanh.op], kernel: xl.W, recurrent: hl.U, bias, inDim, units, biasShape: [2, cols] };
}

/** SimpleRNN's activations by op. */
const SIMPLE_ACTIVATIONS: Record<string, string> = { Tanh: 'tanh', Relu: 'relu', Sigmoid: 'sigmoid' };

/** The SimpleRNN cell h' = activation(x W + h U + b): its weights, else undefined. */
export function simpleCell(nodes: Map<string, GraphNode>, weights: Weights, hNew: string, x: string, h: string) {
  const a = at(nodes, hNew);
  const activation = a && a.port === 0 ? SIMPLE_ACTIVATIONS[a.n.op] : undefined;
  const lin = { shapes: new Map<string, number[]>() } as { W?: Float32Array; U?: Float32Array; b?: Float32Array; shapes: Map<string, number[]> };
  if (!a || !activation || !linear(nodes, weights, dataInputs(a.n)[0], key(nodes, x)!, key(nodes, h)!, lin) || !lin.W || !lin.U) return undefined;
  const [inDim, units] = lin.shapes.get('W')!;
  if (lin.shapes.get('U')!.join() !== `${units},${units}` || (lin.b && lin.b.length !== units)) return undefined;
  return { kind: 'SimpleRNN', activation, kernel: lin.W, recurrent: lin.U, bias: lin.b ?? new Float32Array(units), inDim, units, biasShape: [units] };
}

/** A cell as the readers above return it. */
export type Cell = NonNullable<ReturnType<typeof simpleCell>>;

/** Zeros as a first state (or a padded step's output): Fill of a constant 0, ZerosLike, or a constant of zeros. */
export function isZeros(nodes: Map<string, GraphNode>, weights: Weights, ref: string): boolean {
  if (is(nodes, ref, 'ZerosLike')) return true;
  const fill = is(nodes, ref, 'Fill');
  const c = fill ? constValue(nodes, weights, dataInputs(fill)[1]) : constValue(nodes, weights, ref);
  return !!c && c.data.every((v) => v === 0);
}

/**
 * Adds the `_Recurrent` node of a cell run over x's steps (named after `base`, numbered if taken),
 * its weights new constants; returns its name and its attributes, to which a caller adds what
 * else the layer does (states, a mask).
 */
export function addRecurrent(nodes: Map<string, GraphNode>, weights: Weights, base: string, x: string, cell: Cell, o: { steps: number; sequences: boolean; backwards: boolean; zeros: boolean }): { node: string; inputs: string[]; attr: GraphNode['attr'] } {
  let node = `${base}/_Recurrent`;
  for (let i = 1; nodes.has(node); i++) node = `${base}/_Recurrent_${i}`;
  const cols = cell.kernel.length / cell.inDim;
  const inputs = [x];
  for (const [what, data, shape] of [['kernel', cell.kernel, [cell.inDim, cols]], ['recurrent_kernel', cell.recurrent, [cell.units, cols]], ['bias', cell.bias, cell.biasShape]] as const)
    inputs.push(addConstant(nodes, weights, node, what, Float32Array.from(data), [...shape]));
  const attr: GraphNode['attr'] = { kind: { s: Buffer.from(cell.kind).toString('base64') }, activation: { s: Buffer.from(cell.activation).toString('base64') }, units: { i: cell.units }, steps: { i: o.steps }, return_sequences: { b: o.sequences }, go_backwards: { b: o.backwards }, zero_output_for_mask: { b: o.zeros } };
  nodes.set(node, { name: node, op: '_Recurrent', input: inputs, attr });
  return { node, inputs, attr };
}
