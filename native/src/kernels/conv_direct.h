// Direct convolution (conv_direct_avx512.cc): stride-1 conv2d without im2col, output pixels in the
// vector lanes. conv.cc chooses between it and im2col + ring matmul.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_checks.h"

namespace tfe {

// out [n, oh, ow, o] = x [n, h, w, c] conv f [kh, kw, c, o], stride 1, g's padding. Valid only
// when the CPU has AVX-512F and DQ and g.sh == g.sw == 1. impl: "direct" (the form measured
// fastest here: vpmullq or, with AVX-512 IFMA, 52-bit multiply-adds), "direct-avx512" or
// "direct-ifma" (errors without IFMA, or beyond 4095 taps).
void convDirectAvx512(const std::string& impl, const uint64_t* x, const uint64_t* f, uint64_t* out, const ConvGeom& g,
                      int64_t o);

// The IFMA form sums its cross forms exactly up to this many taps (kh * kw * c) per output.
constexpr int64_t kDirectIfmaMaxTaps = 4095;

// Each form's tile rate (multiply-adds per second on one thread), measured on first use:
// "avx512 7.8, ifma 9.9 GMAC/s per thread". 'direct' takes the faster form.
std::string convDirectRates();

}  // namespace tfe
