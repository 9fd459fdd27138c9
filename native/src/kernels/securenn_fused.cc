// Fused SecureNN kernels that also draw their randomness: PrivateCompare's blinding factors s,
// permutation pi and re-randomising zero-sharing z are generated inside the kernel, row block by
// row block, from the same PRG streams (prg/streams.h) as PrgField and PrgPermutation, instead of
// as four [n, 64] tensors (pi as ring64: 512 bytes per comparison) and two more passes (the
// permutation-and-blind kernel, then the add or subtract of z). Same values, bit for bit, as
// PrivateCompareShares followed by Add/Sub of z (test/securenn_fused.test.ts checks it), so a
// server using these and a server using the separate kernels (the CUDA module) still agree.
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/odd_ring_math.h"
#include "prg/aes128.h"
#include "prg/streams.h"

namespace tfe {
namespace {

constexpr int kBits = 64;
constexpr unsigned kP = 67;  // PrivateCompare's field (lib/protocol/securenn/private_compare.ts)
constexpr int64_t kRowBlock = 128;

// kSpread[v]: the 8 bits of byte v as 8 bytes of 0/1, least significant first (memcpy'd in place).
struct SpreadTable {
  uint64_t v[256];
  constexpr SpreadTable() : v() {
    for (int b = 0; b < 256; ++b)
      for (int k = 0; k < 8; ++k) v[b] |= static_cast<uint64_t>((b >> k) & 1) << (8 * k);
  }
  const uint64_t& operator[](uint64_t i) const { return v[i]; }
};
constexpr SpreadTable kSpread;

// out[i] = sum of w[k] for k > i, over 64 uint16 lanes. With SSE2: a log-step scan inside each
// group of eight lanes, plus the running total of the groups above (a scalar loop here would
// reload each lane just stored by the vector code, a store-forwarding stall per element).
inline void suffixSumExclusive64(const uint16_t* w, uint16_t* out) {
#if defined(__SSE2__)
  __m128i carry = _mm_setzero_si128();  // total of the groups above, in every lane
  for (int g = kBits / 8 - 1; g >= 0; --g) {
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(w + 8 * g));
    __m128i s = _mm_add_epi16(v, _mm_srli_si128(v, 2));  // lane k: w[k] + w[k+1]
    s = _mm_add_epi16(s, _mm_srli_si128(s, 4));
    s = _mm_add_epi16(s, _mm_srli_si128(s, 8));  // lane k: sum of lanes k..7 of this group
    _mm_store_si128(reinterpret_cast<__m128i*>(out + 8 * g), _mm_add_epi16(_mm_sub_epi16(s, v), carry));
    carry = _mm_add_epi16(carry, _mm_shufflelo_epi16(_mm_unpacklo_epi16(s, s), 0));  // lane 0 (the group total), broadcast
    carry = _mm_unpacklo_epi64(carry, carry);
  }
#else
  uint16_t acc = 0;
  for (int i = kBits - 1; i >= 0; --i) {
    out[i] = acc;
    acc = static_cast<uint16_t>(acc + w[i]);
  }
#endif
}

struct Stream {
  AesKey key;
  uint8_t iv[16] = {};
  AesImpl impl = AesImpl::Auto;
};

// The PRG stream under `seed` with nonce `nonce` (the same key and counter block as PrgArgs).
Stream streamFor(const std::vector<uint8_t>& seed, uint64_t nonce, AesImpl impl, const std::string& op) {
  if (seed.size() != 16) throw KernelError(op + ": seed must be 16 bytes (128 bits), got " + std::to_string(seed.size()));
  Stream s;
  s.impl = impl;
  aesExpandKey(seed.data(), &s.key, impl);
  for (int b = 0; b < 8; ++b) s.iv[b] = static_cast<uint8_t>(nonce >> (56 - 8 * b));
  return s;
}

void requireZ67(const std::string& op, const Tensor& t, const std::string& what) {
  if (t.dtype != DType::Field || t.modulus != kP) throw KernelError(op + ": " + what + " must be z67, got " + t.dtypeName());
}

// Inputs: x bit shares [n, 64] z67 (bit i at position i, least significant first), r [n] ring64,
// beta [n] bit. Attrs: seed (16 bytes, the pair seed), nonce (s at nonce, u at nonce + 1, pi at
// nonce + 2, z at nonce + 3), party (0 or 1), permute and rerandomise (default true; false only
// in the tests that show what each step hides), impl (AES implementation, default auto).
// Output: [n, 64] z67, out[pi_e(i)] = s_i c_i + z (party 0) or - z (party 1), as
// lib/protocol/securenn/private_compare.ts describes.
Outputs privateCompareMasked(const Inputs& in, const Attrs& at) {
  const std::string op = "PrivateCompareMasked";
  const Tensor &x = in[0], &r = in[1], &beta = in[2];
  requireZ67(op, x, "x");
  if (x.rank() != 2 || x.shape[1] != kBits) throw KernelError(op + ": x must be [n, 64], got " + shapeStr(x.shape));
  const int64_t n = x.shape[0];
  requireDType(op, r, DType::Ring64, "r");
  requireDType(op, beta, DType::Bit, "beta");
  if (r.shape != Shape{n} || beta.shape != Shape{n})
    throw KernelError(op + ": r and beta must be [n] for x " + shapeStr(x.shape) + ", got " + shapeStr(r.shape) + " and " + shapeStr(beta.shape));
  const int64_t party = at.getInt("party");
  if (party != 0 && party != 1) throw KernelError(op + ": party must be 0 or 1, got " + std::to_string(party));
  const uint64_t nonce = at.getRing("nonce");
  if (nonce > ~uint64_t(0) - 3) throw KernelError(op + ": nonce + 3 must stay below 2^64");
  if (static_cast<uint64_t>(n) * kBits >= (uint64_t(1) << 56)) throw KernelError(op + ": too many elements for one PRG stream");
  const bool permute = at.getBool("permute", true), rerandomise = at.getBool("rerandomise", true);
  // The permutation stream has 2^24 rows (PrgPermutation's bound): past it, element i + 2^24
  // would get element i's permutation.
  if (permute && n > (int64_t{1} << 24)) throw KernelError(op + ": at most 2^24 elements may be permuted in one call, got " + std::to_string(n));
  const AesImpl impl = parseAesImpl(at.getString("impl", "auto"));
  const std::vector<uint8_t> seed = at.getBytes("seed");
  const Stream sS = streamFor(seed, nonce, impl, op), sU = streamFor(seed, nonce + 1, impl, op);
  const Stream sPi = streamFor(seed, nonce + 2, impl, op), sZ = streamFor(seed, nonce + 3, impl, op);
  const FieldSampler nonzero(kP, true), uniform(kP, false);

  Tensor out = allocTensor(x.shape, DType::Field, kP);
  const uint8_t *xs = x.ptr<uint8_t>(), *bs = beta.ptr<uint8_t>();
  const uint64_t* rs = r.ptr<uint64_t>();
  uint8_t* d = out.ptr<uint8_t>();
  const unsigned j = static_cast<unsigned>(party);
  parallelFor(0, n, 64, [&, j, rerandomise](int64_t lo, int64_t hi) {
    // j and rerandomise by value: read through the closure, they would block vectorisation.
    std::vector<uint8_t> s(kRowBlock * kBits), z(kRowBlock * kBits, 0), pi(kRowBlock * kBits), u(kBits);
    for (int64_t e0 = lo; e0 < hi; e0 += kRowBlock) {
      const int64_t m = std::min(kRowBlock, hi - e0);
      sampleField(sS.key, sS.iv, impl, nonzero, static_cast<uint64_t>(e0) * kBits, m * kBits, s.data());
      if (rerandomise) sampleField(sZ.key, sZ.iv, impl, uniform, static_cast<uint64_t>(e0) * kBits, m * kBits, z.data());
      if (permute) samplePermutationDraws(sPi.key, sPi.iv, impl, static_cast<uint64_t>(e0), m, kBits, pi.data());
      for (int64_t k = 0; k < m; ++k) {
        const int64_t e = e0 + k;
        const uint8_t* xe = xs + e * kBits;
        const uint8_t* se = s.data() + k * kBits;
        uint8_t* de = d + e * kBits;
        const uint64_t rv = rs[e];
        const bool b = bs[e] != 0;
        alignas(16) uint16_t t[kBits];
        if (b && rv == ~uint64_t(0)) {
          // x > 2^64 - 1 is impossible: server0 u_i + 1 (u_0 at i = 0), server1 -u_i; the sum is 0 only at i = 0.
          sampleField(sU.key, sU.iv, impl, nonzero, static_cast<uint64_t>(e) * kBits, kBits, u.data());
          for (int i = 0; i < kBits; ++i) t[i] = static_cast<uint16_t>((j == 0 ? u[i] + (i > 0 ? 1u : 0u) : kP - u[i]) % kP * se[i] % kP);
        } else {
          const uint64_t cmp = b ? rv + 1 : rv;  // t = r + 1 when beta = 1
          alignas(16) uint8_t bit[kBits];
          for (int q = 0; q < 8; ++q) std::memcpy(bit + 8 * q, &kSpread[(cmp >> (8 * q)) & 0xff], 8);
          // Branch-free and in 16-bit lanes so that the compiler vectorises all but the suffix sum.
          alignas(16) uint16_t w[kBits], core[kBits], sumW[kBits];
          const uint16_t jj = static_cast<uint16_t>(j);
          for (int i = 0; i < kBits; ++i) {
            const uint16_t xi = xe[i], bi = bit[i], jb = static_cast<uint16_t>(jj * bi);
            // w_i = x_i xor bit as shares: x_i + j bit - 2 bit x_i, i.e. j - x_i (bit 1) or x_i (bit 0).
            w[i] = static_cast<uint16_t>(bi ? jj + kP - xi : xi);
            // beta = 0: j r_i - x_i; beta = 1: x_i - j t_i (each plus p to stay non-negative).
            core[i] = static_cast<uint16_t>(b ? xi + kP - jb : jb + kP - xi);
          }
          // sumW[i] = sum of w_k over more significant bits k > i (at most 63 * 133: no reduction).
          suffixSumExclusive64(w, sumW);
          for (int i = 0; i < kBits; ++i) t[i] = static_cast<uint16_t>((core[i] + jj + sumW[i]) % kP * se[i] % kP);
        }
        for (int i = 0; i < kBits; ++i) de[i] = static_cast<uint8_t>(t[i]);
      }
      // d_{pi(i)} = s_i c_i: the Fisher-Yates swaps applied to s c in reverse order move element i
      // to pi(i) (prg/streams.h). Two rows at a time: each row's swaps are a chain through memory.
      if (permute) {
        int64_t k = 0;
        for (; k + 2 <= m; k += 2) {
          uint8_t *da = d + (e0 + k) * kBits, *db = da + kBits;
          const uint8_t *pa = pi.data() + k * kBits, *pb = pa + kBits;
          for (int i = 1; i < kBits; ++i) {
            std::swap(da[i], da[pa[kBits - 1 - i]]);
            std::swap(db[i], db[pb[kBits - 1 - i]]);
          }
        }
        for (; k < m; ++k) {
          uint8_t* da = d + (e0 + k) * kBits;
          const uint8_t* pa = pi.data() + k * kBits;
          for (int i = 1; i < kBits; ++i) std::swap(da[i], da[pa[kBits - 1 - i]]);
        }
      }
      if (rerandomise) {
        // Then + z (server0) or - z (server1) at each output position, in byte lanes: d + z <= 132
        // or d + p - z <= 133, then one conditional subtract.
        const uint8_t sign = j == 0 ? 0 : 0xff, pp = j == 0 ? 0 : kP;
        uint8_t* db = d + e0 * kBits;
        for (int64_t i = 0; i < m * kBits; ++i) {
          const uint8_t v = static_cast<uint8_t>(db[i] + pp + ((z[i] ^ sign) - sign));
          db[i] = v >= kP ? static_cast<uint8_t>(v - kP) : v;
        }
      }
    }
  });
  return {out};
}

// server2's end of PrivateCompare: bit e is 1 where (d0 + d1)[e, i] = 0 mod p for some i.
Outputs privateCompareReveal(const Inputs& in, const Attrs&) {
  const std::string op = "PrivateCompareReveal";
  const Tensor &a = in[0], &b = in[1];
  if (a.dtype != DType::Field || b.dtype != DType::Field || a.modulus != b.modulus)
    throw KernelError(op + ": inputs must be z<p> of one modulus, got " + a.dtypeName() + " and " + b.dtypeName());
  if (a.rank() != 2 || a.shape != b.shape) throw KernelError(op + ": inputs must be [n, L] of one shape, got " + shapeStr(a.shape) + " and " + shapeStr(b.shape));
  Tensor out = allocTensor({a.shape[0]}, DType::Bit);
  const int64_t len = a.shape[1];
  const unsigned p = a.modulus;
  const uint8_t *x = a.ptr<uint8_t>(), *y = b.ptr<uint8_t>();
  uint8_t* z = out.ptr<uint8_t>();
  parallelFor(0, a.shape[0], 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t e = lo; e < hi; ++e) {
      uint8_t any = 0;
      for (int64_t i = 0; i < len; ++i) {
        const unsigned s = x[e * len + i] + y[e * len + i];
        any |= (s == 0) | (s == p);
      }
      z[e] = any;
    }
  });
  return {out};
}

