// AMX-INT8 micro-kernel: Z_2^64 products from 8-bit limbs on the tile unit, which does 1024 int8
// multiply-adds per cycle per core (Intel Sapphire Rapids and later) where vpmullq does about 5
// 64-bit ones. Split a = sum_t a_t 2^(8t) and b = sum_u b_u 2^(8u) into bytes. Modulo 2^64 only
// the 36 limb pairs with t + u <= 7 count:
//   a b mod 2^64 = sum_{s=0..7} 2^(8s) D_s,   D_s = sum_{t+u=s} a_t b_u,
// and over k the sums D_s[i][j] = sum_k sum_{t+u=s} a_t[i][k] b_u[k][j] are int8 matrix products
// that TDPBUUD (unsigned bytes, 32-bit accumulation) computes. Exactness: for s >= 4 the term is
// shifted by 32 or more bits, so D_s is needed only mod 2^32, which is what wrap-around 32-bit
// accumulation gives. For s <= 3 the sum must be exact: (s + 1) * kc * 255^2 < 2^32 while
// kc <= 16513, and the kernel asks the driver for K slices of kKc (kcBlock) at most.
//
// Forms (made once per K slice by expandA / expandB, with AVX512-VBMI byte permutes):
//   A strip (32 rows): 8 byte planes; plane t is 32 rows of kp bytes, a_t[i][k] at t*32*kp + i*kp + k;
//   B panel (32 columns): 8 planes in the tile unit's B layout (four k per 4-byte group):
//     b_u[k][j] at u*32*kp + (k/4)*128 + j*4 + k%4,
// with kp = kc rounded up to 64 and zero padding. A 32x32 tile of C is 2x2 tiles of 16x16 int32:
// per s, tiles 0..3 accumulate D_s over t and k (A halves in tiles 4, 5; B halves in 6, 7), then
// are stored and added, shifted by 8s, into 64-bit sums.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vbmi,amx-tile,amx-int8")

