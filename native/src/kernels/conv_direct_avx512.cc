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
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/conv_direct.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512ifma")
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
  // IFMA only: the filter's cross form (same layout) and the distance in words from an input word
  // to its cross form.
  const uint64_t* wx = nullptr;
  int64_t form = 0;
};

// A tile's sums (V vectors of 8 pixels x F filters) into the output: one 8 x 8 transpose per
// vector turns filters-per-register into pixels-per-register (NHWC), stored F lanes wide.
template <int V, int F>
inline void storeTransposed(const __m512i (&acc)[V][F], const PixelVec* vec, int64_t o) {
  const __mmask8 filters = static_cast<__mmask8>((1u << F) - 1);
  // Unrolled, so that acc is only ever indexed by constants and stays in registers.
#pragma GCC unroll 3
  for (int v = 0; v < V; ++v) {
    // A copy: transposing acc[v] in place would keep every sum in memory.
    __m512i r[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) r[j] = j < F ? acc[v][j] : _mm512_setzero_si512();
    transpose8x8(r);  // r[p]: pixel p's F sums (lanes F..7 are zero)
    for (int p = 0; p < vec[v].valid; ++p) _mm512_mask_storeu_epi64(vec[v].dst + p * o, filters, r[p]);
  }
}

// vpmullq: acc += a * b mod 2^64, one instruction (three micro-ops on Intel, one on AMD Zen).
template <int V, int F>
void tileMullo(const PixelVec* vec, const Taps& taps) {
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
  storeTransposed<V, F>(acc, vec, taps.o);
}

// The cross form of a word for the IFMA tile: its low 12 bits, and its top 12 bits from bit 36.
inline uint64_t crossForm(uint64_t v) { return (v & 0xFFF) | ((v >> 52) << 36); }

// IFMA (52-bit multiply-adds, one micro-op each, two per cycle on Intel): with a = a0 + 2^52 a1
// and b = b0 + 2^52 b1 (a0, b0 52 bits), a b mod 2^64 = a0 b0 + 2^52 (a0 b1 + a1 b0 mod 2^12).
// a0 b0 is madd52lo + 2^52 madd52hi of a and b themselves (IFMA reads only their low 52 bits).
// The cross term needs only a0 and b0 mod 2^12 (a0', b0'): one product of the cross forms
// X = a0' + 2^36 a1 and Y = b0' + 2^36 b1 (below 2^48) has a0' b1 + a1 b0' as its 2^36
// coefficient, and its low 52 bits are a0' b0' + 2^36 (a0' b1 + a1 b0' mod 2^16). Summed over
// k < 4096 taps, a0' b0' stays below 2^36, so bits 36 and up hold the cross sums mod 2^16.
// Three multiply-adds per product instead of vpmullq's three micro-ops and an add.
template <int V, int F>
void tileIfma(const PixelVec* vec, const Taps& taps) {
  __m512i lo[V][F], hi[V][F], cross[V][F];
  for (int v = 0; v < V; ++v)
    for (int f = 0; f < F; ++f) lo[v][f] = hi[v][f] = cross[v][f] = _mm512_setzero_si512();
  __mmask8 mask[V];
  for (int v = 0; v < V; ++v) mask[v] = static_cast<__mmask8>((1u << vec[v].valid) - 1);
  const uint64_t *w = taps.w, *wx = taps.wx;
  for (int64_t t = 0; t < taps.k; ++t, w += taps.o, wx += taps.o) {
    const int64_t off = taps.offset[t];
    __m512i a[V], ax[V];
    for (int v = 0; v < V; ++v) {
      a[v] = _mm512_maskz_loadu_epi64(mask[v], vec[v].src + off);
      ax[v] = _mm512_maskz_loadu_epi64(mask[v], vec[v].src + off + taps.form);
    }
#pragma GCC unroll 8
    for (int f = 0; f < F; ++f) {
      const __m512i b = _mm512_set1_epi64(static_cast<long long>(w[f]));
      const __m512i bx = _mm512_set1_epi64(static_cast<long long>(wx[f]));
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) {
        lo[v][f] = _mm512_madd52lo_epu64(lo[v][f], a[v], b);
        hi[v][f] = _mm512_madd52hi_epu64(hi[v][f], a[v], b);
        cross[v][f] = _mm512_madd52lo_epu64(cross[v][f], ax[v], bx);
      }
    }
  }