// server2's dealt share of the bits of x: out[e, i] = bit_i(x_e) - PrgField(seed, nonce)[e, i]
// mod p ([n] ring64 -> [n, 64] z<p>), server0's share being PrgField(seed, nonce) itself.
// Replaces BitDecompose, Cast, PrgField and Sub with their three [n, 64] intermediates.
Outputs bitsMinusPrgField(const Inputs& in, const Attrs& at) {
  const std::string op = "BitsMinusPrgField";
  const Tensor& x = in[0];
  requireDType(op, x, DType::Ring64, "x");
  const int64_t p = at.getInt("modulus");
  DType dt;
  uint32_t mod;
  parseDType("z" + std::to_string(p), &dt, &mod);  // a prime in (2, 256)
  const Stream st = streamFor(at.getBytes("seed"), at.getRing("nonce"), parseAesImpl(at.getString("impl", "auto")), op);
  const int64_t n = x.size();
  if (static_cast<uint64_t>(n) * kBits >= (uint64_t(1) << 56)) throw KernelError(op + ": too many elements for one PRG stream");
  Shape shape = x.shape;
  shape.push_back(kBits);
  Tensor out = allocTensor(shape, DType::Field, mod);
  const FieldSampler uniform(mod, false);
  const uint64_t* xs = x.ptr<uint64_t>();
  uint8_t* d = out.ptr<uint8_t>();
  parallelFor(0, n, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t e0 = lo; e0 < hi; e0 += kRowBlock) {
      const int64_t m = std::min(kRowBlock, hi - e0);
      uint8_t* de = d + e0 * kBits;
      sampleField(st.key, st.iv, st.impl, uniform, static_cast<uint64_t>(e0) * kBits, m * kBits, de);
      const uint8_t md = static_cast<uint8_t>(mod);
      for (int64_t k = 0; k < m; ++k) {
        alignas(16) uint8_t bit[kBits];
        for (int q = 0; q < 8; ++q) std::memcpy(bit + 8 * q, &kSpread[(xs[e0 + k] >> (8 * q)) & 0xff], 8);
        uint8_t* row = de + k * kBits;
        for (int i = 0; i < kBits; ++i) {  // bit - s mod p in byte lanes: bit + p - s <= 252, then one conditional subtract
          const uint8_t t = static_cast<uint8_t>(bit[i] + md - row[i]);
          row[i] = t >= md ? static_cast<uint8_t>(t - md) : t;
        }
      }
    }
  });
  return {out};
}

