// Host checks: the TFE_HD arithmetic of the CUDA kernels, compiled by the host compiler and
// compared with the CPU kernels. Runs everywhere (no GPU, no CUDA runtime), in CI.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace tfe {
namespace hostcheck {
struct Registrar {
  Registrar(const char* name, std::function<bool()> fn);
};
// Test inputs (not a cryptographic PRG): seeded from std::random_device and printed once, or
// from TFE_TEST_SEED to replay a failure.
std::mt19937_64& rng();

// A host ring64 tensor holding v, of shape [v.size()] unless `shape` is given.
inline Tensor ringTensor(const std::vector<uint64_t>& v, std::vector<int64_t> shape = {}) {
  Tensor t = allocTensor(shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(v.size())} : shape, DType::Ring64);
  for (size_t i = 0; i < v.size(); ++i) t.ptr<uint64_t>()[i] = v[i];
  return t;
}

// A host ring64 tensor's words.
inline std::vector<uint64_t> words(const Tensor& t) { return std::vector<uint64_t>(t.ptr<uint64_t>(), t.ptr<uint64_t>() + t.size()); }
}  // namespace hostcheck
}  // namespace tfe

#define TFE_HC_CONCAT_(a, b) a##b
#define TFE_HC_CONCAT(a, b) TFE_HC_CONCAT_(a, b)
// TFE_HOST_CHECK(name) { ...; return ok; }
#define TFE_HOST_CHECK(name)                                                                              \
  static bool TFE_HC_CONCAT(hc_, name)();                                                                 \
  static ::tfe::hostcheck::Registrar TFE_HC_CONCAT(hc_reg_, name)(#name, TFE_HC_CONCAT(hc_, name)); \
  static bool TFE_HC_CONCAT(hc_, name)()
