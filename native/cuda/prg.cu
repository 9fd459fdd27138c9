// CUDA PRG kernels: the same AES-128-CTR streams as native/src/prg/prg_kernels.cc, bit for bit
// (see the stream layout there). Keys are expanded on the host with the CPU key schedule and
// passed by value; the AES rounds and per-element logic are the TFE_HD code of aes_device.h,
// which test/host_check_aes.cc checks against the CPU PRG on machines without a GPU.
#include <string>
#include <vector>

#include "core/registry.h"
#include "cuda/aes_device.h"
#include "cuda/device.h"
#include "kernels/check.h"
#include "prg/prg_args.h"

namespace tfe {
namespace cuda {
namespace {

constexpr unsigned kThreads = 256;  // the tiled kernels assume exactly this block size
constexpr unsigned kPermRows = 128; // rows per block in PrgPermutation (128 x 256 B shared)

__device__ const AesTable kDeviceAesTable = makeAesTable();

__device__ __forceinline__ uint64_t umin64(uint64_t a, uint64_t b) { return a < b ? a : b; }
__device__ __forceinline__ uint64_t umax64(uint64_t a, uint64_t b) { return a > b ? a : b; }

// Every thread of the block must call this (it synchronises).
__device__ __forceinline__ void loadTable(uint32_t* t0) {
  for (unsigned i = threadIdx.x; i < 256; i += blockDim.x) t0[i] = kDeviceAesTable.t0[i];
  __syncthreads();
}

// The shared attribute parsing (prg/prg_args.h), with the key schedule in the kernels' form.
struct DevicePrgArgs {
  AesRoundKeys keys;
  uint64_t nonce, offset;
  Shape shape;
};

DevicePrgArgs parseArgs(const std::string& op, const Attrs& at) {
  PrgArgs c = parsePrgArgs(op, at);
  return {toRoundKeys(c.key), c.nonce, c.offset, c.shape};
}

// Element g (global index) is the little-endian word at keystream byte 8g: one thread per AES
// block, two elements each.
__global__ void prgRingKernel(AesRoundKeys k, uint64_t nonce, uint64_t offset, uint64_t n, uint64_t* out) {
  __shared__ uint32_t t0[256];
  loadTable(t0);
  const uint64_t first = offset / 2, nblocks = (offset + n + 1) / 2 - first;
  for (uint64_t i = blockIdx.x * uint64_t(blockDim.x) + threadIdx.x; i < nblocks; i += uint64_t(gridDim.x) * blockDim.x) {
    uint64_t b = first + i;
    uint32_t w[4];
    aesCtrBlock(k, t0, nonce, b, w);
    for (unsigned h = 0; h < 2; ++h) {
      uint64_t g = 2 * b + h;
      if (g >= offset && g < offset + n) out[g - offset] = blockRing(w, h);
    }
  }
}

// Bits and field elements come 128 and 16 to an AES block. A block of threads encrypts 256
// consecutive AES blocks (a tile) into shared memory, then writes the tile's outputs with
// consecutive threads on consecutive bytes, so the byte stores coalesce.
__global__ void prgBitsKernel(AesRoundKeys k, uint64_t nonce, uint64_t offset, uint64_t n, uint8_t* out) {
  __shared__ uint32_t t0[256];
  __shared__ uint32_t ks[4][kThreads];  // word q of the tile's block t at ks[q][t]
  loadTable(t0);
  const uint64_t first = offset / 128, nblocks = (offset + n - 1) / 128 - first + 1;
  const uint64_t tiles = (nblocks + kThreads - 1) / kThreads;
  for (uint64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const uint64_t b0 = first + tile * kThreads;
    if (b0 + threadIdx.x < first + nblocks) {
      uint32_t w[4];
      aesCtrBlock(k, t0, nonce, b0 + threadIdx.x, w);
      for (unsigned q = 0; q < 4; ++q) ks[q][threadIdx.x] = w[q];
    }
    __syncthreads();
    const uint64_t lo = umax64(b0 * 128, offset), hi = umin64((b0 + kThreads) * 128, offset + n);
    for (uint64_t g = lo + threadIdx.x; g < hi; g += kThreads) {
      uint64_t byte = g / 8 - b0 * 16;  // byte within the tile
      uint32_t word = ks[(byte % 16) / 4][byte / 16];
      out[g - offset] = static_cast<uint8_t>((word >> (24 - 8 * (byte % 4) + g % 8)) & 1u);
    }
    __syncthreads();  // before the next tile overwrites ks
  }
}

// The first attempt for element g is keystream word g (eight per block); rejected elements run
// their own retry blocks in the thread that found them (rare enough that the divergence is cheap).
__global__ void prgFieldKernel(AesRoundKeys k, uint64_t nonce, uint64_t offset, uint64_t n, FieldParams f,
                               uint8_t* out) {
  __shared__ uint32_t t0[256];
  __shared__ uint8_t vals[8 * kThreads];
  loadTable(t0);
  const uint64_t first = offset / 8, nblocks = (offset + n - 1) / 8 - first + 1;
  const uint64_t tiles = (nblocks + kThreads - 1) / kThreads;
  for (uint64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const uint64_t b0 = first + tile * kThreads, b = b0 + threadIdx.x;
    if (b < first + nblocks) {
      uint32_t w[4];
      aesCtrBlock(k, t0, nonce, b, w);
      unsigned rejected = 0;  // bit i: word i of this block was rejected
#pragma unroll
      for (unsigned i = 0; i < 8; ++i) {
        int v = prgFieldFromWord(blockWord16(w, i), f);
        vals[8 * threadIdx.x + i] = static_cast<uint8_t>(v);
        if (v < 0) rejected |= 1u << i;
      }
      // One (not unrolled) retry path keeps a single inlined copy of the retry loop's AES.
      for (; rejected; rejected &= rejected - 1) {
        unsigned i = __ffs(rejected) - 1;
        uint64_t g = 8 * b + i;
        if (g >= offset && g < offset + n) vals[8 * threadIdx.x + i] = prgFieldRetry(k, t0, nonce, g, f);
      }
    }
    __syncthreads();
    const uint64_t lo = umax64(b0 * 8, offset), hi = umin64((b0 + kThreads) * 8, offset + n);
    for (uint64_t g = lo + threadIdx.x; g < hi; g += kThreads) out[g - offset] = vals[g - b0 * 8];
    __syncthreads();
  }
}

// One thread per row; the rows of a block are interleaved in shared memory (row t's entry i at
// perm[i][t]), so that threads swapping at the same position hit different banks, and the block's
// rows, contiguous in the output, are written out coalesced.
__global__ void prgPermutationKernel(AesRoundKeys k, uint64_t nonce, uint64_t offset, uint64_t rows, unsigned len,
                                     uint64_t* out) {
  __shared__ uint32_t t0[256];
  __shared__ uint8_t perm[256][kPermRows];
  loadTable(t0);
  const uint64_t tiles = (rows + kPermRows - 1) / kPermRows;
  for (uint64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const uint64_t r0 = tile * kPermRows, count = umin64(kPermRows, rows - r0);
    if (threadIdx.x < count) prgPermutationRow(k, t0, nonce, offset + r0 + threadIdx.x, len, &perm[0][threadIdx.x], kPermRows);
    __syncthreads();
    for (uint64_t q = threadIdx.x; q < count * len; q += blockDim.x) out[r0 * len + q] = perm[q % len][q / len];
    __syncthreads();
  }
}

Outputs prgRing(const Inputs&, const Attrs& at) {
  DevicePrgArgs a = parseArgs("PrgRing", at);
  Tensor out = allocDevice(a.shape, DType::Ring64);
  uint64_t n = static_cast<uint64_t>(out.size());
  if (n == 0) return {out};
  uint64_t nblocks = (a.offset + n + 1) / 2 - a.offset / 2;
  prgRingKernel<<<gridFor(static_cast<int64_t>(nblocks), kThreads), kThreads, 0, currentStream()>>>(
      a.keys, a.nonce, a.offset, n, devPtr<uint64_t>(out));
  TFE_CUDA_LAUNCHED();
  return {out};
}

Outputs prgBits(const Inputs&, const Attrs& at) {
  DevicePrgArgs a = parseArgs("PrgBits", at);
  Tensor out = allocDevice(a.shape, DType::Bit);
  uint64_t n = static_cast<uint64_t>(out.size());
  if (n == 0) return {out};
  uint64_t nblocks = (a.offset + n - 1) / 128 - a.offset / 128 + 1;
  prgBitsKernel<<<gridFor(static_cast<int64_t>(nblocks), kThreads), kThreads, 0, currentStream()>>>(
      a.keys, a.nonce, a.offset, n, devPtr<uint8_t>(out));
  TFE_CUDA_LAUNCHED();
  return {out};
}

Outputs prgField(const Inputs&, const Attrs& at) {
  DevicePrgArgs a = parseArgs("PrgField", at);
  int64_t p = at.getInt("modulus");
  DType dt;
  uint32_t mod;
  parseDType("z" + std::to_string(p), &dt, &mod);  // validates that p is a prime in (2, 256)
  Tensor out = allocDevice(a.shape, DType::Field, mod);
  const bool nonzero = at.getBool("nonzero", false);
  FieldParams f;
  f.range = nonzero ? mod - 1 : mod;
  f.base = nonzero ? 1 : 0;
  f.limit = 65536 - 65536 % f.range;
  uint64_t n = static_cast<uint64_t>(out.size());
  if (n == 0) return {out};
  uint64_t nblocks = (a.offset + n - 1) / 8 - a.offset / 8 + 1;
  prgFieldKernel<<<gridFor(static_cast<int64_t>(nblocks), kThreads), kThreads, 0, currentStream()>>>(
      a.keys, a.nonce, a.offset, n, f, devPtr<uint8_t>(out));
  TFE_CUDA_LAUNCHED();
  return {out};
}

Outputs prgPermutation(const Inputs&, const Attrs& at) {
  PrgArgs c = parsePrgArgs("PrgPermutation", at);
  int64_t rows = prgPermutationRows(c), len = c.shape.back();
  DevicePrgArgs a{toRoundKeys(c.key), c.nonce, c.offset, c.shape};
  Tensor out = allocDevice(a.shape, DType::Ring64);
  if (rows == 0) return {out};
  prgPermutationKernel<<<gridFor(rows, kPermRows), kPermRows, 0, currentStream()>>>(
      a.keys, a.nonce, a.offset, static_cast<uint64_t>(rows), static_cast<unsigned>(len), devPtr<uint64_t>(out));
  TFE_CUDA_LAUNCHED();
  return {out};
}

// out[r, perm[r, i]] = x[r, i]. Each (r, i) claims bit r * len + perm[r, i] of a bitmap; an
// index out of range or a bit already claimed marks row r bad (the lowest bad row wins, which is
// the row the CPU's in-order scan reports). Bad indices are never written through.
template <typename T>
__global__ void permuteKernel(const T* x, const uint64_t* perm, uint64_t rows, uint64_t len, T* out,
                              unsigned long long* seen, unsigned long long* badRow) {
  const uint64_t n = rows * len;
  for (uint64_t e = blockIdx.x * uint64_t(blockDim.x) + threadIdx.x; e < n; e += uint64_t(gridDim.x) * blockDim.x) {
    uint64_t r = e / len, to = perm[e];
    if (to >= len) {
      atomicMin(badRow, static_cast<unsigned long long>(r));
      continue;
    }
    uint64_t bit = r * len + to;
    unsigned long long mask = 1ull << (bit % 64);
    if (atomicOr(&seen[bit / 64], mask) & mask) {
      atomicMin(badRow, static_cast<unsigned long long>(r));
      continue;
    }
    out[r * len + to] = x[e];
  }
}

Outputs permuteLastAxis(const Inputs& in, const Attrs&) {
  const Tensor &x = in[0], &perm = in[1];
  requireDType("PermuteLastAxis", perm, DType::Ring64, "permutation");
  if (x.shape != perm.shape || x.rank() < 1)
    throw KernelError("PermuteLastAxis: input " + shapeStr(x.shape) + " and permutation " + shapeStr(perm.shape) + " must have one shape");
  Tensor out = allocDevice(x.shape, x.dtype, x.modulus);
  int64_t len = x.shape.back(), rows = len ? x.size() / len : 0;
  int64_t n = rows * len;
  if (n == 0) return {out};
  useOnCurrentStream(x);
  useOnCurrentStream(perm);
  cudaStream_t s = currentStream();
  Tensor seen = allocDevice({(n + 63) / 64}, DType::Ring64);
  Tensor bad = allocDevice({1}, DType::Ring64);
  TFE_CUDA_CHECK(cudaMemsetAsync(devPtr<uint64_t>(seen), 0, static_cast<size_t>((n + 63) / 64) * 8, s));
  TFE_CUDA_CHECK(cudaMemsetAsync(devPtr<uint64_t>(bad), 0xff, 8, s));
  auto* seenP = reinterpret_cast<unsigned long long*>(devPtr<uint64_t>(seen));
  auto* badP = reinterpret_cast<unsigned long long*>(devPtr<uint64_t>(bad));
  const uint64_t* pm = devPtr<uint64_t>(perm);
  if (elemSize(x.dtype) == 8)
    permuteKernel<uint64_t><<<gridFor(n), kThreads, 0, s>>>(devPtr<uint64_t>(x), pm, rows, len, devPtr<uint64_t>(out), seenP, badP);
  else
    permuteKernel<uint8_t><<<gridFor(n), kThreads, 0, s>>>(devPtr<uint8_t>(x), pm, rows, len, devPtr<uint8_t>(out), seenP, badP);
  TFE_CUDA_LAUNCHED();
  // The one synchronisation: the CPU kernel refuses a row that is not a permutation, and the
  // permutation lives on the device, so the verdict has to come back before we return. Callers
  // pass PrgPermutation output (which is always valid); this kernel is off the per-gate hot path.
  uint64_t badRow = 0;
  download(bad, &badRow, 8, currentStreamId());
  if (badRow != ~uint64_t(0))
    throw KernelError("PermuteLastAxis: row " + std::to_string(badRow) + " is not a permutation");
  return {out};
}

TFE_REGISTER_CUDA_KERNEL("PrgPermutation", 0, prgPermutation);
TFE_REGISTER_CUDA_KERNEL("PermuteLastAxis", 2, permuteLastAxis);
TFE_REGISTER_CUDA_KERNEL("PrgRing", 0, prgRing);
TFE_REGISTER_CUDA_KERNEL("PrgBits", 0, prgBits);
TFE_REGISTER_CUDA_KERNEL("PrgField", 0, prgField);

}  // namespace
}  // namespace cuda
}  // namespace tfe