// The carry of a + b over Z_2^64 as ring64 0/1 (same shapes): ShareConvert's wrap bits
// (alpha = wrap(r0, r1), beta_j = wrap(a_j, r_j), delta = wrap(a~0, a~1)).
Outputs wrapBit(const Inputs& in, const Attrs&) {
  const Tensor &a = in[0], &b = in[1];
  requireDType("WrapBit", a, DType::Ring64, "first input");
  requireDType("WrapBit", b, DType::Ring64, "second input");
  if (a.shape != b.shape) throw KernelError("WrapBit: inputs must have one shape, got " + shapeStr(a.shape) + " and " + shapeStr(b.shape));
  Tensor out = allocTensor(a.shape, DType::Ring64);
  const uint64_t *x = a.ptr<uint64_t>(), *y = b.ptr<uint64_t>();
  uint64_t* z = out.ptr<uint64_t>();
  parallelFor(0, a.size(), 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) z[i] = x[i] + y[i] < x[i] ? 1 : 0;
  });
  return {out};
}

void requireRingVector(const std::string& op, const Tensor& t, const std::string& what, const Shape& shape, DType d = DType::Ring64) {
  requireDType(op, t, d, what.c_str());
  if (t.shape != shape) throw KernelError(op + ": " + what + " must have shape " + shapeStr(shape) + ", got " + shapeStr(t.shape));
}

