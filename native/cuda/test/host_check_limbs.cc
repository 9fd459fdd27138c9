// Host checks of ring_limbs.h: the limb split / fold arithmetic of the fp64 and int8 ring GEMM
// candidates (matmul_fp64.cu, matmul_int8.cu), run on the CPU the way the GPU runs it, and compared
// with the CPU MatMul kernel. The emulations follow the kernels' structure:
//  - fp64: products of 16-bit limbs as doubles, one double per diagonal, summed over K-chunks of
//    kFp64ChunkK and folded into uint64 between chunks (a launch per chunk that adds into C);
//  - int8: limbs taken from packed plane words (packLimb8, as the split kernels write them),
//    products accumulated in wrapping 32-bit registers (the tensor cores' int32, no saturation),
//    chunked by kInt8ChunkK and folded into uint64.
// Besides random matrices, a long dot product of worst-case values (all limbs 0xFF..) checks the
// chunk bounds, and the same emulation without chunking must fail there: proof that the check
// can see an overflow.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/registry.h"
#include "cuda/ring_limbs.h"
#include "cuda/test/host_check.h"

namespace {

using namespace tfe;
using namespace tfe::cuda;

using hostcheck::rng;

// Random ring elements with the edge values the harness also plants.
uint64_t randomRing() {
  static const uint64_t edges[] = {0, 1, (uint64_t(1) << 63) - 1, uint64_t(1) << 63, ~uint64_t(0), 0xFFFF, 0xFF00FF00FF00FF00ull};
  uint64_t r = rng()();
  return r % 8 == 0 ? edges[(r >> 8) % 7] : rng()();
}

// A dot product of length k: x[i] is a(i), y[i] is b(i). Both emulations take the operands as
// functions so that a 2^21-long worst case needs no memory.
template <typename FA, typename FB>
uint64_t dotFp64(int64_t k, FA a, FB b, int64_t chunk) {
  uint64_t total = 0;
  for (int64_t k0 = 0; k0 < k; k0 += chunk) {
    double acc[kFp64Limbs] = {0, 0, 0, 0};
    int64_t k1 = k - k0 < chunk ? k : k0 + chunk;
    for (int64_t i = k0; i < k1; ++i) {
      double al[kFp64Limbs], bl[kFp64Limbs];
      fp64Split(a(i), al);
      fp64Split(b(i), bl);
      for (int p = 0; p < kFp64Limbs; ++p)
        for (int q = 0; q < kFp64Limbs - p; ++q) acc[p + q] += al[p] * bl[q];
    }
    total += fp64Fold(acc);  // the next launch adds onto C
  }
  return total;
}

// The int8 operands are read back from packed plane words: element i's limb l is byte i % 4 of
// packLimb8 over the quad that holds i (zero beyond k, like the padded planes).
template <typename F>
uint32_t planeLimb(F x, int64_t k, int64_t i, int l) {
  int64_t q = i / 4 * 4;
  uint64_t v[4];
  for (int e = 0; e < 4; ++e) v[e] = q + e < k ? x(q + e) : 0;
  return (packLimb8(v[0], v[1], v[2], v[3], l) >> (8 * (i % 4))) & 0xFF;
}

template <typename FA, typename FB>
uint64_t dotInt8(int64_t k, FA a, FB b, int64_t chunk) {
  uint64_t total = 0;
  for (int64_t k0 = 0; k0 < k; k0 += chunk) {
    uint32_t acc[kInt8Limbs] = {};
    int64_t k1 = k - k0 < chunk ? k : k0 + chunk;
    for (int64_t i = k0; i < k1; ++i) {
      uint32_t al[kInt8Limbs], bl[kInt8Limbs];
      for (int l = 0; l < kInt8Limbs; ++l) {
        al[l] = planeLimb(a, k, i, l);
        bl[l] = planeLimb(b, k, i, l);
      }
      for (int p = 0; p < kInt8Limbs; ++p)
        for (int q = 0; q < kInt8Limbs - p; ++q) acc[p + q] += al[p] * bl[q];  // int32 wrap-around
    }
    total += int8Fold(acc);
  }
  return total;
}

Tensor randomMatrix(int64_t r, int64_t c) {
  Tensor t = allocTensor({r, c}, DType::Ring64);
  for (int64_t i = 0; i < r * c; ++i) t.ptr<uint64_t>()[i] = randomRing();
  return t;
}

// Every element of A B through `dot`, against the CPU MatMul kernel.
template <typename Dot>
bool matchesCpuMatMul(const char* what, Dot dot) {
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {8, 200, 5}, {31, 64, 30}};
  for (auto& s : shapes) {
    int64_t m = s[0], k = s[1], n = s[2];
    Tensor a = randomMatrix(m, k), b = randomMatrix(k, n);
    Tensor want = findKernel("MatMul")->fn({a, b}, Attrs())[0];
    const uint64_t *pa = a.ptr<uint64_t>(), *pb = b.ptr<uint64_t>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        uint64_t got = dot(k, [&](int64_t t) { return pa[i * k + t]; }, [&](int64_t t) { return pb[t * n + j]; });
        uint64_t w = want.ptr<uint64_t>()[i * n + j];
        if (got != w) {
          std::printf("  %s: %" PRId64 "x%" PRId64 "x%" PRId64 " element (%" PRId64 ", %" PRId64 ") is %" PRIu64 ", CPU %" PRIu64 "\n",
                      what, m, k, n, i, j, got, w);
          return false;
        }
      }
  }
  return true;
}

