// conv2d in NHWC as im2col + ring matmul or, stride 1 on AVX-512, the direct kernel
// (conv_direct_avx512.cc), whichever is timed faster on the shape; and col2im (the adjoint of
// im2col, for gradients). Filters are [KH, KW, C, O] as in TensorFlow. Padding follows
// TensorFlow's SAME/VALID rules.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <utility>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/cpu_features.h"
#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/conv_direct.h"
#include "kernels/kernel_checks.h"
#include "kernels/matmul.h"

namespace tfe {

ConvGeom convGeometry(const std::string& op, const Shape& x, int64_t kh, int64_t kw, const Attrs& at) {
  if (x.size() != 4) throw KernelError(op + ": input must be NHWC (rank 4), got shape " + shapeStr(x));
  std::vector<int64_t> s = at.getInts("strides");
  if (s.size() == 1) s.push_back(s[0]);
  if (s.size() != 2 || s[0] < 1 || s[1] < 1) throw KernelError(op + ": strides must be one or two positive integers, got " + shapeStr(s));
  if (kh < 1 || kw < 1) throw KernelError(op + ": kernel size " + std::to_string(kh) + "x" + std::to_string(kw) + " must be positive");
  // Every patch is kh kw c words: checked here, before any buffer is sized by it (a product that
  // wrapped allocated a small column buffer that im2col then overran; no channel divided by 0).
  if (x[3] < 1) throw KernelError(op + ": input " + shapeStr(x) + " has no channels");
  int64_t patch = 0;
  if (__builtin_mul_overflow(kh, kw, &patch) || __builtin_mul_overflow(patch, x[3], &patch) || patch > (int64_t{1} << 40))
    throw KernelError(op + ": a patch of kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " over " + std::to_string(x[3]) + " channels is too large");
  std::string padding = at.getString("padding", "VALID");
  ConvGeom g{x[0], x[1], x[2], x[3], kh, kw, s[0], s[1], 0, 0, 0, 0};
  if (padding == "VALID") {
    if (kh > g.h || kw > g.w)
      throw KernelError(op + ": kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " is larger than the input " +
                        shapeStr(x) + " with VALID padding");
    g.oh = (g.h - kh) / g.sh + 1;
    g.ow = (g.w - kw) / g.sw + 1;
  } else if (padding == "SAME") {
    g.oh = (g.h + g.sh - 1) / g.sh;
    g.ow = (g.w + g.sw - 1) / g.sw;
    g.padTop = std::max<int64_t>((g.oh - 1) * g.sh + kh - g.h, 0) / 2;
    g.padLeft = std::max<int64_t>((g.ow - 1) * g.sw + kw - g.w, 0) / 2;
  } else {
    throw KernelError(op + ": padding must be 'SAME' or 'VALID', got '" + padding + "'");
  }
  return g;
}

ConvGeom im2colGeometry(const Inputs& in, const Attrs& at) {
  requireDType("Im2Col", in[0], DType::Ring64);
  std::vector<int64_t> ks = at.getInts("kernelSize");
  if (ks.size() != 2) throw KernelError("Im2Col: kernelSize must be [kh, kw], got " + shapeStr(ks));
  ConvGeom g = convGeometry("Im2Col", in[0].shape, ks[0], ks[1], at);
  return g;
}

ConvGeom filterGeometry(const char* op, const char* layout, const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &f = in[1];
  requireDType(op, x, DType::Ring64, "input");
  requireDType(op, f, DType::Ring64, "filter");
  if (f.rank() != 4) throw KernelError(std::string(op) + ": filter must be " + layout + ", got shape " + shapeStr(f.shape));
  ConvGeom g = convGeometry(op, x.shape, f.shape[0], f.shape[1], at);
  if (f.shape[2] != g.c)
    throw KernelError(std::string(op) + ": input " + shapeStr(x.shape) + " has " + std::to_string(g.c) + " channels but filter " +
                      shapeStr(f.shape) + " expects " + std::to_string(f.shape[2]));
  return g;
}

ConvGeom conv2dGeometry(const Inputs& in, const Attrs& at) { return filterGeometry("Conv2D", "[kh, kw, in, out]", in, at); }

ConvGeom col2imGeometry(const Inputs& in, const Attrs& at) {
  requireDType("Col2Im", in[0], DType::Ring64);
  std::vector<int64_t> xs = at.getInts("inputShape"), ks = at.getInts("kernelSize");
  if (ks.size() != 2) throw KernelError("Col2Im: kernelSize must be [kh, kw], got " + shapeStr(ks));
  ConvGeom g = convGeometry("Col2Im", xs, ks[0], ks[1], at);
  Shape expect{g.n, g.oh, g.ow, g.patch()};
  if (in[0].shape != expect)
    throw KernelError("Col2Im: columns have shape " + shapeStr(in[0].shape) + " but image " + shapeStr(xs) + " needs " + shapeStr(expect));
  return g;
}

namespace {

// Calls fn(row, col, srcOffsetOrMinus1) for every patch entry: row is the output pixel, col the
// position in the patch (kh, kw, c order), and the source offset is -1 for zero padding.
template <typename Fn>
void forPatches(const ConvGeom& g, int64_t pixelLo, int64_t pixelHi, Fn fn) {
  for (int64_t r = pixelLo; r < pixelHi; ++r) {
    int64_t b = r / (g.oh * g.ow), oy = (r / g.ow) % g.oh, ox = r % g.ow;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      int64_t y = oy * g.sh + ky - g.padTop;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        int64_t x = ox * g.sw + kx - g.padLeft;
        bool inside = y >= 0 && y < g.h && x >= 0 && x < g.w;
        fn(r, (ky * g.kw + kx) * g.c, inside ? ((b * g.h + y) * g.w + x) * g.c : -1);
      }
    }
  }
}

void im2colInto(const Tensor& x, const ConvGeom& g, uint64_t* cols) {
  const uint64_t* src = x.ptr<uint64_t>();
  int64_t P = g.patch();
  parallelFor(0, g.n * g.oh * g.ow, std::max<int64_t>(1, 4096 / P), [&](int64_t lo, int64_t hi) {
    forPatches(g, lo, hi, [&](int64_t r, int64_t col, int64_t off) {
      uint64_t* dst = cols + r * P + col;
      if (off < 0) std::memset(dst, 0, g.c * 8);
      else std::memcpy(dst, src + off, g.c * 8);
    });
  });
}

Outputs im2col(const Inputs& in, const Attrs& at) {
  ConvGeom g = im2colGeometry(in, at);
  Tensor out = allocTensor({g.n, g.oh, g.ow, g.patch()}, DType::Ring64);
  im2colInto(in[0], g, out.ptr<uint64_t>());
  return {out};
}

// Scatter-adds patches back onto the image. Parallel over batch images, which never overlap.
Outputs col2im(const Inputs& in, const Attrs& at) {
  ConvGeom g = col2imGeometry(in, at);
  Shape xs{g.n, g.h, g.w, g.c};
  Tensor out = allocTensor(xs, DType::Ring64);
  uint64_t* dst = out.ptr<uint64_t>();
  std::memset(dst, 0, out.size() * 8);
  const uint64_t* cols = in[0].ptr<uint64_t>();
  int64_t P = g.patch(), per = g.oh * g.ow;
  parallelFor(0, g.n, 1, [&](int64_t lo, int64_t hi) {
    forPatches(g, lo * per, hi * per, [&](int64_t r, int64_t col, int64_t off) {
      if (off < 0) return;
      const uint64_t* s = cols + r * P + col;
      for (int64_t c = 0; c < g.c; ++c) dst[off + c] += s[c];
    });
  });
  return {out};
}

#if defined(__x86_64__)
// The packer's common strip with AVX-512 (one 64-byte load and store per tap instead of four of
// each): eight output pixels along one output row of a one-channel, stride-1 image, every window
// inside it. `src` is the first pixel's window origin; (ky, kx, ch) the first tap.
__attribute__((target("avx512f"))) void packRow8Avx512(const uint64_t* src, const ConvGeom& g, int64_t ky, int64_t kx,
                                                        int64_t ch, int64_t kc, uint64_t* dst) {
  for (int64_t kk = 0; kk < kc; ++kk, dst += 8) {
    _mm512_storeu_si512(dst, _mm512_loadu_si512(src + (ky * g.w + kx) * g.c + ch));
    if (++ch == g.c) {
      ch = 0;
      if (++kx == g.kw) {
        kx = 0;
        ++ky;
      }
    }
  }
}
#endif

// Packs A strips for conv2d straight from the NHWC image: row r is output pixel r, column q is
// patch element q in (kh, kw, c) order, and padding reads as zero. Equivalent to im2col followed
// by packing, without writing and re-reading the n*oh*ow x kh*kw*c column matrix.
PackStripFn imagePacker(const uint64_t* X, const ConvGeom& g) {
#if defined(__x86_64__)
  const bool avx512 = cpuFeatures().avx512;
#else
  const bool avx512 = false;
#endif
  return [X, g, avx512](int64_t i0, int64_t rows, int64_t pc, int64_t kc, int mr, uint64_t* dst) {
    constexpr int kMaxMr = 32;  // the AMX kernel's strips
    if (mr > kMaxMr) throw KernelError("Conv2D: micro-kernel height exceeds the packer's limit");
    int64_t y0[kMaxMr], x0[kMaxMr], base[kMaxMr];
    // Whether every row's whole window lies inside the image (no padding to read as zero), and
    // whether the rows' windows start `step` words apart (output pixels along one output row).
    bool inside = true, even = true;
    const int64_t step = g.sw * g.c;
    // Output pixel i0 by division, the rest by stepping (three divisions per row cost more than
    // packing the row).
    int64_t b = i0 / (g.oh * g.ow), oy = (i0 / g.ow) % g.oh, ox = i0 % g.ow;
    for (int64_t i = 0; i < rows; ++i) {
      if (i > 0 && ++ox == g.ow) {
        ox = 0;
        if (++oy == g.oh) {
          oy = 0;
          ++b;
        }
      }
      y0[i] = oy * g.sh - g.padTop;
      x0[i] = ox * g.sw - g.padLeft;
      base[i] = ((b * g.h + y0[i]) * g.w + x0[i]) * g.c;  // only dereferenced when inside the image
      inside = inside && y0[i] >= 0 && y0[i] + g.kh <= g.h && x0[i] >= 0 && x0[i] + g.kw <= g.w;
      even = even && base[i] == base[0] + i * step;
    }
    int64_t ky = pc / (g.kw * g.c), kx = (pc / g.c) % g.kw, ch = pc % g.c;
#if defined(__x86_64__)
    if (avx512 && inside && even && step == 1 && rows == 8 && mr == 8) return packRow8Avx512(X + base[0], g, ky, kx, ch, kc, dst);
#endif
    for (int64_t kk = 0; kk < kc; ++kk, dst += mr) {
      int64_t off = (ky * g.w + kx) * g.c + ch;
      if (inside && even) {
        // The common case (VALID, or SAME away from the border): a strided row of the image.
        const uint64_t* src = X + base[0] + off;
        if (step == 1 && rows == 8) std::memcpy(dst, src, 8 * sizeof(uint64_t));  // inlined: the AVX-512 kernel's strip
        else if (step == 1) std::memcpy(dst, src, rows * sizeof(uint64_t));  // one channel, stride 1
        else for (int64_t i = 0; i < rows; ++i) dst[i] = src[i * step];
      } else if (inside) {
        for (int64_t i = 0; i < rows; ++i) dst[i] = X[base[i] + off];
      } else {
        for (int64_t i = 0; i < rows; ++i) {
          int64_t y = y0[i] + ky, x = x0[i] + kx;
          dst[i] = (y >= 0 && y < g.h && x >= 0 && x < g.w) ? X[base[i] + off] : 0;
        }
      }
      for (int64_t i = rows; i < mr; ++i) dst[i] = 0;
      if (++ch == g.c) {
        ch = 0;
        if (++kx == g.kw) {
          kx = 0;
          ++ky;
        }
      }
    }
  };
}

// im2col + ring matmul with mk (the image packed straight into the GEMM's strips).
void convGemm(const Tensor& x, const Tensor& f, const ConvGeom& g, int64_t o, const MicroKernel& mk, uint64_t* out) {
  const int64_t rows = g.n * g.oh * g.ow;
  // 1x1 stride-1 convolutions need no im2col: the input already is the column matrix.
  if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1) return matmul2d(x.ptr<uint64_t>(), f.ptr<uint64_t>(), out, rows, g.c, o, mk);
  if (rows > kSmallM) return matmulPacked(imagePacker(x.ptr<uint64_t>(), g), f.ptr<uint64_t>(), out, rows, g.patch(), o, mk);
  Tensor cols = allocTensor({rows, g.patch()}, DType::Ring64);
  im2colInto(x, g, cols.ptr<uint64_t>());
  matmul2d(cols.ptr<uint64_t>(), f.ptr<uint64_t>(), out, rows, g.patch(), o, mk);
}