// ShareConvert's last step for one compute server (lib/protocol/securenn/msb.ts), in one pass over
// the odd ring: eta = eta' + eta'' ((1 - j) - 2 eta'), theta = beta + delta + eta - (1 - j)(alpha + 1),
// y = a - theta + u (server0) or - u (server1). Inputs a, eta', eta'' (bit), beta, delta, alpha, u,
// all [n]; attr party.
Outputs shareConvertFinish(const Inputs& in, const Attrs& at) {
  const std::string op = "ShareConvertFinish";
  const Tensor& a = in[0];
  requireDType(op, a, DType::Ring64, "a");
  const Shape& sh = a.shape;
  requireRingVector(op, in[1], "eta'", sh);
  requireRingVector(op, in[2], "eta''", sh, DType::Bit);
  requireRingVector(op, in[3], "beta", sh);
  requireRingVector(op, in[4], "delta", sh);
  requireRingVector(op, in[5], "alpha", sh);
  requireRingVector(op, in[6], "u", sh);
  const int64_t party = at.getInt("party");
  if (party != 0 && party != 1) throw KernelError(op + ": party must be 0 or 1, got " + std::to_string(party));
  const uint64_t *av = a.ptr<uint64_t>(), *ep = in[1].ptr<uint64_t>(), *be = in[3].ptr<uint64_t>(), *de = in[4].ptr<uint64_t>();
  const uint64_t *al = in[5].ptr<uint64_t>(), *uv = in[6].ptr<uint64_t>();
  const uint8_t* epp = in[2].ptr<uint8_t>();
  Tensor out = allocTensor(sh, DType::Ring64);
  uint64_t* y = out.ptr<uint64_t>();
  const bool j0 = party == 0;
  parallelFor(0, a.size(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const uint64_t flip = odd::sub(j0 ? 1 : 0, odd::add(ep[i], ep[i]));
      const uint64_t eta = odd::add(ep[i], epp[i] ? flip : 0);
      uint64_t theta = odd::add(odd::add(be[i], de[i]), eta);
      if (j0) theta = odd::sub(theta, al[i] + 1);
      const uint64_t y0 = odd::sub(av[i], theta);
      y[i] = j0 ? odd::add(y0, uv[i]) : odd::sub(y0, uv[i]);
    }
  });
  return {out};
}

