#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace tfe {

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    c.ifma = __builtin_cpu_supports("avx512ifma");
    c.aesni = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
#endif
    // TFE_CPU_BASELINE=1 pretends to be a plain x86-64, to exercise the portable fallbacks.
    if (const char* e = std::getenv("TFE_CPU_BASELINE"); e && std::strcmp(e, "1") == 0) c = CpuFeatures{};
    return c;
  }();
  return f;
}

std::string cpuFeatureString() {
  const CpuFeatures& f = cpuFeatures();
  std::string s;
  if (f.avx2) s += "avx2 ";
  if (f.avx512) s += "avx512f avx512dq ";
  if (f.ifma) s += "avx512ifma ";
  if (f.aesni) s += "aes-ni ";
  if (s.empty()) return "baseline";
  s.pop_back();
  return s;
}

}  // namespace tfe
