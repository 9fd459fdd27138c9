// CUDA Im2Col, Col2Im, Conv2D and DepthwiseConv2D, mirroring kernels/conv.cc and depthwise.cc:
// NHWC inputs, [KH, KW, C, O] filters,
// TensorFlow's SAME / VALID padding, patches in (kh, kw, c) order, the same checks and messages.
// Conv2D is im2col + the ring GEMM (matmul.h), so it takes MatMul's 'impl' attribute.
#include <algorithm>

#include "core/registry.h"
#include "cuda/device.h"
#include "cuda/matmul.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {
namespace cuda {
namespace {

// cols[r][q] for output pixels r in [r0, r0 + rows): row r is pixel (b, oy, ox), column q the patch
// entry (ky, kx, ch); zero where the patch hangs over the padding. One thread per entry, so
// consecutive threads read consecutive channels.
__global__ void im2colKernel(const uint64_t* __restrict__ x, uint64_t* __restrict__ cols, ConvGeom g, int64_t r0,
                             int64_t rows) {
  const int64_t P = g.patch(), total = rows * P;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = r0 + i / P, q = i % P;
    int64_t b = r / (g.oh * g.ow), oy = (r / g.ow) % g.oh, ox = r % g.ow;
    int64_t ky = q / (g.kw * g.c), kx = (q / g.c) % g.kw, ch = q % g.c;
    int64_t y = oy * g.sh + ky - g.padTop, xx = ox * g.sw + kx - g.padLeft;
    bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
    cols[i] = inside ? x[((b * g.h + y) * g.w + xx) * g.c + ch] : 0;
  }
}

// The adjoint of im2col as a gather: each image element sums the patch entries that read it, so
// no two threads write one element (no atomics; the sum order is irrelevant mod 2^64).
__global__ void col2imKernel(const uint64_t* __restrict__ cols, uint64_t* __restrict__ img, ConvGeom g) {
  const int64_t P = g.patch(), total = g.n * g.h * g.w * g.c;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t ch = i % g.c, xx = (i / g.c) % g.w, y = (i / (g.c * g.w)) % g.h, b = i / (g.c * g.w * g.h);
    uint64_t acc = 0;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      int64_t ty = y + g.padTop - ky;  // = oy * sh for the output row that reads (y, ky)
      if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
      int64_t oy = ty / g.sh;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        int64_t tx = xx + g.padLeft - kx;
        if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
        int64_t ox = tx / g.sw;
        acc += cols[((b * g.oh + oy) * g.ow + ox) * P + (ky * g.kw + kx) * g.c + ch];
      }
    }
    img[i] = acc;
  }
}

void launchIm2col(const Tensor& x, uint64_t* cols, const ConvGeom& g, int64_t r0, int64_t rows) {
  int64_t total = rows * g.patch();
  if (total == 0) return;
  im2colKernel<<<gridFor(total), 256, 0, currentStream()>>>(devPtr<uint64_t>(x), cols, g, r0, rows);
  TFE_CUDA_LAUNCHED();
}

Outputs im2col(const Inputs& in, const Attrs& at) {
  ConvGeom g = im2colGeometry(in, at);
  Tensor out = allocDevice({g.n, g.oh, g.ow, g.patch()}, DType::Ring64);
  useOnCurrentStream(in[0]);
  launchIm2col(in[0], devPtr<uint64_t>(out), g, 0, g.n * g.oh * g.ow);
  return {out};
}

Outputs col2im(const Inputs& in, const Attrs& at) {
  ConvGeom g = col2imGeometry(in, at);
  Shape xs{g.n, g.h, g.w, g.c};
  Tensor out = allocDevice(xs, DType::Ring64);
  useOnCurrentStream(in[0]);
  int64_t total = out.size();
  if (total == 0) return {out};
  col2imKernel<<<gridFor(total), 256, 0, currentStream()>>>(devPtr<uint64_t>(in[0]), devPtr<uint64_t>(out), g);
  TFE_CUDA_LAUNCHED();
  return {out};
}

