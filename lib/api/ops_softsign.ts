// softsign, x / (1 + |x|), under the exact protocols. Its tail approaches 1 as 1/|x| does, far
// too slowly for cubic pieces on a bounded range (ops_smooth.ts): it is computed from a private
// reciprocal instead, the one softmax uses (ops_softmax.ts scaledReciprocal), in sign form so that
// a clamped |x| still gives nearly +-1:
// 1. b = [x >= 0] and relu(x) from one comparison; a = |x| = 2 relu(x) - x.
// 2. S = 1 + min(a, CLAMP): a second comparison (relu(a - CLAMP)), on the library's value.
// 3. 1/S = r s^2 (a batched comparison for the power-of-four scale s, a fitted cubic and two
//    Newton steps: 1.4e-5 relative).
// 4. softsign = (2 b - 1)(1 - r s s): one product with the sign.
// Nothing here is a new protocol step: comparisons and Beaver products on shares.
import { add, sub } from './ops';
import { exactSmooth, mul, relu } from './ops_nonlinear';
import { reluAndBitOp } from './comparison_ops';
import { scaledReciprocal } from './ops_softmax';
import type { AnyTensor, PrivateTensor } from './tensor';

/** |x| is clamped here: beyond it the output is +-(1 - 1/2^16), within 2^-16 of the true value. */
const CLAMP = 2 ** 16 - 1;

/**
 * The largest |private - true| of softsign at `fracBits` fractional bits: the reciprocal's 1.4e-5
 * relative (of a value at most 1), the clamp's 2^-16, and the truncations after the products that
 * reach the output (r s s and the sign's: a unit each, and the Newton steps' last two), six units
 * of 2^-(f+1). The protocol suite checks it on the whole line (measured: 3.2e-5 at f = 16).
 */
export function softsignErrorBound(fracBits: number): number {
  return 1.4e-5 + 2 ** -16 + 6 * 2 ** -(fracBits + 1);
}

/** softsign of a private x (exact protocols); see the header for the steps. */
export function piecewiseSoftsign(x: PrivateTensor): PrivateTensor {
  return x.cluster.internalOps(() => {
    const { bit: b, relu: r } = reluAndBitOp(x);
    // Additions only: a product with the constant 2 would overflow for |x| >= 2^31.
    const a = sub(add(r, r), x);
    const total = add(sub(a, relu(sub(a, CLAMP))), 1);
    const { r: inv, s } = scaledReciprocal(total, CLAMP + 1);
    const oneMinus = add(mul(mul(mul(inv, s), s), -1), 1);
    return mul(add(add(b, b), -1), oneMinus);
  }) as PrivateTensor;
}

/** softsign, x / (1 + |x|), within softsignErrorBound on the whole line (exact protocols, a private x). */
export const softsign = (x: AnyTensor): PrivateTensor => exactSmooth('softsign', x, piecewiseSoftsign);
