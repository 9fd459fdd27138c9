// Harness cases for securenn.cu (odd ring, PrivateCompareShares, AnyZeroLastAxis,
// PrefixSumReverseExclusive) and fixed_point.cu (EncodeFixedPoint, DecodeFixedPoint).
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "binding/backend.h"
#include "core/registry.h"
#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

Tensor hostRing(const std::vector<uint64_t>& v) {
  Tensor t = allocTensor({static_cast<int64_t>(v.size())}, DType::Ring64);
  for (size_t i = 0; i < v.size(); ++i) t.ptr<uint64_t>()[i] = v[i];
  return t;
}

Tensor hostF64(const std::vector<double>& v) {
  Tensor t = allocTensor({static_cast<int64_t>(v.size())}, DType::F64);
  for (size_t i = 0; i < v.size(); ++i) t.ptr<double>()[i] = v[i];
  return t;
}

// Per-row permutations of [0, 64) (test input only).
Tensor hostPerm64(int64_t n) {
  Tensor t = allocTensor({n, 64}, DType::Ring64);
  for (int64_t r = 0; r < n; ++r) {
    uint64_t* row = t.ptr<uint64_t>() + r * 64;
    for (int i = 0; i < 64; ++i) row[i] = static_cast<uint64_t>(i);
    for (int i = 63; i > 0; --i) std::swap(row[i], row[nextRandom() % static_cast<uint64_t>(i + 1)]);
  }
  return t;
}

}  // namespace

TFE_CUDA_CASE(odd_ring_add_sub) {
  // Same shape, scalar, row/column broadcasting, 8 coalesced dimensions (the device maximum), empty.
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{1000}, {1000}}, {{17}, {}}, {{}, {5, 3}}, {{7, 13}, {7, 1}}, {{3, 1, 5}, {4, 1}}, {{2, 3, 4, 5}, {3, 1, 5}},
      {{2, 1, 2, 1, 2, 1, 2, 1}, {1, 2, 1, 2, 1, 2, 1, 2}}, {{0, 4}, {4}}, {{100003}, {100003}}};
  // Every pair of the values around the odd modulus, both ways.
  const std::vector<uint64_t> edges = {0, 1, 2, ~uint64_t(0), ~uint64_t(0) - 1, ~uint64_t(0) - 2, uint64_t(1) << 63,
                                       (uint64_t(1) << 63) - 1, (uint64_t(1) << 63) + 1};
  std::vector<uint64_t> ea, eb;
  for (uint64_t x : edges)
    for (uint64_t y : edges) ea.push_back(x), eb.push_back(y);
  for (const char* k : {"OddRingAdd", "OddRingSub"}) {
    for (auto& p : pairs)
      if (!compareKernel(k, {randomHost(p.first, DType::Ring64), randomHost(p.second, DType::Ring64)})) return false;
    if (!compareKernel(k, {hostRing(ea), hostRing(eb)})) return false;
  }
  return true;
}

TFE_CUDA_CASE(odd_ring_refuses) {
  Tensor a = randomHost({4, 3}, DType::Ring64);
  return sameError("OddRingAdd", {a, randomHost({4, 2}, DType::Ring64)}, Attrs()) &&
         sameError("OddRingSub", {a, randomHost({4, 3}, DType::Bit)}, Attrs()) &&
         sameError("OddRingAdd", {randomHost({3}, DType::Field, 67), a}, Attrs());
}

namespace {
std::vector<Tensor> pcInputs(int64_t n, uint32_t p, bool withMax) {
  Tensor r = randomHost({n}, DType::Ring64), beta = randomHost({n}, DType::Bit);
  if (withMax)  // the r = 2^64 - 1, beta = 1 branch, and its neighbours
    for (int64_t e = 0; e < n; e += 3) {
      r.ptr<uint64_t>()[e] = ~uint64_t(0) - (e % 2);
      beta.ptr<uint8_t>()[e] = 1;
    }
  return {randomHost({n, 64}, DType::Field, p), r, beta, randomHost({n, 64}, DType::Field, p),
          randomHost({n, 64}, DType::Field, p), hostPerm64(n)};
}
}  // namespace

TFE_CUDA_CASE(private_compare_shares) {
  for (uint32_t p : {67u, 131u, 251u})
    for (int64_t party : {0, 1})
      for (int64_t n : {0, 1, 5, 33, 1000, 20001})
        for (bool withMax : {false, true})
          if (!compareKernel("PrivateCompareShares", pcInputs(n, p, withMax), attrsWith("party", party))) {
            std::printf("  (p %u, party %lld, n %lld)\n", p, (long long)party, (long long)n);
            return false;
          }
  return true;
}

TFE_CUDA_CASE(private_compare_shares_refuses) {
  bool ok = true;
  std::vector<Tensor> in = pcInputs(6, 67, false);
  ok &= sameError("PrivateCompareShares", in, attrsWith("party", int64_t(2)));
  ok &= sameError("PrivateCompareShares", in, Attrs());  // no party
  std::vector<Tensor> bad = in;
  bad[0] = randomHost({6, 63}, DType::Field, 67);
  ok &= sameError("PrivateCompareShares", bad, attrsWith("party", int64_t(0)));
  bad = in;
  bad[3] = randomHost({6, 64}, DType::Field, 131);
  ok &= sameError("PrivateCompareShares", bad, attrsWith("party", int64_t(0)));
  bad = in;
  bad[1] = randomHost({5}, DType::Ring64);
  ok &= sameError("PrivateCompareShares", bad, attrsWith("party", int64_t(1)));
  bad = in;
  bad[2] = randomHost({6}, DType::Ring64);
  ok &= sameError("PrivateCompareShares", bad, attrsWith("party", int64_t(1)));
  // Data-dependent: a perm entry out of range, reported back from the device.
  bad = in;
  bad[5] = hostPerm64(6);
  bad[5].ptr<uint64_t>()[4 * 64 + 10] = 64;
  ok &= sameError("PrivateCompareShares", bad, attrsWith("party", int64_t(0)));
  // A repeated position (in range): it would leave another output byte unwritten, and the output
  // goes to server2.
  bad = in;
  bad[5] = hostPerm64(6);
  bad[5].ptr<uint64_t>()[4 * 64 + 1] = bad[5].ptr<uint64_t>()[4 * 64 + 0];
  ok &= sameError("PrivateCompareShares", bad, attrsWith("party", int64_t(0)));
  return ok;
}

