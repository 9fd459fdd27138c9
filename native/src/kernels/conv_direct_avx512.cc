// Direct stride-1 convolution on AVX-512: no im2col, output pixels in the lanes.
//
// Why: the im2col + GEMM path packs every output pixel's patch (kh*kw*c words per pixel) before
// its 8 x 24 tiles multiply, and puts filters in the lanes, so 20 filters fill 20 of 24. For the
// first layer of an image network (LeNet's 5x5 over one channel: 25 taps, 20 filters) the packing
// costs about as much as the products (bench/RESULTS.md, "Direct convolution"). Here a vector holds
// 8 consecutive output pixels of one output row, and for each tap (ky, kx, c) those pixels' inputs
// are 8 consecutive words of one row of the image: one load, no packing. Each filter of a block is
// a register (V vectors x F filters of sums, V <= 3, F <= 8), each tap's weight a broadcast. A
// tile leaves through one 8 x 8 transpose per vector (pixels x filters -> NHWC rows of filters).
//
// The image is read in place when it has one channel and no padding; otherwise each task copies
// the rows it needs into a zero-padded planar buffer (channel planes of padded rows), a few
// kilobytes per output row, so that every tap is an unconditional load.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/conv_direct.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq")
// As in matmul_narrow_avx512.cc: GCC 12 flags the unpack and shuffle intrinsics' own pass-through
// operand (_mm512_undefined_epi32) once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/avx512_transpose.h"

namespace tfe {
namespace {

// One vector of a tile: 8 output pixels along an output row starting at `src` (the top-left tap
// of the first pixel in the padded input) and written to `dst` (the first pixel's first filter of
// the block in the output); `valid` pixels (1..8) are real, the rest are past the row's end.
struct PixelVec {
  const uint64_t* src;
  uint64_t* dst;
  int valid;
};

// What every tile of one task shares: tap offsets into the padded input (ky, kx, c order, as the
// filter's rows), the filters, and the output's row length.
struct Taps {
  const int64_t* offset;  // k entries
  int64_t k;
  const uint64_t* w;  // filter [k, o] at the block's first filter
  int64_t o;
};

template <int V, int F>
void tile(const PixelVec* vec, const Taps& taps) {
  __m512i acc[V][F];
  for (int v = 0; v < V; ++v)
    for (int f = 0; f < F; ++f) acc[v][f] = _mm512_setzero_si512();
  __mmask8 mask[V];
  for (int v = 0; v < V; ++v) mask[v] = static_cast<__mmask8>((1u << vec[v].valid) - 1);
  const uint64_t* w = taps.w;
  for (int64_t t = 0; t < taps.k; ++t, w += taps.o) {
    const int64_t off = taps.offset[t];
    __m512i a[V];
    // Masked: a row's last vector stops at the row's end (no read past the buffer).
    for (int v = 0; v < V; ++v) a[v] = _mm512_maskz_loadu_epi64(mask[v], vec[v].src + off);
#pragma GCC unroll 8
    for (int f = 0; f < F; ++f) {
      const __m512i b = _mm512_set1_epi64(static_cast<long long>(w[f]));
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) acc[v][f] = _mm512_add_epi64(acc[v][f], _mm512_mullo_epi64(a[v], b));
    }
  }
  const __mmask8 filters = static_cast<__mmask8>((1u << F) - 1);
  // Unrolled, so that acc is only ever indexed by constants and stays in registers.
#pragma GCC unroll 3
  for (int v = 0; v < V; ++v) {
    // A copy: transposing acc[v] in place would keep every sum in memory.
    __m512i r[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) r[j] = j < F ? acc[v][j] : _mm512_setzero_si512();
    transpose8x8(r);  // r[p]: pixel p's F sums (lanes F..7 are zero)
    for (int p = 0; p < vec[v].valid; ++p) _mm512_mask_storeu_epi64(vec[v].dst + p * taps.o, filters, r[p]);
  }
}

using TileFn = void (*)(const PixelVec*, const Taps&);

template <int V, int... Fs>
constexpr std::array<TileFn, 8> tilesFor(std::integer_sequence<int, Fs...>) {
  return {tile<V, Fs + 1>...};
}

TileFn tileFn(int v, int f) {
  static constexpr std::array<TileFn, 8> one = tilesFor<1>(std::make_integer_sequence<int, 8>{});
  static constexpr std::array<TileFn, 8> two = tilesFor<2>(std::make_integer_sequence<int, 8>{});
  static constexpr std::array<TileFn, 8> three = tilesFor<3>(std::make_integer_sequence<int, 8>{});
  return (v == 1 ? one : v == 2 ? two : three)[f - 1];
}

// Splits `total` into `parts` sizes as equal as possible (20 filters: 7, 7, 6).
int64_t partSize(int64_t total, int64_t parts, int64_t i) { return total / parts + (i < total % parts ? 1 : 0); }

// Output rows [oy0, oy1) of image b. `pad` is this thread's scratch for the padded planar rows.
void segment(const uint64_t* x, const uint64_t* f, uint64_t* out, const ConvGeom& g, int64_t o, int64_t b,
             int64_t oy0, int64_t oy1, std::vector<uint64_t>& pad) {
  const int64_t rows = oy1 - oy0, k = g.patch();
  const int64_t wp = g.ow + g.kw - 1;  // padded row length (stride 1: every tap of every pixel)
  const uint64_t* base;
  int64_t ldp, plane;
  if (g.c == 1 && g.padTop == 0 && g.padLeft == 0 && wp == g.w) {
    base = x + (b * g.h + oy0) * g.w;  // one channel, VALID: the image's own rows
    ldp = g.w;
    plane = 0;
  } else {
    const int64_t hp = rows + g.kh - 1;
    ldp = wp;
    plane = hp * wp;
    pad.resize(static_cast<size_t>(g.c * plane));
    for (int64_t r = 0; r < hp; ++r) {
      const int64_t y = oy0 + r - g.padTop;
      for (int64_t q = 0; q < wp; ++q) {
        const int64_t xx = q - g.padLeft;
        const bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
        const uint64_t* s = inside ? x + ((b * g.h + y) * g.w + xx) * g.c : nullptr;
        for (int64_t c = 0; c < g.c; ++c) pad[c * plane + r * wp + q] = inside ? s[c] : 0;
      }
    }
    base = pad.data();
  }
  std::vector<int64_t> offset(static_cast<size_t>(k));
  for (int64_t ky = 0, t = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx)
      for (int64_t c = 0; c < g.c; ++c, ++t) offset[t] = c * plane + ky * ldp + kx;
  // The segment's vectors of 8 pixels, row after row, taken three at a time (a short row's
  // vectors join the next row's, so that even ow = 8 keeps 3 x F sums in flight).
  const int64_t perRow = (g.ow + 7) / 8, vectors = rows * perRow;
  const int64_t blocks = (o + 7) / 8;
  PixelVec vec[3];
  for (int64_t v0 = 0; v0 < vectors; v0 += 3) {
    const int V = static_cast<int>(std::min<int64_t>(3, vectors - v0));
    for (int v = 0; v < V; ++v) {
      const int64_t r = (v0 + v) / perRow, x0 = (v0 + v) % perRow * 8;
      vec[v] = {base + r * ldp + x0, out + ((b * g.oh + oy0 + r) * g.ow + x0) * o,
                static_cast<int>(std::min<int64_t>(8, g.ow - x0))};
    }
    int64_t f0 = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int F = static_cast<int>(partSize(o, blocks, blk));
      Taps taps{offset.data(), k, f + f0, o};
      PixelVec shifted[3];
      for (int v = 0; v < V; ++v) shifted[v] = {vec[v].src, vec[v].dst + f0, vec[v].valid};
      tileFn(V, F)(shifted, taps);
      f0 += F;
    }
  }
}