// 'auto' among im2col + the matmul kernel 'auto' picks and the direct kernel's forms (vpmullq, and
// IFMA where the CPU has it and the patch fits its 4095 taps), per convolution shape, by timing
// them on the shape itself. Tile rates alone mispredict here: on the Intel Xeon of 2026-12-01 AMX
// achieved 36-45% of its tile rate on convolutions and the direct kernel 71-90% of its own
// (bench/RESULTS.md, "Direct convolution"), so AMX won one 3x3 shape and lost the next, and the
// IFMA form's higher tile rate did not carry over to LeNet's convolution. Every call is timed and
// each candidate keeps its best time. The first kRounds x candidates calls of a shape take them
// in turn; later calls take the one with the lowest best time, except every kRetry-th, which runs
// another in rotation: a host busy during the trials (a time only ever too long) can make the
// wrong one look faster, and the retries undo that. All give the same result, so only time
// depends on the choice.
class ConvPlans {
 public:
  using Key = std::array<int64_t, 10>;
  static constexpr int64_t kRounds = 3, kRetry = 32;
  static constexpr size_t kMaxShapes = 4096;  // beyond this many shapes, no more plans: the first candidate

  // Which of `count` candidates this call runs, and whether to time it.
  std::pair<int, bool> choose(const Key& key, int count) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      if (plans_.size() >= kMaxShapes) return {0, false};
      it = plans_.emplace(key, Plan{}).first;
    }
    Plan& p = it->second;
    const int64_t call = p.calls++;
    if (call < kRounds * count) return {static_cast<int>(call % count), true};
    int fastest = 0;
    for (int i = 1; i < count; ++i)
      if (p.best[i] < p.best[fastest]) fastest = i;
    if (call % kRetry != 0) return {fastest, true};
    // The retries visit the others in turn.
    const int other = static_cast<int>((call / kRetry) % (count - 1));
    return {other < fastest ? other : other + 1, true};
  }

  void record(const Key& key, int candidate, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    double& best = plans_[key].best[candidate];
    best = std::min(best, seconds);
  }

 private:
  struct Plan {
    std::array<double, 3> best{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::infinity()};
    int64_t calls = 0;
  };
  std::mutex mu_;
  std::map<Key, Plan> plans_;
};

