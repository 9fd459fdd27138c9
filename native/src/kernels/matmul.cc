// Ring matmul driver: GotoBLAS-style blocking (pack B into NR-wide panels and A into MR-high
// strips per KC slice, then sweep micro-tiles), split over the thread pool on a 2-D task grid.
#include "kernels/matmul.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/host_allocator.h"
#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {

namespace {

// Multiply-adds per second of one micro-kernel on one thread: packed panels of one KC slice
// (kc = 256, resident in L1/L2) through its tile function, the inner loop of the blocked driver.
// Calls repeat until 200 us have passed.
double tileRate(const MicroKernel& mk) {
  constexpr int64_t kc = 256;
  const size_t aWords = formWordsOf(mk, kc, mk.mr), bWords = formWordsOf(mk, kc, mk.nr);
  const size_t words = aWords + bWords + static_cast<size_t>(mk.mr * mk.nr);
  uint64_t* buf = static_cast<uint64_t*>(hostAlloc(words * 8));  // 64-byte aligned, as the tiles' B loads need
  uint64_t *ap = buf, *bp = buf + aWords, *c = bp + bWords;
  for (size_t i = 0; i < words; ++i) buf[i] = 0x9E3779B97F4A7C15ull * (i + 1);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  int64_t calls = 0;
  double seconds = 0;
  do {
    for (int r = 0; r < 16; ++r, ++calls) mk.run(kc, ap, bp, c, mk.nr, r > 0);
    seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (seconds < 200e-6);
  hostFree(buf, words * 8);
  return static_cast<double>(calls) * mk.mr * mk.nr * kc / seconds;
}

// 'auto': the fastest micro-kernel this CPU runs, measured (best of three rounds, interleaved) the
// first time it is asked for, not assumed from CPUID: vpmullq is one instruction on AMD Zen but
// three micro-ops on Intel, so the fastest kernel differs between x86 servers.
struct AutoKernel {
  const MicroKernel* kernel;
  std::string rates;  // "avx512 41.2, ifma 8.3, avx2 12.1, generic 3.4 GMAC/s per thread"
  std::vector<const MicroKernel*> candidates;
  std::vector<double> measured;  // multiply-adds per second, per candidate
};

const AutoKernel& autoKernel() {
  static const AutoKernel choice = [] {
    const CpuFeatures& f = cpuFeatures();
    std::vector<const MicroKernel*> cands;
    if (f.avx512) cands.push_back(&microKernelAvx512());
    if (f.amx) cands.push_back(&microKernelAmx());
    if (f.avx512 && f.ifma) cands.push_back(&microKernelIfma());
    if (f.avx2) cands.push_back(&microKernelAvx2());
    cands.push_back(&microKernelGeneric());
    std::vector<double> best(cands.size(), 0);
    for (int round = 0; round < 3; ++round)
      for (size_t i = 0; i < cands.size(); ++i) best[i] = std::max(best[i], tileRate(*cands[i]));
    size_t pick = 0;
    std::string rates;
    for (size_t i = 0; i < cands.size(); ++i) {
      if (best[i] > best[pick]) pick = i;
      char b[64];
      std::snprintf(b, sizeof b, "%s%s %.1f", i ? ", " : "", cands[i]->name, best[i] / 1e9);
      rates += b;
    }
    return AutoKernel{cands[pick], rates + " GMAC/s per thread", cands, best};
  }();
  return choice;
}

}  // namespace

std::string autoMicroKernelRates() { return autoKernel().rates; }

const MicroKernel& selectMicroKernel(const std::string& impl) {
  const CpuFeatures& f = cpuFeatures();
  if (impl == "auto") return *autoKernel().kernel;
  if (impl == "generic") return microKernelGeneric();
  if (impl == "avx2") {
    if (!f.avx2) throw KernelError("MatMul: impl 'avx2' requested but this CPU has no AVX2");
    return microKernelAvx2();
  }
  if (impl == "avx512") {
    if (!f.avx512) throw KernelError("MatMul: impl 'avx512' requested but this CPU has no AVX-512F/DQ");
    return microKernelAvx512();
  }
  if (impl == "ifma") {
    if (!f.avx512 || !f.ifma) throw KernelError("MatMul: impl 'ifma' requested but this CPU has no AVX-512 IFMA");
    return microKernelIfma();
  }
  if (impl == "amx") {
    if (!f.amx) throw KernelError("MatMul: impl 'amx' requested but this CPU (or its OS) offers no AMX-INT8 tiles");
    return microKernelAmx();
  }
  throw KernelError("MatMul: unknown impl '" + impl + "' (auto, generic, avx2, avx512, ifma or amx)");
}

namespace {

// KC * NR * 8 bytes of B stay in L1 while MC * KC * 8 bytes of A stay in L2.
// Measured on an AVX-512 EPYC (bench/RESULTS.md): KC 384 / MC 144 beat 128..512 / 48..192.
// Override at build time (-DTFE_MM_KC=...) to tune for another CPU.
#ifndef TFE_MM_KC
#define TFE_MM_KC 384
#define TFE_MM_MC 144
#endif
constexpr int64_t KC = TFE_MM_KC, MC = TFE_MM_MC, NC = 3072;

struct Buf {  // 64-byte aligned scratch that grows as needed
  std::vector<uint64_t> v;
  uint64_t* get(size_t n) {
    if (v.size() < n + 8) v.resize(n + 8);
    auto p = reinterpret_cast<uintptr_t>(v.data());
    return reinterpret_cast<uint64_t*>((p + 63) & ~uintptr_t(63));
  }
};

// Packs one strip of A or panel of B (`width` words per k) into `dst` with `pack`, in the
// micro-kernel's own form where it has one (MicroKernel::expand): packed into a scratch that is
// still in cache when it is expanded, so the form costs no pass of its own over memory.
template <class Pack>
void packFor(const MicroKernel& mk, bool isB, int64_t kc, int width, uint64_t* dst, Pack&& pack) {
  auto expand = isB && mk.expandB ? mk.expandB : mk.expand;
  if (!expand) return pack(dst);
  static thread_local Buf scratch;
  uint64_t* tmp = scratch.get(static_cast<size_t>(width) * kc);
  pack(tmp);
  expand(kc, width, tmp, dst);
}

void packB(const uint64_t* B, int64_t ldb, int64_t kc, int64_t nc, const MicroKernel& mk, uint64_t* Bp) {
  const int nr = mk.nr;
  int64_t panels = (nc + nr - 1) / nr;
  parallelFor(0, panels, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      int64_t j0 = p * nr, w = std::min<int64_t>(nr, nc - j0);
      packFor(mk, true, kc, nr, Bp + p * formWordsOf(mk, kc, nr), [&](uint64_t* dst) {
        for (int64_t k = 0; k < kc; ++k, dst += nr) {
          std::memcpy(dst, B + k * ldb + j0, w * 8);
          for (int64_t j = w; j < nr; ++j) dst[j] = 0;
        }
      });
    }
  });
}

