// Least-squares polynomial fits of ReLU to the values a layer actually sees.

/** Least-squares polynomial of `degree` through (x, relu(x)): normal equations, solved exactly. */
export function fitRelu(xs: Float64Array, degree: number): number[] {
  const scale = xs.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-9); // conditioning: fit on x / scale
  const k = degree + 1;
  const A = Array.from({ length: k }, () => new Float64Array(k));
  const b = new Float64Array(k);
  for (const x0 of xs) {
    const x = x0 / scale, y = Math.max(x, 0);
    const pw = [1];
    for (let i = 1; i < 2 * k; i++) pw.push(pw[i - 1] * x);
    for (let i = 0; i < k; i++) {
      b[i] += pw[i] * y;
      for (let j = 0; j < k; j++) A[i][j] += pw[i + j];
    }
  }
  // Gaussian elimination with partial pivoting on the k x k system.
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
  // p(x) = sum u_i (x / scale)^i, scaled back (relu is homogeneous, so y needs no rescaling but x does).
  return [...u].map((c, i) => (c * scale) / scale ** i);
}