ConvPlans& convPlans() {
  static ConvPlans plans;
  return plans;
}

Outputs conv2d(const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &f = in[1];
  ConvGeom g = conv2dGeometry(in, at);
  const int64_t o = f.shape[3], rows = g.n * g.oh * g.ow;
  Tensor out = allocTensor({g.n, g.oh, g.ow, o}, DType::Ring64);
  uint64_t* y = out.ptr<uint64_t>();
  const std::string impl = at.getString("impl", "auto");
  static const char* const kImpls[] = {"auto", "direct", "direct-avx512", "direct-ifma", "generic", "avx2", "avx512", "ifma", "amx"};
  if (std::find(std::begin(kImpls), std::end(kImpls), impl) == std::end(kImpls))
    throw KernelError("Conv2D: unknown impl '" + impl + "' (auto, direct, direct-avx512, direct-ifma, generic, avx2, avx512, ifma or amx)");
  const bool stride1 = g.sh == 1 && g.sw == 1;
  if (impl.compare(0, 6, "direct") == 0) {
    if (!cpuFeatures().avx512) throw KernelError("Conv2D: impl '" + impl + "' requested but this CPU has no AVX-512F/DQ");
    if (!stride1)
      throw KernelError("Conv2D: impl '" + impl + "' computes stride-1 convolutions only, got strides " + std::to_string(g.sh) + "x" +
                        std::to_string(g.sw));
    convDirectAvx512(impl, x.ptr<uint64_t>(), f.ptr<uint64_t>(), y, g, o);
    return {out};
  }
  const MicroKernel& mk = selectMicroKernel(impl, rows, g.patch(), o);
  if (impl != "auto" || !cpuFeatures().avx512 || !stride1 || rows == 0 || o == 0) {
    convGemm(x, f, g, o, mk, y);
    return {out};
  }
  // The candidates: the direct kernel's forms first (the one taken beyond kMaxShapes), then im2col.
  static const char* const kDirect[] = {"direct-avx512", "direct-ifma"};
  const int forms = cpuFeatures().ifma && g.patch() <= kDirectIfmaMaxTaps ? 2 : 1;
  const ConvPlans::Key key{g.n, g.h, g.w, g.c, g.kh, g.kw, g.padTop, g.padLeft, o, numThreads()};
  const auto [pick, timed] = convPlans().choose(key, forms + 1);
  const auto t0 = std::chrono::steady_clock::now();
  if (pick < forms) convDirectAvx512(kDirect[pick], x.ptr<uint64_t>(), f.ptr<uint64_t>(), y, g, o);
  else convGemm(x, f, g, o, mk, y);
  if (timed) convPlans().record(key, pick, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return {out};
}

TFE_REGISTER_KERNEL("Im2Col", 1, im2col);
TFE_REGISTER_KERNEL("Col2Im", 1, col2im);
TFE_REGISTER_KERNEL("Conv2D", 2, conv2d);

}  // namespace
}  // namespace tfe
