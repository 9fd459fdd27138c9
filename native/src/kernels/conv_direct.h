// Direct convolution (conv_direct_avx512.cc): stride-1 conv2d without im2col, output pixels in the
// vector lanes. conv.cc chooses between it and im2col + ring matmul.
#pragma once
#include <cstdint>

#include "kernels/kernel_checks.h"

namespace tfe {

// out [n, oh, ow, o] = x [n, h, w, c] conv f [kh, kw, c, o], stride 1, g's padding. Valid only
// when the CPU has AVX-512F and DQ and g.sh == g.sw == 1.
void convDirectAvx512(const uint64_t* x, const uint64_t* f, uint64_t* out, const ConvGeom& g, int64_t o);

// Multiply-adds per second of the direct kernel's full tile on one thread, measured on first use
// (valid only with AVX-512F and DQ): what conv2d's 'auto' weighs against the GEMM kernels' rates.
double convDirectRate();

// The share of its lanes' work the direct kernel makes useful for this geometry: an output row's
// last vector of 8 pixels is part-filled (ow = 28: 28 of 32 lanes), and a filter block of fewer
// than 4 filters keeps too few sums in flight to hide vpmullq's latency.
double convDirectShare(const ConvGeom& g, int64_t o);

}  // namespace tfe