#pragma GCC unroll 3
  for (int v = 0; v < V; ++v)
#pragma GCC unroll 8
    for (int f = 0; f < F; ++f)
      lo[v][f] = _mm512_add_epi64(lo[v][f], _mm512_slli_epi64(_mm512_add_epi64(hi[v][f], _mm512_srli_epi64(cross[v][f], 36)), 52));
  storeTransposed<V, F>(lo, vec, taps.o);
}

// The cross forms' sums hold a0' b0' terms below bit 36: at most this many taps.
constexpr int64_t kIfmaMaxTaps = kDirectIfmaMaxTaps;

using TileFn = void (*)(const PixelVec*, const Taps&);

// One form of the kernel: its tiles (at most `vecs` vectors x `maxF` filters, within the 32
// registers) and whether it reads cross forms.
struct Variant {
  const char* name;
  int vecs, maxF;
  bool cross;
  TileFn (*tile)(int v, int f);
};

template <template <int, int> class T, int V, int... Fs>
constexpr std::array<TileFn, sizeof...(Fs)> tilesFor(std::integer_sequence<int, Fs...>) {
  return {T<V, Fs + 1>::run...};
}
template <int V, int F>
struct Mullo {
  static void run(const PixelVec* v, const Taps& t) { tileMullo<V, F>(v, t); }
};
template <int V, int F>
struct Ifma {
  static void run(const PixelVec* v, const Taps& t) { tileIfma<V, F>(v, t); }
};

TileFn mulloTile(int v, int f) {  // 3 x 8 sums
  static constexpr auto one = tilesFor<Mullo, 1>(std::make_integer_sequence<int, 8>{});
  static constexpr auto two = tilesFor<Mullo, 2>(std::make_integer_sequence<int, 8>{});
  static constexpr auto three = tilesFor<Mullo, 3>(std::make_integer_sequence<int, 8>{});
  return (v == 1 ? one : v == 2 ? two : three)[f - 1];
}
// 1 x 8 x three sums. Measured on the Intel Xeon of 2026-12-01 (tile rates, GMAC/s per thread,
// three runs): 1 x 8 11.4, 8.2, 11.7; 2 x 4 10.3, 6.9, 10.7; 3 x 2 8.1, 7.4, 8.7. Fewer unaligned
// input loads per multiply-add (they cross cache lines), more broadcasts.
TileFn ifmaTile(int, int f) {
  static constexpr auto one = tilesFor<Ifma, 1>(std::make_integer_sequence<int, 8>{});
  return one[f - 1];
}

constexpr Variant kMullo{"avx512", 3, 8, false, mulloTile};
constexpr Variant kIfma{"ifma", 1, 8, true, ifmaTile};

// Splits `total` into `parts` sizes as equal as possible (20 filters in blocks of 8: 7, 7, 6).
int64_t partSize(int64_t total, int64_t parts, int64_t i) { return total / parts + (i < total % parts ? 1 : 0); }