// At most this many column-matrix elements (256 MiB) exist at once: larger convolutions run as
// several GEMMs over consecutive blocks of output pixels, reusing one scratch buffer (stream order
// makes block i + 1's im2col wait for block i's GEMM).
constexpr int64_t kMaxColumnElems = int64_t(1) << 25;

Outputs conv2d(const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &f = in[1];
  ConvGeom g = conv2dGeometry(in, at);
  int64_t o = f.shape[3], rows = g.n * g.oh * g.ow, P = g.patch();
  Tensor out = allocDevice({g.n, g.oh, g.ow, o}, DType::Ring64);
  GemmImpl impl = parseGemmImpl("Conv2D", at.getString("impl", "auto"));
  useOnCurrentStream(x);
  useOnCurrentStream(f);
  const uint64_t* fp = devPtr<uint64_t>(f);
  uint64_t* op = devPtr<uint64_t>(out);
  // 1x1 stride-1 convolutions need no im2col: the image already is the column matrix.
  if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1) {
    ringGemm("Conv2D", GemmArgs{devPtr<uint64_t>(x), fp, op, rows, g.c, o, 1, 0, 0}, impl);
    return {out};
  }
  if (rows == 0 || o == 0) return {out};
  int64_t block = std::max<int64_t>(1, std::min<int64_t>(rows, kMaxColumnElems / std::max<int64_t>(P, 1)));
  Tensor cols = allocDevice({block, P}, DType::Ring64);
  uint64_t* cp = devPtr<uint64_t>(cols);
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    int64_t nr = std::min(block, rows - r0);
    launchIm2col(x, cp, g, r0, nr);
    ringGemm("Conv2D", GemmArgs{cp, fp, op + r0 * o, nr, P, o, 1, 0, 0}, impl);
  }
  return {out};
}

// Depthwise: output element (pixel r, channel i = c m + j) sums its taps inside the image of
// x[.., c] f[ky, kx, c, j]; one thread per output element, so consecutive threads read consecutive
// channels and filter words (kernels/depthwise.cc on the host).
__global__ void depthwiseKernel(const uint64_t* __restrict__ x, const uint64_t* __restrict__ f, uint64_t* __restrict__ y, ConvGeom g,
                                int64_t m) {
  const int64_t width = g.c * m, total = g.n * g.oh * g.ow * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / width, q = i % width, ch = q / m;
    int64_t b = r / (g.oh * g.ow), oy = (r / g.ow) % g.oh, ox = r % g.ow;
    uint64_t acc = 0;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      int64_t iy = oy * g.sh + ky - g.padTop;
      if (iy < 0 || iy >= g.h) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        int64_t ix = ox * g.sw + kx - g.padLeft;
        if (ix < 0 || ix >= g.w) continue;
        acc += x[((b * g.h + iy) * g.w + ix) * g.c + ch] * f[(ky * g.kw + kx) * width + q];
      }
    }
    y[i] = acc;
  }
}

Outputs depthwiseConv2d(const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &f = in[1];
  ConvGeom g = depthwiseGeometry(in, at);
  const int64_t m = f.shape[3];
  Tensor out = allocDevice({g.n, g.oh, g.ow, g.c * m}, DType::Ring64);
  useOnCurrentStream(x);
  useOnCurrentStream(f);
  int64_t total = out.size();
  if (total == 0) return {out};
  depthwiseKernel<<<gridFor(total), 256, 0, currentStream()>>>(devPtr<uint64_t>(x), devPtr<uint64_t>(f), devPtr<uint64_t>(out), g, m);
  TFE_CUDA_LAUNCHED();
  return {out};
}

TFE_REGISTER_CUDA_KERNEL("Im2Col", 1, im2col);
TFE_REGISTER_CUDA_KERNEL("DepthwiseConv2D", 2, depthwiseConv2d);
TFE_REGISTER_CUDA_KERNEL("Col2Im", 1, col2im);
TFE_REGISTER_CUDA_KERNEL("Conv2D", 2, conv2d);

}  // namespace
}  // namespace cuda
}  // namespace tfe