void packA(const PackStripFn& packStrip, int64_t m, int64_t pc, int64_t kc, const MicroKernel& mk, uint64_t* Ap) {
  const int mr = mk.mr;
  int64_t strips = (m + mr - 1) / mr;
  parallelFor(0, strips, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) {
      int64_t i0 = s * mr;
      packFor(mk, false, kc, mr, Ap + s * formWordsOf(mk, kc, mr), [&](uint64_t* dst) { packStrip(i0, std::min<int64_t>(mr, m - i0), pc, kc, mr, dst); });
    }
  });
}

void blocked(const PackStripFn& packStrip, const uint64_t* B, uint64_t* C, int64_t m, int64_t k, int64_t n, const MicroKernel& mk) {
  const int mr = mk.mr, nr = mk.nr;
  static thread_local Buf abuf, bbuf;
  int threads = numThreads();
  const int64_t kcMax = mk.kcBlock ? mk.kcBlock : KC;
  for (int64_t jc = 0; jc < n; jc += NC) {
    int64_t nc = std::min(NC, n - jc);
    int64_t panels = (nc + nr - 1) / nr;
    // Equal K slices: 784 = 2 x 392, not 384 + 384 + a 16-wide slice that costs a full pass.
    int64_t slices = (k + kcMax - 1) / kcMax, kcStep = (k + slices - 1) / slices;
    for (int64_t pc = 0; pc < k; pc += kcStep) {
      int64_t kc = std::min(kcStep, k - pc);
      bool accumulate = pc > 0;
      const int64_t stripWords = formWordsOf(mk, kc, mr), panelWords = formWordsOf(mk, kc, nr);
      uint64_t* Bp = bbuf.get(panels * panelWords);
      packB(B + pc * n + jc, n, kc, nc, mk, Bp);
      // Task grid: balanced row blocks of at most MC rows x column groups of B panels, at least
      // four tasks per thread where the shape allows, handed out dynamically.
      int64_t rowBlocks = (m + MC - 1) / MC;
      int64_t mc = ((m + rowBlocks - 1) / rowBlocks + mr - 1) / mr * mr;
      rowBlocks = (m + mc - 1) / mc;
      int64_t colGroups = std::max<int64_t>(1, std::min<int64_t>(panels, (4 * threads + rowBlocks - 1) / rowBlocks));
      int64_t panelsPerGroup = (panels + colGroups - 1) / colGroups;
      colGroups = (panels + panelsPerGroup - 1) / panelsPerGroup;
      // A row block that only one task reads is packed by that task into its own cache-sized
      // buffer (MC x KC words), just before use. Packing all of A first would write and re-read
      // m x kc words: for conv2d's implicit im2col that is the whole column matrix (14.7 MB for
      // a batch of 128 MNIST images through a 5x5 convolution), which cost more than the products.
      bool ownA = colGroups == 1;
      uint64_t* Ap = ownA ? nullptr : abuf.get(((m + mr - 1) / mr) * stripWords);
      if (!ownA) packA(packStrip, m, pc, kc, mk, Ap);
      parallelForEach(rowBlocks * colGroups, [&](int64_t t) {
        alignas(64) uint64_t edge[32 * 32];  // the largest tile a kernel without runPartial may have
        static thread_local Buf blockBuf;
        int64_t ib = t / colGroups, cg = t % colGroups;
        int64_t i0 = ib * mc, i1 = std::min(m, i0 + mc);
        int64_t p0 = cg * panelsPerGroup, p1 = std::min(panels, p0 + panelsPerGroup);
        const uint64_t* Ablock = ownA ? nullptr : Ap + (i0 / mr) * stripWords;
        if (ownA) {
          uint64_t* dst = blockBuf.get(mc / mr * stripWords);
          for (int64_t i = i0; i < i1; i += mr)
            packFor(mk, false, kc, mr, dst + ((i - i0) / mr) * stripWords, [&](uint64_t* strip) { packStrip(i, std::min<int64_t>(mr, i1 - i), pc, kc, mr, strip); });
          Ablock = dst;
        }
        // Each B panel is reused across the MC rows of A before moving on.
        for (int64_t p = p0; p < p1; ++p) {
          for (int64_t i = i0; i < i1; i += mr) {
            int64_t j = p * nr, w = std::min<int64_t>(nr, nc - j);
            const uint64_t* bp = Bp + p * panelWords;
            int64_t h = std::min<int64_t>(mr, m - i);
            const uint64_t* ap = Ablock + ((i - i0) / mr) * stripWords;
            uint64_t* c = C + i * n + jc + j;
            if (h == mr && w == nr) {
              mk.run(kc, ap, bp, c, n, accumulate);
            } else if (mk.runPartial) {
              mk.runPartial(kc, ap, bp, c, n, accumulate, h, w);
            } else {
              mk.run(kc, ap, bp, edge, nr, false);
              for (int64_t a = 0; a < h; ++a)
                for (int64_t b = 0; b < w; ++b) c[a * n + b] = accumulate ? c[a * n + b] + edge[a * nr + b] : edge[a * nr + b];
            }
          }
        }
      });
    }
  }
}

