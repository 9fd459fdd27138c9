// Runtime CPU feature detection for dispatching SIMD kernels from one portable binary.
#pragma once
#include <string>

namespace tfe {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512 = false;  // AVX-512F and AVX-512DQ (vpmullq)
  bool ifma = false;    // AVX-512 IFMA (vpmadd52luq/huq)
  bool aesni = false;   // AES-NI and SSE4.1
  bool vaes = false;    // VAES with AVX-512F and BW: four AES blocks per zmm instruction
  bool amx = false;     // AMX-TILE and AMX-INT8, enabled by the OS for this process (see cpu_features.cc)
};

const CpuFeatures& cpuFeatures();
std::string cpuFeatureString();

}  // namespace tfe
