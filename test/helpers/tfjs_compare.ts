// A private model's output rows against tfjs's model.predict, the same way in every model test:
// the client's final softmax or sigmoid applied to the logits, every value within `tol`, and the
// same argmax wherever tfjs's top two differ by more than the fixed-point error.
import type { ExecutionContext } from 'ava';
import { type Final, finalRow } from './final_rows';


export function expectRowsMatch(t: ExecutionContext, out: Float64Array, want: number[][], finalActivation: Final, tol = 1e-2): void {
  const batch = want.length, width = out.length / batch;
  for (let r = 0; r < batch; r++) {
    const got = finalRow(Array.from(out.subarray(r * width, (r + 1) * width)), finalActivation);
    const err = Math.max(...got.map((g, i) => Math.abs(g - want[r][i])));
    t.true(err < tol, `row ${r}: max |private - tfjs| = ${err} (got ${got.map((v) => v.toFixed(4))}, tfjs ${want[r].map((v) => v.toFixed(4))})`);
    const am = (v: number[]) => v.indexOf(Math.max(...v));
    const sorted = [...want[r]].sort((a, b) => b - a);
    if (sorted[0] - sorted[1] > 2e-2) t.is(am(got), am(want[r]), `row ${r}: argmax`);
  }
}