// Whether mk computes this product with its narrow tiles (C transposed: MicroKernel::narrow).
bool useNarrow(const MicroKernel& mk, int64_t n) { return mk.narrow && n <= kNarrowMaxN && mk.narrow(n); }

// The narrow form of the product: tiles of R strips of 8 rows (R = mk.narrowStrips(n)) over all
// of k, each packed by the task that computes it, B read in place (k x n is small: n < 24).
void narrowProduct(const PackStripFn& packStrip, const uint64_t* B, uint64_t* C, int64_t m, int64_t k, int64_t n,
                   const MicroKernel& mk) {
  const NarrowTileFn tile = mk.narrow(n);
  const int R = mk.narrowStrips(n);
  const int64_t rowsPerTile = 8 * R, tiles = (m + rowsPerTile - 1) / rowsPerTile;
  // At least 2^18 multiply-adds per task (about 10 us): waking a pool thread costs that much.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(rowsPerTile * k * n, 1));
  parallelFor(0, tiles, grain, [&](int64_t lo, int64_t hi) {
    static thread_local Buf stripBuf;
    uint64_t* Ap = stripBuf.get(static_cast<size_t>(R) * 8 * k);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t i0 = t * rowsPerTile, h = std::min(rowsPerTile, m - i0);
      const int strips = static_cast<int>((h + 7) / 8);
      for (int s = 0; s < strips; ++s) packStrip(i0 + 8 * s, std::min<int64_t>(8, h - 8 * s), 0, k, 8, Ap + s * 8 * k);
      tile(k, Ap, strips, B, C + i0 * n, h);
    }
  });
}

