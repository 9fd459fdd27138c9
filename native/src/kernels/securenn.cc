// Fused kernels for SecureNN's PrivateCompare (ePrint 2018/442, Algorithm 3). The protocol logic
// stays in TypeScript (lib/protocol/securenn/private_compare.ts); these do its per-element
// arithmetic in one pass instead of ~30 small field kernels.
#include <vector>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {

int64_t checkPrivateCompareShares(const Inputs& in, const Attrs& at, int64_t* party) {
  const Tensor &x = in[0], &r = in[1], &beta = in[2], &s = in[3], &u = in[4], &perm = in[5];
  if (x.dtype != DType::Field || x.rank() != 2 || x.shape[1] != 64)
    throw KernelError("PrivateCompareShares: x must be [n, 64] z<p>, got " + x.dtypeName() + " " + shapeStr(x.shape));
  const int64_t n = x.shape[0];
  requireDType("PrivateCompareShares", r, DType::Ring64, "r");
  requireDType("PrivateCompareShares", beta, DType::Bit, "beta");
  requireDType("PrivateCompareShares", perm, DType::Ring64, "perm");
  for (const Tensor* t : {&s, &u})
    if (t->dtype != DType::Field || t->modulus != x.modulus || t->shape != x.shape) throw KernelError("PrivateCompareShares: s and u must match x");
  if (r.shape != Shape{n} || beta.shape != Shape{n} || perm.shape != x.shape)
    throw KernelError("PrivateCompareShares: r and beta must be [n] and perm [n, 64] for x " + shapeStr(x.shape));
  *party = at.getInt("party");
  if (*party != 0 && *party != 1) throw KernelError("PrivateCompareShares: party must be 0 or 1");
  return n;
}

namespace {

constexpr int kBits = 64;

// Inputs: x bit shares [n,64] z<p> (bit i at position i, least significant first), r [n] ring64,
// beta [n] bit, s and u [n,64] z<p> (nonzero), perm [n,64] ring64. Attr party: 0 or 1.
// Output: d [n,64] z<p>, d[perm[i]] = s_i * c_i with c_i as in the paper.
Outputs privateCompareShares(const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &r = in[1], &beta = in[2], &s = in[3], &u = in[4], &perm = in[5];
  int64_t j;
  const int64_t n = checkPrivateCompareShares(in, at, &j);
  const uint32_t p = x.modulus;
  Tensor out = allocTensor(x.shape, DType::Field, p);
  const uint8_t *xs = x.ptr<uint8_t>(), *bs = beta.ptr<uint8_t>(), *ss = s.ptr<uint8_t>(), *us = u.ptr<uint8_t>();
  const uint64_t *rs = r.ptr<uint64_t>(), *ps = perm.ptr<uint64_t>();
  uint8_t* d = out.ptr<uint8_t>();
  auto mod = [p](int64_t v) { return static_cast<uint32_t>(((v % p) + p) % p); };
  parallelFor(0, n, 256, [&](int64_t lo, int64_t hi) {
    uint32_t c[kBits];
    for (int64_t e = lo; e < hi; ++e) {
      const uint8_t* xe = xs + e * kBits;
      const uint64_t rv = rs[e];
      const bool b = bs[e] != 0, isMax = rv == ~uint64_t(0);
      if (b && isMax) {
        // x > 2^64 - 1 is impossible: server0 u_i + 1 (u_0 at i = 0), server1 -u_i; the sum is 0 only at i = 0.
        for (int i = 0; i < kBits; ++i) c[i] = j == 0 ? mod(int64_t(us[e * kBits + i]) + (i > 0 ? 1 : 0)) : mod(-int64_t(us[e * kBits + i]));
      } else {
        const uint64_t cmp = b ? rv + 1 : rv;  // t = r + 1 when beta = 1
        int64_t sumW = 0;                       // sum of w_k over more significant bits
        for (int i = kBits - 1; i >= 0; --i) {
          const int64_t xi = xe[i], bit = (cmp >> i) & 1;
          const int64_t core = b ? (xi - j * bit) : (j * bit - xi);
          c[i] = mod(core + j + sumW);
          sumW += xi + j * bit - 2 * bit * xi;  // w_i = x_i xor bit, as shares
        }
      }
      // A permutation, checked: a repeated position would leave another unwritten, holding
      // whatever the allocator's memory held, and the output goes to server2.
      uint64_t seen = 0;
      for (int i = 0; i < kBits; ++i) {
        const uint64_t to = ps[e * kBits + i];
        if (to >= kBits || ((seen >> to) & 1)) throw KernelError("PrivateCompareShares: perm is not a permutation of 64 positions");
        seen |= uint64_t{1} << to;
        d[e * kBits + to] = static_cast<uint8_t>((c[i] * ss[e * kBits + i]) % p);
      }
    }
  });
  return {out};
}

// [n, L] -> [n] bit: 1 where a row holds a zero (server2's test in PrivateCompare).
Outputs anyZeroLastAxis(const Inputs& in, const Attrs&) {
  const Tensor& a = in[0];
  if (a.dtype != DType::Field && a.dtype != DType::Bit) throw KernelError("AnyZeroLastAxis: dtype " + a.dtypeName() + " is not supported");
  if (a.rank() < 1) throw KernelError("AnyZeroLastAxis: input must have rank >= 1");
  Shape outShape(a.shape.begin(), a.shape.end() - 1);
  Tensor out = allocTensor(outShape, DType::Bit);
  const int64_t len = a.shape.back(), rows = out.size();
  const uint8_t* x = a.ptr<uint8_t>();
  uint8_t* z = out.ptr<uint8_t>();
  parallelFor(0, rows, 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      uint8_t any = 0;
      for (int64_t i = 0; i < len; ++i) any |= x[r * len + i] == 0;
      z[r] = any;
    }
  });
  return {out};
}

TFE_REGISTER_KERNEL("PrivateCompareShares", 6, privateCompareShares);
TFE_REGISTER_KERNEL("AnyZeroLastAxis", 1, anyZeroLastAxis);

}  // namespace
}  // namespace tfe