// Output rows [oy0, oy1) of image b. `pad` is this thread's scratch for the padded planar rows;
// `wx` the filter's cross form (IFMA).
void segment(const Variant& var, const uint64_t* x, const uint64_t* f, const uint64_t* wx, uint64_t* out, const ConvGeom& g,
             int64_t o, int64_t b, int64_t oy0, int64_t oy1, std::vector<uint64_t>& pad) {
  const int64_t rows = oy1 - oy0, k = g.patch();
  const int64_t wp = g.ow + g.kw - 1;  // padded row length (stride 1: every tap of every pixel)
  const uint64_t* base;
  int64_t ldp, plane, form = 0;
  // In place only without any padding: SAME with a kernel of 2 x 1 has none at the top and the
  // left but a row at the bottom, and reading the image's own rows there read the next image's.
  if (!var.cross && g.c == 1 && g.padTop == 0 && g.padLeft == 0 && wp == g.w && g.oh + g.kh - 1 == g.h) {
    base = x + (b * g.h + oy0) * g.w;  // one channel, VALID: the image's own rows
    ldp = g.w;
    plane = 0;
  } else {
    const int64_t hp = rows + g.kh - 1;
    ldp = wp;
    plane = hp * wp;
    form = var.cross ? g.c * plane : 0;  // the cross forms follow the planes
    pad.resize(static_cast<size_t>(g.c * plane * (var.cross ? 2 : 1)));
    for (int64_t r = 0; r < hp; ++r) {
      const int64_t y = oy0 + r - g.padTop;
      for (int64_t q = 0; q < wp; ++q) {
        const int64_t xx = q - g.padLeft;
        const bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
        const uint64_t* s = inside ? x + ((b * g.h + y) * g.w + xx) * g.c : nullptr;
        for (int64_t c = 0; c < g.c; ++c) {
          const uint64_t v = inside ? s[c] : 0;
          pad[c * plane + r * wp + q] = v;
          if (var.cross) pad[form + c * plane + r * wp + q] = crossForm(v);
        }
      }
    }
    base = pad.data();
  }
  std::vector<int64_t> offset(static_cast<size_t>(k));
  for (int64_t ky = 0, t = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx)
      for (int64_t c = 0; c < g.c; ++c, ++t) offset[t] = c * plane + ky * ldp + kx;
  // The segment's vectors of 8 pixels, row after row, taken var.vecs at a time (a short row's
  // vectors join the next row's, so that even ow = 8 keeps vecs x F sums in flight).
  const int64_t perRow = (g.ow + 7) / 8, vectors = rows * perRow;
  const int64_t blocks = (o + var.maxF - 1) / var.maxF;
  PixelVec vec[3], shifted[3];
  for (int64_t v0 = 0; v0 < vectors; v0 += var.vecs) {
    const int V = static_cast<int>(std::min<int64_t>(var.vecs, vectors - v0));
    for (int v = 0; v < V; ++v) {
      const int64_t r = (v0 + v) / perRow, x0 = (v0 + v) % perRow * 8;
      vec[v] = {base + r * ldp + x0, out + ((b * g.oh + oy0 + r) * g.ow + x0) * o,
                static_cast<int>(std::min<int64_t>(8, g.ow - x0))};
    }
    int64_t f0 = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int F = static_cast<int>(partSize(o, blocks, blk));
      const Taps taps{offset.data(), k, f + f0, o, wx ? wx + f0 : nullptr, form};
      for (int v = 0; v < V; ++v) shifted[v] = {vec[v].src, vec[v].dst + f0, vec[v].valid};
      var.tile(V, F)(shifted, taps);
      f0 += F;
    }
  }
}

void run(const Variant& var, const uint64_t* x, const uint64_t* f, uint64_t* out, const ConvGeom& g, int64_t o) {
  const int64_t k = g.patch(), totalRows = g.n * g.oh;
  if (totalRows == 0 || g.ow == 0 || o == 0) return;
  std::vector<uint64_t> wx;
  if (var.cross) {
    wx.resize(static_cast<size_t>(k * o));
    for (size_t i = 0; i < wx.size(); ++i) wx[i] = crossForm(f[i]);
  }
  // At least 2^18 multiply-adds per task (about 10 us: what waking a pool thread costs), and
  // segments whose padded rows stay within about 256 KiB.
  const int64_t rowMacs = std::max<int64_t>(1, g.ow * o * k);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / rowMacs);
  const int64_t wp = g.ow + g.kw - 1;
  const int64_t segRows = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.c * wp * (var.cross ? 2 : 1)) - g.kh + 1);
  parallelFor(0, totalRows, grain, [&](int64_t lo, int64_t hi) {
    static thread_local std::vector<uint64_t> pad;
    for (int64_t r = lo; r < hi;) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      const int64_t end = std::min({hi - r, g.oh - oy, segRows});
      segment(var, x, f, wx.empty() ? nullptr : wx.data(), out, g, o, b, oy, oy + end, pad);
      r += end;
    }
  });
}