// The share of a kernel's tile work that is useful for m x k x n: rows and columns of its edge
// tiles, the zero padding its form adds to each K slice, and the cost of making that form for A,
// which is made once per strip and used by every panel of B: with few panels (n near nr) it is not
// amortised. The cost of writing one word of the form is about kFormWordMacs multiply-adds
// (measured on the Intel Xeon of 2026-12-01: IFMA's two-word form on a 73728x25x20 product ran at
// 0.77x vpmullq where the tile rates and edges alone predicted 0.97x).
constexpr double kFormWordMacs = 4;

double usefulShare(const MicroKernel& mk, int64_t m, int64_t k, int64_t n) {
  auto share = [](int64_t x, int64_t multiple) { return static_cast<double>(x) / ((x + multiple - 1) / multiple * multiple); };
  // Narrow tiles fill every lane, but each strip vector loaded feeds only n products: measured
  // against the tile rate, about n / (n + 2) (0.83 at n = 10, a third at n = 1: load-bound).
  if (useNarrow(mk, n)) return share(m, 8) * n / (n + 2.0);
  const int64_t kcMax = mk.kcBlock ? mk.kcBlock : KC;
  const int64_t slices = (k + kcMax - 1) / kcMax, kc = (k + slices - 1) / slices;
  double form = 1;
  if (mk.expand) {
    const double wordsPerElement = static_cast<double>(formWordsOf(mk, kc, mk.mr)) / (static_cast<double>(mk.mr) * kc);
    const double panels = static_cast<double>((n + mk.nr - 1) / mk.nr);
    form = 1 / (1 + kFormWordMacs * wordsPerElement / (mk.nr * panels));
  }
  return share(m, mk.mr) * share(n, mk.nr) * share(kc, mk.kAlign) * form;
}

}  // namespace

const MicroKernel& selectMicroKernel(const std::string& impl, int64_t m, int64_t k, int64_t n) {
  if (impl != "auto" || m <= kSmallM || k == 0) return selectMicroKernel(impl);
  const AutoKernel& a = autoKernel();
  size_t pick = 0;
  double bestRate = 0;
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    const double rate = a.measured[i] * usefulShare(*a.candidates[i], m, k, n);
    if (rate > bestRate) {
      bestRate = rate;
      pick = i;
    }
  }
  return *a.candidates[pick];
}