const auto kOnes = [](int64_t) { return ~uint64_t(0); };

}  // namespace

TFE_HOST_CHECK(limbs_split_and_pack) {
  for (int trial = 0; trial < 20000; ++trial) {
    uint64_t x[4] = {randomRing(), randomRing(), randomRing(), randomRing()};
    uint64_t back = 0;
    double d[kFp64Limbs];
    fp64Split(x[0], d);
    for (int l = 0; l < kFp64Limbs; ++l) {
      if (d[l] != double(limb16(x[0], l))) return false;
      back |= uint64_t(d[l]) << (16 * l);
    }
    if (back != x[0]) return false;
    for (int l = 0; l < kInt8Limbs; ++l) {
      uint32_t w = packLimb8(x[0], x[1], x[2], x[3], l);
      for (int e = 0; e < 4; ++e)
        if (((w >> (8 * e)) & 0xFF) != limb8(x[e], l)) {
          std::printf("  packLimb8 byte %d of limb %d wrong\n", e, l);
          return false;
        }
    }
  }
  // __byte_perm's documented examples: selector 0x3210 is x, 0x7654 is y, 0x0123 reverses x.
  return bytePerm(0x33221100u, 0x77665544u, 0x3210) == 0x33221100u && bytePerm(0x33221100u, 0x77665544u, 0x7654) == 0x77665544u &&
         bytePerm(0x33221100u, 0x77665544u, 0x0123) == 0x00112233u && bytePerm(0x33221100u, 0x77665544u, 0x5410) == 0x55441100u;
}

TFE_HOST_CHECK(limbs_fp64_matches_cpu_matmul) {
  return matchesCpuMatMul("fp64", [](int64_t k, auto a, auto b) { return dotFp64(k, a, b, kFp64ChunkK); });
}

TFE_HOST_CHECK(limbs_int8_matches_cpu_matmul) {
  return matchesCpuMatMul("int8", [](int64_t k, auto a, auto b) { return dotInt8(k, a, b, kInt8ChunkK); });
}

// Worst case: every limb all ones. (2^64 - 1)^2 = 1 mod 2^64, so the dot product is k.
TFE_HOST_CHECK(limbs_long_worst_case_dot) {
  bool ok = true;
  for (int64_t k : {int64_t(1) << 17, (int64_t(1) << 17) + 3}) {
    uint64_t f = dotFp64(k, kOnes, kOnes, kFp64ChunkK), i8 = dotInt8(k, kOnes, kOnes, kInt8ChunkK);
    if (f != uint64_t(k) || i8 != uint64_t(k)) {
      std::printf("  k = %" PRId64 ": fp64 %" PRIu64 ", int8 %" PRIu64 ", want %" PRId64 "\n", k, f, i8, k);
      ok = false;
    }
  }
  // Longer than one fp64 chunk (2^19), so the fp64 fold between chunks is exercised too.
  int64_t k = (int64_t(1) << 20) + 5;
  uint64_t f = dotFp64(k, kOnes, kOnes, kFp64ChunkK);
  if (f != uint64_t(k)) {
    std::printf("  k = %" PRId64 ": fp64 %" PRIu64 "\n", k, f);
    ok = false;
  }
  // Random values over a long K, several chunks of both, against a plain uint64 dot product.
  std::vector<uint64_t> x(200003), y(x.size());
  for (size_t t = 0; t < x.size(); ++t) {
    x[t] = t % 3 ? randomRing() : ~uint64_t(0);
    y[t] = t % 5 ? randomRing() : ~uint64_t(0);
  }
  uint64_t want = 0;
  for (size_t t = 0; t < x.size(); ++t) want += x[t] * y[t];
  auto ax = [&](int64_t t) { return x[t]; };
  auto by = [&](int64_t t) { return y[t]; };
  int64_t len = static_cast<int64_t>(x.size());
  if (dotFp64(len, ax, by, kFp64ChunkK) != want || dotInt8(len, ax, by, kInt8ChunkK) != want) {
    std::printf("  random k = %" PRId64 " dot product differs\n", len);
    ok = false;
  }
  return ok;
}

// The chunk bounds are needed: without them the same emulations go wrong on the worst case, so
// the checks above would catch a chunk that is too long.
TFE_HOST_CHECK(limbs_unchunked_overflow_is_detected) {
  int64_t kInt = int64_t(1) << 17;  // 4 * 2^17 * 255^2 > 2^32: diagonal 3 wraps
  int64_t kFp = int64_t(1) << 21;   // 4 * 2^21 * (2^16-1)^2 > 2^53: diagonal 3 rounds
  uint64_t i8 = dotInt8(kInt, kOnes, kOnes, kInt);
  uint64_t f = dotFp64(kFp, kOnes, kOnes, kFp);
  bool ok = i8 != uint64_t(kInt) && f != uint64_t(kFp);
  if (!ok) std::printf("  unchunked sums stayed exact (int8 %" PRIu64 ", fp64 %" PRIu64 "): the negative control is broken\n", i8, f);
  return ok;
}