namespace tfe {
namespace {

constexpr int MR = 32, NR = 32, kPlanes = 8;
constexpr int64_t kKc = 512;  // (the exact bound is 16513; 512 keeps a strip and a panel, 128 KB each, in L2)

inline int64_t padK(int64_t kc) { return (kc + 63) / 64 * 64; }
int64_t formWords(int64_t kc, int width) { return kPlanes * width * padK(kc) / 8; }

// Index vectors for _mm512_permutex2var_epi8 (byte p of the result is byte idx[p] & 63 of the first
// operand, or of the second where bit 6 is set). One step of the byte transposes below merges two
// registers that hold, for `groups` byte positions g and 8 lanes l, `width` values per (g, l) at
// byte g*8*width + l*width + q, into one that holds 2*width values per (g, l) for half the positions
// (`upper` picks which half): groups g0..g0+groups/2 with q from the first register then the second.
struct MergeIndex {
  alignas(64) unsigned char idx[64];
  MergeIndex(int width, bool upper) {
    const int groups = 64 / (8 * width), half = groups / 2;
    for (int p = 0; p < 64; ++p) {
      int g = p / (16 * width), l = (p / (2 * width)) % 8, q = p % (2 * width);
      int src = q >= width ? 64 : 0;
      idx[p] = static_cast<unsigned char>(src + (g + (upper ? half : 0)) * 8 * width + l * width + q % width);
    }
  }
  __m512i vec() const { return _mm512_load_si512(idx); }
};

// Words of 8 lanes hold one value each (width 1 of 8 bytes g = 0..7): first turn bytes-of-a-word
// into positions, then merge. Stage 1 takes two registers of 8 words (lane l, byte g at l*8 + g)
// and gives, for bytes g in one half, the pair (x0, x1) per lane: byte g'*16 + l*2 + q.
struct Perms {
  __m512i s1lo, s1hi, s2lo, s2hi, s3lo, s3hi;
  Perms() {
    alignas(64) unsigned char a[64], b[64];
    for (int p = 0; p < 64; ++p) {  // result g'*16 + l*2 + q <- register q, byte l*8 + g
      int g = p / 16, l = (p / 2) % 8, q = p % 2;
      a[p] = static_cast<unsigned char>(q * 64 + l * 8 + g);
      b[p] = static_cast<unsigned char>(q * 64 + l * 8 + g + 4);
    }
    s1lo = _mm512_load_si512(a);
    s1hi = _mm512_load_si512(b);
    s2lo = MergeIndex(2, false).vec();
    s2hi = MergeIndex(2, true).vec();
    s3lo = MergeIndex(4, false).vec();
    s3hi = MergeIndex(4, true).vec();
  }
};

const Perms& perms() {
  static const Perms p;
  return p;
}

inline __m512i loadOrZero(const uint64_t* p, bool valid) { return valid ? _mm512_loadu_si512(p) : _mm512_setzero_si512(); }

// A strip, packed as in[k * 32 + i], into 8 planes of rows with k contiguous: blocks of 8 k x 8
// rows are an 8x8x8 byte transpose (three merge stages), stored as one 8-byte run per row and plane.
void expandA(int64_t kc, int width, const uint64_t* in, uint64_t* out) {
  const Perms& P = perms();
  const int64_t kp = padK(kc), kc8 = (kc + 7) / 8 * 8;
  unsigned char* o = reinterpret_cast<unsigned char*>(out);
  for (int t = 0; t < kPlanes; ++t)
    for (int i = 0; i < width; ++i) std::memset(o + (t * width + i) * kp + kc8, 0, kp - kc8);
  alignas(64) long long rowOff[8];
  for (int i = 0; i < 8; ++i) rowOff[i] = i * kp;
  const __m512i vindex = _mm512_load_si512(rowOff);
  for (int64_t k0 = 0; k0 < kc; k0 += 8)
    for (int i0 = 0; i0 < width; i0 += 8) {
      __m512i x[8], s1[4][2], s2[2][2][2];
      for (int k = 0; k < 8; ++k) x[k] = loadOrZero(in + (k0 + k) * width + i0, k0 + k < kc);
      for (int m = 0; m < 4; ++m) {  // k pairs: byte g'*16 + l*2 + q, g = h*4 + g'
        s1[m][0] = _mm512_permutex2var_epi8(x[2 * m], P.s1lo, x[2 * m + 1]);
        s1[m][1] = _mm512_permutex2var_epi8(x[2 * m], P.s1hi, x[2 * m + 1]);
      }
      for (int half = 0; half < 2; ++half)  // k quads: byte g''*32 + l*4 + q, g = h*4 + c*2 + g''
        for (int h = 0; h < 2; ++h) {
          s2[half][h][0] = _mm512_permutex2var_epi8(s1[2 * half][h], P.s2lo, s1[2 * half + 1][h]);
          s2[half][h][1] = _mm512_permutex2var_epi8(s1[2 * half][h], P.s2hi, s1[2 * half + 1][h]);
        }
      for (int h = 0; h < 2; ++h)  // all 8 k: byte l*8 + q for byte g = h*4 + c*2 + e of each word
        for (int c = 0; c < 2; ++c)
          for (int e = 0; e < 2; ++e) {
            __m512i w = _mm512_permutex2var_epi8(s2[0][h][c], e ? P.s3hi : P.s3lo, s2[1][h][c]);
            int g = h * 4 + c * 2 + e;
            _mm512_i64scatter_epi64(o + (g * width + i0) * kp + k0, vindex, w, 1);
          }
    }
}

// B panel, packed as in[k * 32 + j], into 8 planes in the tile unit's B layout: per four k and 8
// columns, a 4x8x8 byte transpose (two merge stages) gives 32 bytes of each plane.
void expandB(int64_t kc, int width, const uint64_t* in, uint64_t* out) {
  const Perms& P = perms();
  const int64_t kp = padK(kc), rowBytes = 4 * width;
  unsigned char* o = reinterpret_cast<unsigned char*>(out);
  for (int64_t r = 0; r < kp / 4; ++r) {
    const int64_t k0 = 4 * r;
    if (k0 >= kc) {
      for (int g = 0; g < kPlanes; ++g) std::memset(o + g * width * kp + r * rowBytes, 0, rowBytes);
      continue;
    }
    for (int j0 = 0; j0 < width; j0 += 8) {
      __m512i x[4], s1[2][2];
      for (int q = 0; q < 4; ++q) x[q] = loadOrZero(in + (k0 + q) * width + j0, k0 + q < kc);
      for (int m = 0; m < 2; ++m) {
        s1[m][0] = _mm512_permutex2var_epi8(x[2 * m], P.s1lo, x[2 * m + 1]);
        s1[m][1] = _mm512_permutex2var_epi8(x[2 * m], P.s1hi, x[2 * m + 1]);
      }
      for (int h = 0; h < 2; ++h)
        for (int c = 0; c < 2; ++c) {  // byte g''*32 + l*4 + q: planes g = h*4 + c*2 and g + 1
          __m512i w = _mm512_permutex2var_epi8(s1[0][h], c ? P.s2hi : P.s2lo, s1[1][h]);
          int g = h * 4 + c * 2;
          // Two masked stores, the second from 32 bytes before its target so that the upper
          // half lands there (masked-off lanes are never touched).
          unsigned char* lower = o + g * width * kp + r * rowBytes + j0 * 4;
          _mm512_mask_storeu_epi64(lower, 0x0F, w);
          _mm512_mask_storeu_epi64(lower + width * kp - 32, 0xF0, w);
        }
    }
  }
}

struct alignas(64) TileConfig {
  unsigned char palette = 1, startRow = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  unsigned char rows[16] = {};
  TileConfig() {
    for (int t = 0; t < 8; ++t) {  // every tile 16 rows of 64 bytes (C: 16 int32 per row)
      colsb[t] = 64;
      rows[t] = 16;
    }
  }
};

// (GCC's vector types: its _mm512_cvtepu32_epi64 and shifts draw false "uninitialized" warnings at -O2.)
typedef uint32_t U32x8 __attribute__((vector_size(32)));
typedef uint64_t U64x8 __attribute__((vector_size(64)));

template <bool Partial>
void tileImpl(int64_t kc, const uint64_t* Ap, const uint64_t* Bp, uint64_t* C, int64_t ldc, bool accumulate, int64_t h,
              int64_t w) {
  static const TileConfig config;
  const int64_t kp = padK(kc), plane = 32 * kp;
  const unsigned char* A = reinterpret_cast<const unsigned char*>(Ap);
  const unsigned char* B = reinterpret_cast<const unsigned char*>(Bp);
  _tile_loadconfig(&config);  // per call: cheap beside the products, and no per-thread state to trust
  alignas(64) uint64_t acc[MR * NR];
  alignas(64) uint32_t d[4][256];
  for (int s = 0; s < kPlanes; ++s) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int t = 0; t <= s; ++t) {
      const unsigned char* a = A + t * plane;
      const unsigned char* b = B + (s - t) * plane;
      for (int64_t k0 = 0; k0 < kp; k0 += 64) {
        _tile_loadd(4, a + k0, kp);
        _tile_loadd(5, a + 16 * kp + k0, kp);
        _tile_loadd(6, b + k0 / 4 * 128, 128);
        _tile_loadd(7, b + k0 / 4 * 128 + 64, 128);
        _tile_dpbuud(0, 4, 6);
        _tile_dpbuud(1, 4, 7);
        _tile_dpbuud(2, 5, 6);
        _tile_dpbuud(3, 5, 7);
      }
    }
    _tile_stored(0, d[0], 64);
    _tile_stored(1, d[1], 64);
    _tile_stored(2, d[2], 64);
    _tile_stored(3, d[3], 64);
    for (int q = 0; q < 4; ++q)  // tile q: rows (q / 2) * 16.., columns (q % 2) * 16..
      for (int r = 0; r < 16; ++r) {
        const U32x8* v = reinterpret_cast<const U32x8*>(d[q] + r * 16);
        U64x8* row = reinterpret_cast<U64x8*>(acc + ((q / 2) * 16 + r) * NR + (q % 2) * 16);
        const U64x8 lo = __builtin_convertvector(v[0], U64x8) << (8 * s), hi = __builtin_convertvector(v[1], U64x8) << (8 * s);
        row[0] = s ? row[0] + lo : lo;
        row[1] = s ? row[1] + hi : hi;
      }
  }
  for (int i = 0; i < (Partial ? h : MR); ++i) {
    uint64_t* c = C + i * ldc;
    for (int v = 0; v < NR / 8; ++v) {
      const int64_t left = Partial ? w - 8 * v : 8;
      if (left <= 0) break;
      const __mmask8 mask = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1);
      __m512i x = _mm512_load_si512(acc + i * NR + 8 * v);
      if (accumulate) x = _mm512_add_epi64(x, _mm512_maskz_loadu_epi64(mask, c + 8 * v));
      _mm512_mask_storeu_epi64(c + 8 * v, mask, x);
    }
  }
}

void tile(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate) {
  tileImpl<false>(kc, A, B, C, ldc, accumulate, MR, NR);
}

void tilePartial(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate, int64_t h,
                 int64_t w) {
  tileImpl<true>(kc, A, B, C, ldc, accumulate, h, w);
}

}  // namespace

// The accessor is compiled for the baseline ISA: it may be called before the CPU check.
#pragma GCC pop_options

const MicroKernel& microKernelAmx() {
  static const MicroKernel mk = [] {
    // Small m (the batch-1 shapes) reads B unpacked: vpmullq's row kernel serves it.
    MicroKernel k{"amx", MR, NR, tile, microKernelAvx512().rows, tilePartial, 1, expandA};
    k.expandB = expandB;
    k.formWords = formWords;
    k.kcBlock = kKc;
    k.kAlign = 64;
    return k;
  }();
  return mk;
}

}  // namespace tfe
#else
namespace tfe {
const MicroKernel& microKernelAmx() { return microKernelGeneric(); }
}  // namespace tfe
#endif
