// The standalone CUDA test harness: each case runs a kernel on the CPU (the reference) and on
// the GPU with the same inputs and attributes, and compares every output byte. Cases live in
// cases_*.cc, one file per kernel family; benchmarks (run with --bench) register the same way.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"

namespace tfe {
namespace cudatest {

// Test-input generator (not a cryptographic PRG: it only makes inputs). Seeded from
// std::random_device and printed, or from TFE_TEST_SEED to replay a failure.
uint64_t nextRandom();

// A host tensor of uniform random elements of its dtype; ring64 tensors also get the edge
// values 0, 1, 2^63 - 1, 2^63 and 2^64 - 1 at random positions.
Tensor randomHost(const Shape& shape, DType dtype, uint32_t modulus = 0);
Tensor toDevice(const Tensor& host);
// Attrs holding one attribute.
inline Attrs attrsWith(const std::string& key, AttrValue value) {
  Attrs a;
  a.set(key, std::move(value));
  return a;
}
Tensor toHost(const Tensor& device);

// Runs `kernel` on the host and on the device; true when every output matches byte for byte
// (otherwise prints the first mismatch). Device results are downloaded on stream 0.
// deviceAttrs, when given, replace attrs on the device (e.g. to force one matmul candidate).
bool compareKernel(const std::string& kernel, const std::vector<Tensor>& hostInputs, const Attrs& attrs = Attrs(),
                   const Attrs* deviceAttrs = nullptr);
// Same, but expects both to throw (bad shapes must be refused by the device kernel too).
bool expectBothThrow(const std::string& kernel, const std::vector<Tensor>& hostInputs, const Attrs& attrs = Attrs());
// Both refuse, and the device's message contains the CPU's (the dispatcher may prefix it).
bool sameError(const std::string& kernel, const std::vector<Tensor>& hostInputs, const Attrs& attrs);

using CaseFn = std::function<bool()>;
struct CaseRegistrar {
  CaseRegistrar(const char* name, CaseFn fn, bool bench = false);
};

}  // namespace cudatest
}  // namespace tfe

#define TFE_CT_CONCAT_(a, b) a##b
#define TFE_CT_CONCAT(a, b) TFE_CT_CONCAT_(a, b)
// TFE_CUDA_CASE(name) { ...; return ok; }
#define TFE_CUDA_CASE(name)                                                                         \
  static bool TFE_CT_CONCAT(case_, name)();                                                       \
  static ::tfe::cudatest::CaseRegistrar TFE_CT_CONCAT(case_reg_, name)(#name, TFE_CT_CONCAT(case_, name)); \
  static bool TFE_CT_CONCAT(case_, name)()
// TFE_CUDA_BENCH(name) { ...print a result line...; return true; }  (run with --bench)
#define TFE_CUDA_BENCH(name)                                                                              \
  static bool TFE_CT_CONCAT(bench_, name)();                                                            \
  static ::tfe::cudatest::CaseRegistrar TFE_CT_CONCAT(bench_reg_, name)(#name, TFE_CT_CONCAT(bench_, name), true); \
  static bool TFE_CT_CONCAT(bench_, name)()