void matmul2d(const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t m, int64_t k, int64_t n, const MicroKernel& mk) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::memset(C, 0, m * n * 8);
    return;
  }
  if (m <= kSmallM) {
    // Each thread owns a column range; ranges are multiples of 8 to keep vector loops whole, and
    // of 16 such groups where they can be (the AVX-512 row kernel's block for one row). A range
    // is at least 2^18 multiply-adds (about 10 us): waking a pool thread costs that much here, so
    // the batch-1 shapes (1x784x128: 100k) stay on one thread.
    int64_t groups = (n + 7) / 8;
    int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(8 * k * m, 1));
    grain = std::min(groups, (grain + 15) / 16 * 16);
    parallelFor(0, groups, grain, [&](int64_t lo, int64_t hi) {
      mk.rows(m, k, n, A, B, C, lo * 8, std::min(n, hi * 8));
    });
    return;
  }
  PackStripFn strip = [A, k](int64_t i0, int64_t rows, int64_t pc, int64_t kc, int mr, uint64_t* dst) {
    const uint64_t* src = A + i0 * k + pc;
    for (int64_t kk = 0; kk < kc; ++kk, dst += mr) {
      for (int64_t i = 0; i < rows; ++i) dst[i] = src[i * k + kk];
      for (int64_t i = rows; i < mr; ++i) dst[i] = 0;
    }
  };
  if (useNarrow(mk, n)) return narrowProduct(strip, B, C, m, k, n, mk);
  blocked(strip, B, C, m, k, n, mk);
}

void matmulPacked(const PackStripFn& packStrip, const uint64_t* B, uint64_t* C, int64_t m, int64_t k, int64_t n,
                  const MicroKernel& mk) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::memset(C, 0, m * n * 8);
    return;
  }
  if (useNarrow(mk, n)) return narrowProduct(packStrip, B, C, m, k, n, mk);
  blocked(packStrip, B, C, m, k, n, mk);
}

MatMulPlan planMatMul(const Tensor& a, const Tensor& b) {
  requireDType("MatMul", a, DType::Ring64, "first input");
  requireDType("MatMul", b, DType::Ring64, "second input");
  if (a.rank() < 2 || b.rank() < 2)
    throw KernelError("MatMul: " + shapeStr(a.shape) + " x " + shapeStr(b.shape) + ": both inputs need rank >= 2");
  int64_t m = a.shape[a.rank() - 2], k = a.shape[a.rank() - 1];
  int64_t k2 = b.shape[b.rank() - 2], n = b.shape[b.rank() - 1];
  if (k != k2)
    throw KernelError("MatMul: " + shapeStr(a.shape) + " x " + shapeStr(b.shape) + ": inner dimensions " +
                      std::to_string(k) + " and " + std::to_string(k2) + " differ");
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  if (!ba.empty() && !bb.empty() && ba != bb)
    throw KernelError("MatMul: " + shapeStr(a.shape) + " x " + shapeStr(b.shape) + ": batch dimensions " + shapeStr(ba) +
                      " and " + shapeStr(bb) + " differ");
  MatMulPlan p;
  p.out = ba.empty() ? bb : ba;
  p.batch = numel(p.out);
  p.out.push_back(m);
  p.out.push_back(n);
  p.m = m;
  p.k = k;
  p.n = n;
  p.strideA = ba.empty() ? 0 : m * k;
  p.strideB = bb.empty() ? 0 : k * n;
  return p;
}

namespace {

Outputs matmul(const Inputs& in, const Attrs& at) {
  const Tensor &a = in[0], &b = in[1];
  MatMulPlan p = planMatMul(a, b);
  const MicroKernel& mk = selectMicroKernel(at.getString("impl", "auto"), p.m, p.k, p.n);
  Tensor out = allocTensor(p.out, DType::Ring64);
  const uint64_t *pa = a.ptr<uint64_t>(), *pb = b.ptr<uint64_t>();
  uint64_t* pc = out.ptr<uint64_t>();
  for (int64_t i = 0; i < p.batch; ++i) matmul2d(pa + i * p.strideA, pb + i * p.strideB, pc + i * p.m * p.n, p.m, p.k, p.n, mk);
  return {out};
}

TFE_REGISTER_KERNEL("MatMul", 2, matmul);

}  // namespace
}  // namespace tfe
