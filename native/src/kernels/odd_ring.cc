// Arithmetic in the odd ring Z_(2^64 - 1) on ring64 storage, for SecureNN's share conversion:
// there, MSB(a) = LSB(2a) because doubling wraps around an odd modulus. Inputs equal to
// 2^64 - 1 are read as 0 (the same residue); outputs are always in [0, 2^64 - 2].
#include "core/broadcast.h"
#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/broadcast_binary.h"
#include "kernels/check.h"
#include "kernels/odd_ring_math.h"

namespace tfe {
namespace {

template <typename Op>
Tensor oddBinary(const std::string& name, const Tensor& a, const Tensor& b, Op op) {
  requireDType(name, a, DType::Ring64, "first input");
  requireDType(name, b, DType::Ring64, "second input");
  return binaryBroadcast<uint64_t>(name, a, b, op);
}

TFE_REGISTER_KERNEL("OddRingAdd", 2, [](const Inputs& in, const Attrs&) {
  return Outputs{oddBinary("OddRingAdd", in[0], in[1], [](uint64_t x, uint64_t y) { return odd::add(x, y); })};
});
TFE_REGISTER_KERNEL("OddRingSub", 2, [](const Inputs& in, const Attrs&) {
  return Outputs{oddBinary("OddRingSub", in[0], in[1], [](uint64_t x, uint64_t y) { return odd::sub(x, y); })};
});

}  // namespace
}  // namespace tfe
