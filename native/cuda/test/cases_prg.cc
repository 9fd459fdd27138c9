// Harness cases for the PRG kernels (prg.cu): every stream must equal the CPU's byte for byte,
// for any seed, nonce, offset and size, and bad attributes must be refused by both.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

constexpr int64_t k2to56 = int64_t(1) << 56;

std::vector<uint8_t> seedBytes(size_t n = 16) {
  std::vector<uint8_t> s(n);
  for (auto& b : s) b = static_cast<uint8_t>(nextRandom());
  return s;
}

Attrs prgAttrs(const Shape& shape, int64_t offset, uint64_t nonce, std::vector<uint8_t> seed = seedBytes()) {
  Attrs a;
  a.set("seed", std::move(seed));
  a.set("shape", std::vector<int64_t>(shape));
  a.set("offset", offset);
  a.set("nonce", nonce);
  return a;
}

// Sizes around the 16-byte AES block and the kernels' 256-block tiles, plus empty and large.
const std::vector<Shape> kShapes = {{0}, {1}, {15}, {16}, {17}, {3, 0, 5}, {7, 13}, {4095}, {4097}, {2, 3, 1001}, {300001}};

// Offsets that start mid-block and mid-byte, near 2^40, and at the very end of the 2^56 range.
std::vector<int64_t> offsetsFor(int64_t n) {
  return {0, 1, 7, 9, 127, 129, static_cast<int64_t>(nextRandom() % 100000), (int64_t(1) << 40) - 3,
          k2to56 - n - static_cast<int64_t>(nextRandom() % 5), k2to56 - n};
}

const uint64_t kNonces[] = {0, 1, ~uint64_t(0)};

bool streamCases(const std::string& kernel) {
  int i = 0;
  for (const Shape& shape : kShapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    for (int64_t off : offsetsFor(n)) {
      uint64_t nonce = ++i % 4 == 3 ? nextRandom() : kNonces[i % 3];
      if (!compareKernel(kernel, {}, prgAttrs(shape, off, nonce))) {
        std::printf("  (shape %s, offset %lld)\n", shapeStr(shape).c_str(), (long long)off);
        return false;
      }
    }
  }
  return true;
}

}  // namespace

TFE_CUDA_CASE(prg_ring) { return streamCases("PrgRing"); }
TFE_CUDA_CASE(prg_bits) { return streamCases("PrgBits"); }

// `impl` picks a CPU implementation only; the device accepts it and its stream is the same.
TFE_CUDA_CASE(prg_ring_impl_attr) {
  Attrs a = prgAttrs({1000}, 5, 42);
  a.set("impl", std::string("portable"));
  return compareKernel("PrgRing", {}, a);
}

TFE_CUDA_CASE(prg_field) {
  const int64_t primes[] = {3, 5, 67, 127, 131, 251};
  const Shape shapes[] = {{0}, {1}, {15}, {17}, {4096 * 3 + 5}, {3, 1000}, {1000003}};
  int i = 0;
  for (int64_t p : primes)
    for (bool nonzero : {false, true})
      for (const Shape& shape : shapes) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        // Mid-block, near 2^40 (retry blocks t * 2^56 + j far from attempt 0's) and at 2^56 - n.
        const int64_t offs[] = {0, 13, (int64_t(1) << 40) - 11, k2to56 - n};
        for (int64_t off : offs) {
          Attrs a = prgAttrs(shape, off, ++i % 2 ? nextRandom() : 0);
          a.set("modulus", p);
          a.set("nonzero", nonzero);
          if (!compareKernel("PrgField", {}, a)) {
            std::printf("  (z%lld%s, shape %s, offset %lld)\n", (long long)p, nonzero ? " nonzero" : "",
                        shapeStr(shape).c_str(), (long long)off);
            return false;
          }
        }
      }
  return true;
}

TFE_CUDA_CASE(prg_permutation) {
  const Shape shapes[] = {{1}, {0, 64}, {5, 1}, {2}, {7, 64}, {3, 4, 100}, {129, 255}, {300, 256}, {20000, 64}};
  for (const Shape& shape : shapes) {
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d) rows *= shape[d];
    const int64_t offs[] = {0, 3, static_cast<int64_t>(nextRandom() % 100000), (int64_t(1) << 24) - rows};
    for (int64_t off : offs)
      if (!compareKernel("PrgPermutation", {}, prgAttrs(shape, off, nextRandom()))) {
        std::printf("  (shape %s, row offset %lld)\n", shapeStr(shape).c_str(), (long long)off);
        return false;
      }
  }
  return true;
}

