#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace tfe {

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// AMX tiles need three things: the CPU's AMX-TILE and AMX-INT8 bits (CPUID 7.0 EDX 24, 25), the OS
// saving tile state (XCR0 bits 17 and 18), and on Linux (5.16 and later) this process's request
// for the tile-data state component (and the AMX kernel also needs AVX512-VBMI, which every AMX CPU has): without it the first tile instruction raises SIGILL.
bool amxUsable() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25))) return false;
  if (!(c & (1u << 1))) return false;  // AVX512-VBMI: the AMX kernel's operand forms use vpermt2b
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;  // no known way to request tile state: never use it
#endif
}
#endif

}  // namespace

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    c.ifma = __builtin_cpu_supports("avx512ifma");
    c.aesni = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
    c.vaes = c.aesni && c.avx512 && __builtin_cpu_supports("vaes") && __builtin_cpu_supports("avx512bw");
    // Only under TFE_CPU_BASELINE unset: the request below changes the process's signal frames.
    if (const char* e = std::getenv("TFE_CPU_BASELINE"); !(e && std::strcmp(e, "1") == 0)) c.amx = c.avx512 && amxUsable();
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
  if (f.vaes) s += "vaes ";
  if (f.amx) s += "amx-int8 ";
  if (s.empty()) return "baseline";
  s.pop_back();
  return s;
}

}  // namespace tfe