TFE_CUDA_CASE(any_zero_last_axis) {
  const Shape shapes[] = {{5}, {0, 64}, {7, 0}, {1000, 64}, {2, 3, 17}, {100001, 3}};
  for (const Shape& s : shapes) {
    if (!compareKernel("AnyZeroLastAxis", {randomHost(s, DType::Bit)})) return false;
    for (uint32_t p : {3u, 251u})
      if (!compareKernel("AnyZeroLastAxis", {randomHost(s, DType::Field, p)})) return false;
  }
  return true;
}

TFE_CUDA_CASE(prefix_sum_reverse_exclusive) {
  const Shape shapes[] = {{0}, {1}, {64}, {1000, 64}, {3, 0}, {0, 5}, {5, 33}, {2, 3, 1000}};
  for (const Shape& s : shapes) {
    if (!compareKernel("PrefixSumReverseExclusive", {randomHost(s, DType::Ring64)})) return false;
    for (uint32_t p : {3u, 67u, 251u})
      if (!compareKernel("PrefixSumReverseExclusive", {randomHost(s, DType::Field, p)})) return false;
  }
  return true;
}

TFE_CUDA_CASE(row_kernels_refuse) {
  return sameError("AnyZeroLastAxis", {randomHost({4, 4}, DType::Ring64)}, Attrs()) &&
         sameError("AnyZeroLastAxis", {randomHost({}, DType::Bit)}, Attrs()) &&
         sameError("PrefixSumReverseExclusive", {randomHost({4, 4}, DType::Bit)}, Attrs()) &&
         sameError("PrefixSumReverseExclusive", {randomHost({}, DType::Ring64)}, Attrs());
}

// ---- Fixed point ----------------------------------------------------------------------------

TFE_CUDA_CASE(encode_decode_fixed_point) {
  for (int64_t f : {0, 1, 16, 40, 53, 62}) {
    const double range = std::ldexp(1.0, 63 - static_cast<int>(f));  // values must lie in [-range, range)
    // Random values in range, exact ties at every scale (round half to even), tiny and signed zeros.
    Tensor x = randomHost({4099}, DType::F64);
    double* v = x.ptr<double>();
    for (int64_t i = 0; i < 4099; ++i) v[i] = v[i] / 1000.0 * range * (i % 7 == 0 ? 0.999 : 1e-3);
    const double ulp = std::ldexp(1.0, -static_cast<int>(f));
    std::vector<double> edge = {0.0, -0.0, 0.5 * ulp, 1.5 * ulp, 2.5 * ulp, -0.5 * ulp, -1.5 * ulp, -2.5 * ulp,
                                std::numeric_limits<double>::denorm_min(), -std::numeric_limits<double>::min(),
                                -range, std::nextafter(range, 0.0), std::nextafter(-range, 0.0)};
    for (size_t i = 0; i < edge.size(); ++i) v[i * 300] = edge[i];
    if (!compareKernel("EncodeFixedPoint", {x}, attrsWith("fracBits", f))) return false;
    if (!compareKernel("DecodeFixedPoint", {randomHost({4099}, DType::Ring64)}, attrsWith("fracBits", f))) return false;
  }
  return compareKernel("EncodeFixedPoint", {randomHost({0, 3}, DType::F64)}) &&
         compareKernel("DecodeFixedPoint", {randomHost({2, 0}, DType::Ring64)}) &&
         compareKernel("EncodeFixedPoint", {randomHost({1000001}, DType::F64)}) &&
         compareKernel("DecodeFixedPoint", {randomHost({1000001}, DType::Ring64)});
}

TFE_CUDA_CASE(encode_fixed_point_refuses) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  bool ok = true;
  // The first offender is reported, wherever it lies among several.
  std::vector<double> base(5000, 1.25);
  for (double bad : {nan, inf, -inf, std::ldexp(1.0, 47), -std::ldexp(1.0, 47) - 1024.0, 1e300}) {
    std::vector<double> v = base;
    v[4321] = 3e299;
    v[777] = bad;
    ok &= sameError("EncodeFixedPoint", {hostF64(v)}, attrsWith("fracBits", int64_t(16)));
  }
  ok &= sameError("EncodeFixedPoint", {hostF64({0.1, 2.0})}, attrsWith("fracBits", int64_t(62)));
  ok &= sameError("EncodeFixedPoint", {hostF64({0.1})}, attrsWith("fracBits", int64_t(63)));
  ok &= sameError("EncodeFixedPoint", {randomHost({3}, DType::Ring64)}, Attrs());
  ok &= sameError("DecodeFixedPoint", {randomHost({3}, DType::F64)}, Attrs());
  ok &= sameError("DecodeFixedPoint", {randomHost({3}, DType::Ring64)}, attrsWith("fracBits", int64_t(-1)));
  ok &= expectBothThrow("EncodeFixedPoint", {hostF64({nan})});
  return ok;
}

}  // namespace cudatest
}  // namespace tfe