TFE_CUDA_CASE(prg_refuses_bad_attrs) {
  bool ok = true;
  for (const char* k : {"PrgRing", "PrgBits", "PrgPermutation"}) {
    ok &= expectBothThrow(k, {}, prgAttrs({4, 8}, 0, 0, seedBytes(15)));          // short seed
    ok &= expectBothThrow(k, {}, prgAttrs({4, 8}, -1, 0));                        // negative offset
    ok &= expectBothThrow(k, {}, prgAttrs({4, 8}, k2to56 - 31, 0));               // past 2^56
    Attrs bad = prgAttrs({4, 8}, 0, 0);
    bad.set("impl", std::string("bogus"));
    ok &= expectBothThrow(k, {}, bad);
  }
  Attrs f = prgAttrs({10}, 0, 0);
  ok &= expectBothThrow("PrgField", {}, f);  // no modulus
  for (int64_t p : {2, 4, 256, 257}) {
    f.set("modulus", p);
    ok &= expectBothThrow("PrgField", {}, f);
  }
  ok &= expectBothThrow("PrgPermutation", {}, prgAttrs({4, 257}, 0, 0));
  ok &= expectBothThrow("PrgPermutation", {}, prgAttrs({4, 0}, 0, 0));
  ok &= expectBothThrow("PrgPermutation", {}, prgAttrs({}, 0, 0));
  ok &= expectBothThrow("PrgPermutation", {}, prgAttrs({10, 64}, (int64_t(1) << 24) - 9, 0));
  return ok;
}

namespace {
// Host Fisher-Yates over [0, len) per row (test input only), as a ring64 tensor.
Tensor hostPermutation(int64_t rows, int64_t len, Shape shape) {
  Tensor t = allocTensor(shape, DType::Ring64);
  uint64_t* p = t.ptr<uint64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    uint64_t* row = p + r * len;
    for (int64_t i = 0; i < len; ++i) row[i] = static_cast<uint64_t>(i);
    for (int64_t i = len - 1; i > 0; --i) std::swap(row[i], row[nextRandom() % static_cast<uint64_t>(i + 1)]);
  }
  return t;
}
}  // namespace

TFE_CUDA_CASE(permute_last_axis) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {0, 5}, {3, 0}, {7, 64}, {1000, 64}, {2, 1000}, {33, 257}};
  const std::pair<DType, uint32_t> dtypes[] = {{DType::Ring64, 0}, {DType::Bit, 0}, {DType::Field, 67}, {DType::F64, 0}};
  for (auto [rows, len] : shapes)
    for (auto [dt, p] : dtypes) {
      Shape shape = {rows, len};
      if (!compareKernel("PermuteLastAxis", {randomHost(shape, dt, p), hostPermutation(rows, len, shape)})) return false;
    }
  // Rank 3, and rank 1 (one row).
  return compareKernel("PermuteLastAxis", {randomHost({2, 3, 50}, DType::Ring64), hostPermutation(6, 50, {2, 3, 50})}) &&
         compareKernel("PermuteLastAxis", {randomHost({77}, DType::Field, 131), hostPermutation(1, 77, {77})});
}

TFE_CUDA_CASE(permute_last_axis_refuses) {
  bool ok = true;
  Tensor x = randomHost({4, 16}, DType::Ring64);
  ok &= expectBothThrow("PermuteLastAxis", {x, hostPermutation(4, 15, {4, 15})});             // shape mismatch
  ok &= expectBothThrow("PermuteLastAxis", {x, randomHost({4, 16}, DType::Field, 67)});       // perm dtype
  ok &= expectBothThrow("PermuteLastAxis", {randomHost({}, DType::Ring64), randomHost({}, DType::Ring64)});  // rank 0
  // Data-dependent: the verdict comes back from the device (a duplicate, then an out-of-range index).
  Tensor dup = hostPermutation(4, 16, {4, 16});
  dup.ptr<uint64_t>()[2 * 16 + 3] = dup.ptr<uint64_t>()[2 * 16 + 4];
  ok &= expectBothThrow("PermuteLastAxis", {x, dup});
  Tensor far = hostPermutation(4, 16, {4, 16});
  far.ptr<uint64_t>()[3 * 16 + 15] = ~uint64_t(0);
  ok &= expectBothThrow("PermuteLastAxis", {x, far});
  return ok;
}

}  // namespace cudatest
}  // namespace tfe
