// Keras's recurrent layers with unroll=True in a GraphModel: no while loop, the steps written out.
// TensorFlow unstacks the time-major input (Unpack of Transpose(x, [1, 0, 2])), runs the cell once
// per step, the first from zeros (Fill), each later one from the state the step before computed
// (go_backwards: the sequence's last step first), and returns the last h or every h in the order
// it ran (Pack, then a Transpose back). Each step is read as a cell
// (graph_model_cells.ts, by what it computes); when every step is the same cell, with the same
// weights, the chain becomes one `_Recurrent` node, as a loop's does (graph_model_loops.ts).
// Anything else (another first state, a mask, a step that differs) is left as it is, and refused
// where its ops are read.
import { constValue, dataInputs, readersOf } from './graph_model_algebra';
import { ACTIVATION_OPS, addRecurrent, at, type Cell, gruCell, is, isZeros, key, lstmCell, simpleCell } from './graph_model_cells';
import { fail, type GraphNode, intOf, type Weights } from './graph_model_ops';

/** Nodes a step's cell spans: those read from its input within this many hops. */
const CELL_DEPTH = 12;

/** The refs reachable forward from `from` within CELL_DEPTH hops (breadth first: nearest first). */
function ahead(readers: Map<string, string[]>, from: string): string[] {
  const seen = new Set<string>(), out: string[] = [];
  let frontier = [from.replace(/:\d+$/, '')];
  for (let d = 0; d < CELL_DEPTH && frontier.length; d++) {
    const next: string[] = [];
    for (const n of frontier)
      for (const r of readers.get(n) ?? []) {
        if (seen.has(r)) continue;
        seen.add(r);
        out.push(r);
        next.push(r);
      }
    frontier = next;
  }
  return out;
}