// ComputeMSB's unmasking before the XOR (lib/protocol/securenn/msb.ts), over Z_2^64:
// gamma_j = beta'_j + beta (j - 2 beta'_j) and delta_j = x0_j + r0 (j - 2 x0_j), r0 the LSB of the
// opened r. Inputs beta' share, beta (bit), x0 share, r, all [n]; attr party. Outputs gamma, delta.
Outputs msbUnmask(const Inputs& in, const Attrs& at) {
  const std::string op = "MsbUnmask";
  const Tensor& bp = in[0];
  requireDType(op, bp, DType::Ring64, "beta'");
  const Shape& sh = bp.shape;
  requireRingVector(op, in[1], "beta", sh, DType::Bit);
  requireRingVector(op, in[2], "x0", sh);
  requireRingVector(op, in[3], "r", sh);
  const int64_t party = at.getInt("party");
  if (party != 0 && party != 1) throw KernelError(op + ": party must be 0 or 1, got " + std::to_string(party));
  const uint64_t j = static_cast<uint64_t>(party);
  const uint64_t *b = bp.ptr<uint64_t>(), *x0 = in[2].ptr<uint64_t>(), *r = in[3].ptr<uint64_t>();
  const uint8_t* beta = in[1].ptr<uint8_t>();
  Tensor gamma = allocTensor(sh, DType::Ring64), delta = allocTensor(sh, DType::Ring64);
  uint64_t *g = gamma.ptr<uint64_t>(), *d = delta.ptr<uint64_t>();
  parallelFor(0, bp.size(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      g[i] = b[i] + (beta[i] ? j - 2 * b[i] : 0);
      d[i] = x0[i] + ((r[i] & 1) ? j - 2 * x0[i] : 0);
    }
  });
  return {gamma, delta};
}

TFE_REGISTER_KERNEL("PrivateCompareMasked", 3, privateCompareMasked);
TFE_REGISTER_KERNEL("ShareConvertFinish", 7, shareConvertFinish);
TFE_REGISTER_KERNEL("MsbUnmask", 4, msbUnmask);
TFE_REGISTER_KERNEL("WrapBit", 2, wrapBit);
TFE_REGISTER_KERNEL("PrivateCompareReveal", 2, privateCompareReveal);
TFE_REGISTER_KERNEL("BitsMinusPrgField", 1, bitsMinusPrgField);

}  // namespace
}  // namespace tfe