// Multiply-adds per second of the full tile (3 vectors x 8 filters) on one thread, over 64 taps
// of an in-cache row, as matmul.cc's tileRate times the GEMM tiles: best of three 200 us rounds.
double measureTileRate() {
  constexpr int64_t k = 64, o = 8;
  std::vector<uint64_t> in(k + 32), w(k * o), out(24 * o);
  for (size_t i = 0; i < in.size(); ++i) in[i] = 0x9E3779B97F4A7C15ull * (i + 1);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0xC2B2AE3D27D4EB4Full * (i + 1);
  std::vector<int64_t> offset(k);
  for (int64_t t = 0; t < k; ++t) offset[t] = t % 5 + 2 * (t / 5);  // a few rows of taps, unaligned
  const PixelVec vec[3] = {{in.data(), out.data(), 8}, {in.data() + 8, out.data() + 8 * o, 8}, {in.data() + 16, out.data() + 16 * o, 8}};
  const Taps taps{offset.data(), k, w.data(), o};
  using Clock = std::chrono::steady_clock;
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    int64_t calls = 0;
    double seconds = 0;
    do {
      for (int r = 0; r < 16; ++r, ++calls) tile<3, 8>(vec, taps);
      seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (seconds < 200e-6);
    best = std::max(best, static_cast<double>(calls) * 24 * o * k / seconds);
  }
  return best;
}

}  // namespace

double convDirectRate() {
  static const double rate = measureTileRate();
  return rate;
}

void convDirectAvx512(const uint64_t* x, const uint64_t* f, uint64_t* out, const ConvGeom& g, int64_t o) {
  const int64_t k = g.patch(), totalRows = g.n * g.oh;
  if (totalRows == 0 || g.ow == 0 || o == 0) return;
  // At least 2^18 multiply-adds per task (about 10 us: what waking a pool thread costs), and
  // segments whose padded rows stay within about 256 KiB.
  const int64_t rowMacs = std::max<int64_t>(1, g.ow * o * k);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / rowMacs);
  const int64_t wp = g.ow + g.kw - 1;
  const int64_t segRows = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.c * wp) - g.kh + 1);
  parallelFor(0, totalRows, grain, [&](int64_t lo, int64_t hi) {
    static thread_local std::vector<uint64_t> pad;
    for (int64_t r = lo; r < hi;) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      const int64_t end = std::min({hi - r, g.oh - oy, segRows});
      segment(x, f, out, g, o, b, oy, oy + end, pad);
      r += end;
    }
  });
}

}  // namespace tfe
#pragma GCC pop_options
#else
namespace tfe {
void convDirectAvx512(const uint64_t*, const uint64_t*, uint64_t*, const ConvGeom&, int64_t) {}
double convDirectRate() { return 0; }
}  // namespace tfe
#endif

namespace tfe {

double convDirectShare(const ConvGeom& g, int64_t o) {
  if (g.ow == 0 || o == 0) return 0;
  const double lanes = static_cast<double>(g.ow) / (8.0 * ((g.ow + 7) / 8));
  const int64_t blocks = (o + 7) / 8, smallest = o / blocks;
  // Three vectors of the smallest block's filters in flight: from 12 sums on, vpmullq's latency
  // (about 15 cycles, one issued every 1.5) is hidden.
  const double inFlight = std::min(1.0, 3.0 * static_cast<double>(smallest) / 12.0);
  return lanes * inFlight;
}

}  // namespace tfe
