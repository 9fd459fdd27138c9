// Least-squares polynomial fits in float64, used where public polynomial coefficients are chosen
// offline (the piecewise sigmoid, the calibrated ReLU polynomials of the Pond model variants).

/**
 * Coefficients c of the degree-`degree` polynomial minimising sum (p(x_i) - y_i)^2, p(x) =
 * sum c_k x^k: the normal equations on x / scale (for conditioning), solved by Gaussian
 * elimination with partial pivoting, and scaled back. With `c0`, the constant term is that value
 * exactly (p(0) = c0) and the others are fitted to y - c0.
 */
export function fitPolynomial(xs: ArrayLike<number>, ys: ArrayLike<number>, degree: number, c0?: number): number[] {
  if (xs.length !== ys.length || xs.length <= degree) throw new RangeError(`fitPolynomial: needs more than ${degree} points and as many ys as xs`);
  if (c0 !== undefined) {
    // The other coefficients: least squares of y - c0 on x^1..x^degree.
    const rest = fitPowers(xs, Array.from(ys, (y) => y - c0), 1, degree);
    return [c0, ...rest];
  }
  return fitPowers(xs, ys, 0, degree);
}

/** Least squares of ys on x^lo..x^hi; the coefficients from x^lo. */
function fitPowers(xs: ArrayLike<number>, ys: ArrayLike<number>, lo: number, degree: number): number[] {
  let scale = 1e-9;
  for (let i = 0; i < xs.length; i++) scale = Math.max(scale, Math.abs(xs[i]));
  const k = degree + 1 - lo;
  const A = Array.from({ length: k }, () => new Float64Array(k));
  const b = new Float64Array(k);
  for (let n = 0; n < xs.length; n++) {
    const x = xs[n] / scale;
    const pw = [1];
    for (let i = 1; i < 2 * (degree + 1); i++) pw.push(pw[i - 1] * x);
    for (let i = 0; i < k; i++) {
      b[i] += pw[i + lo] * ys[n];
      for (let j = 0; j < k; j++) A[i][j] += pw[i + j + 2 * lo];
    }
  }
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [b[c], b[p]] = [b[p], b[c]];
    for (let r = c + 1; r < k; r++) {
      const f = A[r][c] / A[c][c];
      for (let j = c; j < k; j++) A[r][j] -= f * A[c][j];
      b[r] -= f * b[c];
    }
  }
  const u = new Float64Array(k);
  for (let r = k - 1; r >= 0; r--) {
    let s = b[r];
    for (let j = r + 1; j < k; j++) s -= A[r][j] * u[j];
    u[r] = s / A[r][r];
  }
  // p(x) = sum u_i (x / scale)^(i + lo).
  return [...u].map((c, i) => c / scale ** (i + lo));
}
