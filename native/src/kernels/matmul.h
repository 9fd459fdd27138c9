// Ring matmul over Z_2^64 (uint64 wrap-around), shared by MatMul and Conv2D.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace tfe {

// A narrow product's tile (matmul_narrow_avx512.cc): C[h x n] = A * B for `strips` packed strips
// of A (8 rows, 8 k words each, consecutive), B k x n row-major, C's rows n apart; n is the
// function's own (one function per width).
using NarrowTileFn = void (*)(int64_t k, const uint64_t* Ap, int strips, const uint64_t* B, uint64_t* C, int64_t h);
// Up to 12 columns narrow tiles win; from about 14 the 8 x 24 tiles do as well or better (their
// waste is at most 4 lanes in 24, and the narrow tile's transposes cost as much). Measured on the
// Intel Xeon of 2026-12-01, 2048 x 256 x n on one thread, narrow / tiles: n = 1: 0.59, 4: 0.80,
// 8: 0.93, 10: 0.77, 12: 0.85, 13: 0.95, 14: 0.92-0.99, 16: 1.05-1.10, 20: 0.97, 23: 1.06.
constexpr int64_t kNarrowMaxN = 12;

// One register-blocked micro-kernel: C[MR x NR] (+)= Ap * Bp over kc steps, where
// Ap holds A's MR rows interleaved per k (Ap[k*MR + i]) and Bp holds B's NR columns per k.
struct MicroKernel {
  const char* name;
  int mr, nr;
  void (*run)(int64_t kc, const uint64_t* Ap, const uint64_t* Bp, uint64_t* C, int64_t ldc, bool accumulate);
  // Small-m path (matrix-vector like): C[m x n] = A[m x k] * B[k x n] for columns [j0, j1).
  void (*rows)(int64_t m, int64_t k, int64_t n, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t j0, int64_t j1);
  // Optional: like run, but writes only the top-left h x w of the tile. Without it the driver
  // computes edge tiles into scratch and copies the valid part.
  void (*runPartial)(int64_t kc, const uint64_t* Ap, const uint64_t* Bp, uint64_t* C, int64_t ldc, bool accumulate,
                     int64_t h, int64_t w) = nullptr;
  // Optional: run and runPartial read A and B in the kernel's own form, `limbs` words per element,
  // which `expand` makes from a packed strip or panel (`width` words per k) once per KC slice.
  int limbs = 1;
  void (*expand)(int64_t kc, int width, const uint64_t* packed, uint64_t* out) = nullptr;
  // Optional, for forms that are not `limbs` words per element: B panels get their own form
  // (expandB; expand then makes only A strips), and formWords gives the words one strip or panel
  // of kc steps takes (replacing width * kc * limbs).
  void (*expandB)(int64_t kc, int width, const uint64_t* packed, uint64_t* out) = nullptr;
  int64_t (*formWords)(int64_t kc, int width) = nullptr;
  // Optional: the K slice this kernel wants (0: the driver's default, TFE_MM_KC), and the multiple
  // its form rounds each slice up to (zero padding that costs products).
  int64_t kcBlock = 0;
  int kAlign = 1;
  // Optional: products with n <= kNarrowMaxN columns, C computed transposed (8 rows of C in the
  // lanes, a register per column), whole k at once: narrow(n) gives the tile function for width n
  // and narrowStrips(n) how many 8-row strips of A it takes at once.
  NarrowTileFn (*narrow)(int64_t n) = nullptr;
  int (*narrowStrips)(int64_t n) = nullptr;
};

NarrowTileFn narrowTileAvx512(int64_t n);  // valid only when the CPU has AVX-512F and DQ
int narrowStripsAvx512(int64_t n);

// Words one strip of A (width mr) or panel of B (width nr) of kc steps takes in mk's form.
inline int64_t formWordsOf(const MicroKernel& mk, int64_t kc, int width) {
  return mk.formWords ? mk.formWords(kc, width) : static_cast<int64_t>(width) * kc * mk.limbs;
}

const MicroKernel& microKernelGeneric();
const MicroKernel& microKernelAvx2();    // valid only when the CPU has AVX2
const MicroKernel& microKernelAvx512();  // valid only when the CPU has AVX-512F and DQ
const MicroKernel& microKernelIfma();    // valid only when the CPU has AVX-512F, DQ and IFMA
const MicroKernel& microKernelAmx();     // valid only when cpuFeatures().amx

// "auto" picks the fastest the CPU runs, measured on first use (matmul.cc); "generic", "avx2",
// "avx512", "ifma" and "amx" force one (error if unsupported).
const MicroKernel& selectMicroKernel(const std::string& impl);

// As above, but "auto" weighs each measured candidate by the share of its tiles' work that is
// useful for an m x k x n product (edge tiles, K padding): a 25-deep, 20-wide convolution uses
// 24% of the AMX kernel's 32x32 tiles and 64-byte K steps, and runs faster on vpmullq.
const MicroKernel& selectMicroKernel(const std::string& impl, int64_t m, int64_t k, int64_t n);

// What "auto" measured: each candidate's rate, as "avx512 41.2, ifma 8.3, avx2 12.1, generic 3.4 GMAC/s per thread".
std::string autoMicroKernelRates();

// Packs one strip of A: rows [i0, i0 + rows) and columns [pc, pc + kc) into dst[k * mr + i],
// zero-filling rows rows..mr-1. Lets conv2d pack patches straight from the image (no im2col copy).
using PackStripFn = std::function<void(int64_t i0, int64_t rows, int64_t pc, int64_t kc, int mr, uint64_t* dst)>;

// C[m x n] = A * B[k x n] where A (m x k) is only seen through packStrip. m must exceed kSmallM.
void matmulPacked(const PackStripFn& packStrip, const uint64_t* B, uint64_t* C, int64_t m, int64_t k, int64_t n,
                  const MicroKernel& mk);

// Below this many rows packing costs more than it saves: matmul2d uses the row kernel.
constexpr int64_t kSmallM = 4;

// C[m x n] = A[m x k] * B[k x n], all row-major and contiguous. Uses the thread pool.
void matmul2d(const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t m, int64_t k, int64_t n, const MicroKernel& mk);

}  // namespace tfe