/** One step: its cell and the refs of its new h (and an LSTM's c), given its input and the states before it. */
function stepOf(nodes: Map<string, GraphNode>, weights: Weights, candidates: string[], x: string, h: string[], c: string[]): { cell: Cell; h: string; c?: string } | undefined {
  for (const hNew of candidates) {
    const ref = `${hNew}:0`;
    // An LSTM's h' = o * act(c'): c' is the activation's input.
    const mul = is(nodes, ref, 'Mul');
    for (const operand of mul ? dataInputs(mul) : []) {
      const act = at(nodes, operand);
      if (!act || !(act.n.op in ACTIVATION_OPS)) continue;
      const cNew = dataInputs(act.n)[0];
      for (const hp of h)
        for (const cp of c) {
          const cell = lstmCell(nodes, weights, ref, cNew, x, hp, cp);
          if (cell) return { cell, h: ref, c: cNew };
        }
    }
    for (const hp of h) {
      const cell = gruCell(nodes, weights, ref, x, hp) ?? simpleCell(nodes, weights, ref, x, hp);
      if (cell) return { cell, h: ref };
    }
  }
  return undefined;
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Rewrites each unrolled recurrent layer into a `_Recurrent` node; returns how many. A layer may
 * read the one before it returning every step: grappler then drops the transposes between them
 * (the second unstacks the first's Pack), so that layer is matched first.
 */
export function matchUnrolledRecurrences(nodes: Map<string, GraphNode>, weights: Weights): number {
  const stacks = new Map<string, string>(); // an unrolled layer's Pack of every h -> its _Recurrent node
  const done = new Set<string>();
  for (let progress = true; progress; ) {
    progress = false;
    for (const u of [...nodes.values()]) {
      if (u.op !== 'Unpack' || done.has(u.name) || intOf(u.attr.axis?.i) !== 0) continue;
      const x = inputOf(nodes, weights, dataInputs(u)[0], stacks);
      if (x === undefined || !matchUnrolled(nodes, weights, u, x, stacks)) continue;
      done.add(u.name);
      progress = true;
    }
  }
  return done.size;
}

/** The batch-major input an Unpack's time-major steps come from: x of Transpose(x, [1, 0, 2]), or an unrolled layer's every step. */
function inputOf(nodes: Map<string, GraphNode>, weights: Weights, ref: string, stacks: Map<string, string>): string | undefined {
  const pack = is(nodes, ref, 'Pack');
  if (pack) return stacks.get(pack.name);
  const t = is(nodes, ref, 'Transpose');
  const perm = t && constValue(nodes, weights, dataInputs(t)[1])?.data;
  return t && perm && [...perm].join() === '1,0,2' ? dataInputs(t)[0] : undefined;
}

/** Matches one unrolled layer at its Unpack `u` of x0's steps; false, changing nothing, unless every step is the same cell. */
function matchUnrolled(nodes: Map<string, GraphNode>, weights: Weights, u: GraphNode, x0: string, stacks: Map<string, string>): boolean {
  const steps = intOf(u.attr.num?.i);
  if (steps < 1) return false;
  const readers = readersOf(nodes);
  const zeros = [...nodes.keys()].filter((n) => isZeros(nodes, weights, `${n}:0`)).map((n) => `${n}:0`);
  const candidates = ahead(readers, u.name);
  /** The steps in their order (go_backwards: the last of the sequence first), while each is the same cell. */
  const chainOf = (backwards: boolean) => {
    const chain: NonNullable<ReturnType<typeof stepOf>>[] = [];
    for (let s = 0; s < steps; s++) {
      const t = backwards ? steps - 1 - s : s;
      const x = t === 0 ? `${u.name}:0` : `${u.name}:${t}`;
      const prev = chain[s - 1];
      const step = stepOf(nodes, weights, candidates, x, prev ? [prev.h] : zeros, prev ? (prev.c ? [prev.c] : []) : zeros);
      // Every step the same cell, its weights the same.
      const first = chain[0]?.cell;
      if (!step || (first && (step.cell.kind !== first.kind || step.cell.activation !== first.activation || !same(step.cell.kernel, first.kernel) || !same(step.cell.recurrent, first.recurrent) || !same(step.cell.bias, first.bias)))) return undefined;
      chain.push(step);
    }
    return chain;
  };
  const forward = chainOf(false);
  // (One step is the same either way: forward.)
  const backwards = !forward && steps > 1;
  const chain = forward ?? (backwards ? chainOf(true) : undefined);
  if (!chain) return false;
  // Its outputs: every h packed (axis 0) and transposed back, or the last h.
  const hs = chain.map((s) => key(nodes, s.h));
  const pack = [...nodes.values()].find((n) => n.op === 'Pack' && intOf(n.attr.axis?.i) === 0 && dataInputs(n).length === steps && dataInputs(n).every((r, i) => key(nodes, r) === hs[i]));
  const back = pack && (readers.get(pack.name) ?? []).map((r) => nodes.get(r)!).find((r) => r.op === 'Transpose' && [...(constValue(nodes, weights, dataInputs(r)[1])?.data ?? [])].join() === '1,0,2');
  const { node } = addRecurrent(nodes, weights, u.name, x0, chain[0].cell, { steps, sequences: !!pack, backwards, zeros: false });
  if (pack) stacks.set(pack.name, node);
  // What read the layer's output reads the node: the transpose back of every step (a layer
  // unstacking the Pack itself reads the node through `stacks`), else the last h.
  const end = pack ? back?.name : chain[steps - 1].h.replace(/:\d+$/, '');
  if (end) nodes.set(end, { name: end, op: 'Identity', input: [node], attr: {} });
  return true;
}

/**
 * Refuses an Unpack an output depends on, left by matchUnrolledRecurrences: steps written out that
 * are not one Keras layer. Named here, before its input's transpose (read first, and refused for
 * moving the batch axis) would hide what it is.
 */
export function refuseUnmatchedUnrolled(nodes: Map<string, GraphNode>, outputs: string[]): void {
  const seen = new Set<string>();
  const stack = outputs.map((r) => r.replace(/:\d+$/, ''));
  while (stack.length) {
    const n = nodes.get(stack.pop()!);
    if (!n || seen.has(n.name)) continue;
    seen.add(n.name);
    if (n.op === 'Unpack') fail(n, 'this op unstacks the steps of a sequence, as a recurrent layer with unroll=True does; only Keras\'s LSTM, GRU (reset_after) and SimpleRNN translate so, every step the same cell from zeros (graph_model_unrolled.ts): this one differs');
    for (const r of dataInputs(n)) stack.push(r.replace(/:\d+$/, ''));
  }
}
