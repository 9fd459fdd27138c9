// Keras's EinsumDense equations as one matrix product: x's axes the kernel does not have kept
// (the batch first), the axes both have contracted, the kernel's own axes new. x is laid out as
// [kept, contracted], the kernel as [contracted, new], their product as [kept, new], then put in
// the output's order: transposes and reshapes (local), one product. Shared by the private layer
// (layers_einsum_dense.ts) and its float64 twin. Equations that sum an axis of one operand alone,
// or keep an axis of both (a per-head weight), are refused, naming the letter.
import { type LayerConfig, refuse } from './layers_graph';

export interface EinsumPlan {
  /** x transposed by xPerm, reshaped to [rows, inner]. */
  xPerm: number[];
  rows: number;
  inner: number;
  /** The kernel transposed by kPerm, reshaped to [inner, cols]. */
  kPerm: number[];
  cols: number;
  /** The product [rows, cols] reshaped to `grouped` ([kept..., new...] in the output's order), transposed by outPerm. */
  grouped: number[];
  outPerm: number[];
  out: number[];
  /** The bias's shape as Keras makes it (from the output's first bias axis to its last), and as added (1s before). */
  biasShape: number[];
  biasBroadcast: number[];
}

/** Whether a permutation leaves every axis where it is (the transpose can be skipped). */
export const isIdentityPerm = (p: number[]) => p.every((v, i) => v === i);

/** The equation's three specs, '...' (leading, in x and the output) spelt as letters of its own for x's rank. */
export function einsumSpecs(l: LayerConfig, rank: number): { x: string; k: string; o: string } {
  const eq = String(l.config.equation ?? '').replace(/\s+/g, '');
  const m = /^((?:\.\.\.)?[a-zA-Z]*),([a-zA-Z]+)->((?:\.\.\.)?[a-zA-Z]*)$/.exec(eq);
  if (!m) refuse(l, `equation = ${JSON.stringify(l.config.equation)} is not supported: x,kernel->output with letters, '...' only leading x and the output`);
  let [, x, k, o] = m;
  if (x.startsWith('...') !== o.startsWith('...')) refuse(l, `equation = ${JSON.stringify(eq)}: '...' must lead both x and the output`);
  if (x.startsWith('...')) {
    const free = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').filter((c) => !eq.includes(c));
    const n = rank - (x.length - 3);
    if (n < 1) refuse(l, `equation = ${JSON.stringify(eq)} needs an input of rank above ${x.length - 3}, got ${rank}`);
    const dots = free.slice(0, n).join('');
    x = dots + x.slice(3);
    o = dots + o.slice(3);
  }
  for (const [what, s] of [['x', x], ['kernel', k], ['output', o]])
    if (new Set(s).size !== s.length) refuse(l, `equation = ${JSON.stringify(eq)}: the ${what} repeats a letter (a diagonal), which is not supported`);
  return { x, k, o };
}

/** The plan for x of `xShape` (batch first) and the kernel of `kShape`; refuses what it cannot run. */
export function einsumPlan(l: LayerConfig, xShape: readonly number[], kShape: readonly number[]): EinsumPlan {
  const { x, k, o } = einsumSpecs(l, xShape.length);
  const eq = String(l.config.equation);
  if (x.length !== xShape.length) refuse(l, `equation ${JSON.stringify(eq)} takes an input of rank ${x.length}, got [${xShape}]`);
  if (k.length !== kShape.length) refuse(l, `equation ${JSON.stringify(eq)} takes a kernel of rank ${k.length}, its weight kernel has shape [${kShape}]`);
  const size = new Map<string, number>();
  [...x].forEach((c, i) => size.set(c, xShape[i]));
  [...k].forEach((c, i) => {
    if (size.has(c) && size.get(c) !== kShape[i]) refuse(l, `equation ${JSON.stringify(eq)}: axis '${c}' is ${size.get(c)} in the input and ${kShape[i]} in the kernel`);
    size.set(c, kShape[i]);
  });
  for (const c of o) if (!size.has(c)) refuse(l, `equation ${JSON.stringify(eq)}: the output's axis '${c}' is in neither operand`);
  const both = [...x].filter((c) => k.includes(c));
  const shared = both.find((c) => o.includes(c));
  if (shared) refuse(l, `equation ${JSON.stringify(eq)}: axis '${c2s(shared)}' is in the input, the kernel and the output (a weight per position of it), which is not supported`);
  const summed = [...x, ...k].find((c) => !o.includes(c) && !both.includes(c));
  if (summed) refuse(l, `equation ${JSON.stringify(eq)}: axis '${c2s(summed)}' of one operand is summed alone, which is not supported`);
  if (o[0] !== x[0]) refuse(l, `equation ${JSON.stringify(eq)}: the output's first axis must be the input's (the batch)`);
  const kept = [...o].filter((c) => x.includes(c)), fresh = [...o].filter((c) => k.includes(c)), contracted = [...k].filter((c) => both.includes(c));
  const prod = (cs: string[]) => cs.reduce((a, c) => a * size.get(c)!, 1);
  const grouped = [...kept, ...fresh];
  const out = [...o].map((c) => size.get(c)!);
  // The bias: Keras's shape runs from the output's first bias axis to its last axis, 1 where an axis is not a bias axis.
  const axes = String(l.config.bias_axes ?? '');
  const stray = [...axes].find((c) => !o.includes(c));
  if (stray) refuse(l, `bias_axes = ${JSON.stringify(axes)}: '${stray}' is not an axis of the output ${JSON.stringify(o)}`);
  const first = axes ? Math.min(...[...axes].map((c) => o.indexOf(c))) : o.length;
  const biasShape = [...o].slice(first).map((c) => (axes.includes(c) ? size.get(c)! : 1));
  return {
    xPerm: [...kept, ...contracted].map((c) => x.indexOf(c)),
    rows: prod(kept),
    inner: prod(contracted),
    kPerm: [...contracted, ...fresh].map((c) => k.indexOf(c)),
    cols: prod(fresh),
    grouped: grouped.map((c) => size.get(c)!),
    outPerm: [...o].map((c) => grouped.indexOf(c)),
    out,
    biasShape,
    biasBroadcast: [...Array(first).fill(1), ...biasShape],
  };
}

/** Letters made for '...' are upper case: named as the ellipsis. */
const c2s = (c: string) => (/[A-Z]/.test(c) ? '...' : c);

