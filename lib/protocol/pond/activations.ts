// Polynomial approximations for Pond, which has no comparisons. Least-squares fits on a grid of
// 20001 points over the stated interval (max and mean absolute error over that interval):
//   relu(x)    ~ a*0.0937547 + 0.5 x + (0.4687266 / a) x^2    on [-a, a]   max 0.0938a, mean 0.0307a
//   sigmoid(x) ~ 0.5 + 0.18060175 x - 0.0030917663 x^3        on [-6, 6]   max 0.0817,  mean 0.0335
//   tanh(x)    ~ 0.72240702 x - 0.04946826 x^3                on [-3, 3]   max 0.163,   mean 0.0671
// relu is positively homogeneous, so its fit on [-1, 1] scales to any interval [-a, a].
// Outside the interval the error grows quadratically (cubically for sigmoid and tanh).

export interface Polynomial {
  /** coeffs[i] multiplies x^i. */
  coeffs: number[];
  interval: [number, number];
  maxError: number;
}

export function reluPolynomial(a = 4): Polynomial {
  if (!(a > 0)) throw new RangeError(`relu interval half-width must be positive, got ${a}`);
  return { coeffs: [0.0937547 * a, 0.5, 0.4687266 / a], interval: [-a, a], maxError: 0.0938 * a };
}

export const SIGMOID_POLY: Polynomial = { coeffs: [0.5, 0.18060175, 0, -0.0030917663], interval: [-6, 6], maxError: 0.0818 };
export const TANH_POLY: Polynomial = { coeffs: [0, 0.72240702, 0, -0.04946826], interval: [-3, 3], maxError: 0.164 };

export function evalPolynomial(p: Polynomial, x: number): number {
  return p.coeffs.reduceRight((acc, c) => acc * x + c, 0);
}
