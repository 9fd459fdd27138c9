// Depthwise convolution over Z_2^64 in NHWC: each input channel convolved with its own m filters,
// output channel c m + j from filter [., ., c, j] (TensorFlow's depthwise_conv2d). Direct: per
// output pixel, the taps inside the image, each a run of c m multiply-adds on contiguous words
// (the compiler vectorises it), kh kw c m per pixel and no patch matrix. The composite it replaces
// (im2col, a broadcast product, a sum over the taps) made two tensors kh kw times the output's.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {

ConvGeom depthwiseGeometry(const Inputs& in, const Attrs& at) { return filterGeometry("DepthwiseConv2D", "[kh, kw, channels, multiplier]", in, at); }

namespace {

Outputs depthwiseConv2d(const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &f = in[1];
  ConvGeom g = depthwiseGeometry(in, at);
  const int64_t m = f.shape[3], width = g.c * m, pixels = g.n * g.oh * g.ow;
  Tensor out = allocTensor({g.n, g.oh, g.ow, width}, DType::Ring64);
  const uint64_t* xs = x.ptr<uint64_t>();
  const uint64_t* fs = f.ptr<uint64_t>();
  uint64_t* ys = out.ptr<uint64_t>();
  if (pixels == 0 || width == 0) return {out};
  parallelFor(0, pixels, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, width * g.kh * g.kw)), [&](int64_t lo, int64_t hi) {
    std::vector<uint64_t> row(m == 1 ? 0 : width);
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = r / (g.oh * g.ow), oy = (r / g.ow) % g.oh, ox = r % g.ow;
      uint64_t* y = ys + r * width;
      std::memset(y, 0, width * 8);
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const int64_t iy = oy * g.sh + ky - g.padTop;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t ix = ox * g.sw + kx - g.padLeft;
          if (ix < 0 || ix >= g.w) continue;
          const uint64_t* src = xs + ((b * g.h + iy) * g.w + ix) * g.c;
          const uint64_t* tap = fs + (ky * g.kw + kx) * width;
          if (m == 1) {
            for (int64_t c = 0; c < g.c; ++c) y[c] += src[c] * tap[c];
          } else {
            // Each input channel's value against its m filters.
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t j = 0; j < m; ++j) row[c * m + j] = src[c];
            for (int64_t i = 0; i < width; ++i) y[i] += row[i] * tap[i];
          }
        }
      }
    }
  });
  return {out};
}

TFE_REGISTER_KERNEL("DepthwiseConv2D", 2, depthwiseConv2d);

}  // namespace
}  // namespace tfe
