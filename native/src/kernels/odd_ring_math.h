// Arithmetic in the odd ring Z_(2^64 - 1) on uint64 storage, shared by the OddRing kernels and
// SecureNN's fused passes: 2^64 - 1 reads as 0 (the same residue); results lie in [0, 2^64 - 2].
#pragma once

#include <cstdint>

namespace tfe {
namespace odd {

constexpr uint64_t M = ~uint64_t(0);  // 2^64 - 1
inline uint64_t norm(uint64_t a) { return a == M ? 0 : a; }
inline uint64_t add(uint64_t a, uint64_t b) {
  a = norm(a);
  b = norm(b);
  uint64_t s = a + b;
  if (s < a) s += 1;  // 2^64 = 1 (mod 2^64 - 1)
  return s == M ? 0 : s;
}
inline uint64_t neg(uint64_t a) {
  a = norm(a);
  return a == 0 ? 0 : M - a;
}
inline uint64_t sub(uint64_t a, uint64_t b) { return add(a, neg(b)); }

}  // namespace odd
}  // namespace tfe
