// Least-squares polynomial fits of ReLU to the values a layer actually sees.
import { fitPolynomial } from '../../lib/math/poly_fit';

/** Least-squares polynomial of `degree` through (x, relu(x)). */
export function fitRelu(xs: Float64Array, degree: number): number[] {
  return fitPolynomial(xs, xs.map((x) => Math.max(x, 0)), degree);
}