// Multiply-adds per second of a variant's full tile on one thread, over 64 taps of an in-cache
// row, as matmul.cc's tileRate times the GEMM tiles: best of three 200 us rounds.
double measureTileRate(const Variant& var) {
  constexpr int64_t k = 64;
  const int64_t o = var.maxF, form = k + 32;
  std::vector<uint64_t> in(2 * form), w(k * o), wx(k * o), out(24 * o);
  for (size_t i = 0; i < in.size(); ++i) in[i] = 0x9E3779B97F4A7C15ull * (i + 1);
  for (size_t i = 0; i < w.size(); ++i) wx[i] = crossForm(w[i] = 0xC2B2AE3D27D4EB4Full * (i + 1));
  std::vector<int64_t> offset(k);
  for (int64_t t = 0; t < k; ++t) offset[t] = t % 5 + 2 * (t / 5);  // a few rows of taps, unaligned
  PixelVec vec[3];
  for (int v = 0; v < 3; ++v) vec[v] = {in.data() + 8 * v, out.data() + 8 * v * o, 8};
  const Taps taps{offset.data(), k, w.data(), o, wx.data(), form};
  const TileFn tile = var.tile(var.vecs, var.maxF);
  using Clock = std::chrono::steady_clock;
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    int64_t calls = 0;
    double seconds = 0;
    do {
      for (int r = 0; r < 16; ++r, ++calls) tile(vec, taps);
      seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (seconds < 200e-6);
    best = std::max(best, static_cast<double>(calls) * 8 * var.vecs * o * k / seconds);
  }
  return best;
}

struct Measured {
  const Variant* best;
  std::string rates;  // "avx512 7.8, ifma 9.9 GMAC/s per thread"
};

const Measured& measured() {
  static const Measured m = [] {
    const double mullo = measureTileRate(kMullo);
    const double ifma = cpuFeatures().ifma ? measureTileRate(kIfma) : 0;
    char b[96];
    if (cpuFeatures().ifma) std::snprintf(b, sizeof b, "%s %.1f, %s %.1f GMAC/s per thread", kMullo.name, mullo / 1e9, kIfma.name, ifma / 1e9);
    else std::snprintf(b, sizeof b, "%s %.1f GMAC/s per thread", kMullo.name, mullo / 1e9);
    return Measured{ifma > mullo ? &kIfma : &kMullo, b};
  }();
  return m;
}

}  // namespace

std::string convDirectRates() { return measured().rates; }

void convDirectAvx512(const std::string& impl, const uint64_t* x, const uint64_t* f, uint64_t* out, const ConvGeom& g, int64_t o) {
  const Variant* var = measured().best;
  if (impl == "direct-avx512") var = &kMullo;
  if (impl == "direct-ifma") {
    if (!cpuFeatures().ifma) throw KernelError("Conv2D: impl 'direct-ifma' requested but this CPU has no AVX-512 IFMA");
    var = &kIfma;
  }
  if (var == &kIfma && g.patch() > kIfmaMaxTaps) {
    if (impl == "direct-ifma")
      throw KernelError("Conv2D: impl 'direct-ifma' takes at most " + std::to_string(kIfmaMaxTaps) + " taps (kh*kw*c), got " +
                        std::to_string(g.patch()));
    var = &kMullo;
  }
  run(*var, x, f, out, g, o);
}

}  // namespace tfe
#pragma GCC pop_options
#else
namespace tfe {
void convDirectAvx512(const std::string&, const uint64_t*, const uint64_t*, uint64_t*, const ConvGeom&, int64_t) {}
std::string convDirectRates() { return ""; }
}  // namespace tfe
#endif
