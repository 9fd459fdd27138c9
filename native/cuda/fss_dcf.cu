// CUDA versions of the DCF and DPF kernels, bit-identical to the CPU ones (native/src/fss/dcf_keygen.cc,
// dcf_eval.cc, dcf_bit.cc, dpf.cc; construction and key layout in fss/dcf.h, fss/dcf_bit.h and
// fss/dpf.h): DcfKeygen, DcfKeygen2, DcfEval, DcfEval2, DcfBitKeygen, DcfBitEval, DcfKeygenMany,
// DcfEvalMany, DpfKeygen, DpfEval. The inputs and attributes go through the same checks as on the CPU (fss/dcf_args.h),
// so both refuse the same inputs with the same messages. The per-element work is the TFE_HD code
// of dcf_device.h and dpf_device.h, which test/host_check_dcf*.cc and host_check_dpf.cc compare
// with the CPU kernels without a GPU.
//
// One thread per element (grid-stride): a keygen thread walks both parties' trees for its
// element, an eval thread its party's path. Elements are independent, so nothing synchronises
// after the tables are staged. Each block stages the AES T-table and the round keys of G's four
// fixed keys in shared memory (the key set an eval thread hashes with depends on its x, so the
// index diverges within a warp: shared memory serves that without the serialisation constant
// memory would add).
//
// Memory layout: keys are tiled as on the CPU (fss/dcf.h, "Tiles": eight consecutive elements
// per tile, word-major inside it), so keys move between backends and over the wire unchanged,
// and eight consecutive threads read one line per key word.
#include <string>

#include "core/registry.h"
#include "cuda/dcf_device.h"
#include "cuda/dpf_device.h"
#include "cuda/device.h"
#include "fss/dcf.h"
#include "fss/dcf_args.h"
#include "fss/dpf.h"

namespace tfe {
namespace cuda {
namespace {

constexpr unsigned kThreads = 256;

__device__ const AesTable kDcfAesTable = makeAesTable();

// Every thread of the block must call this (it synchronises). keys[kDcfHashKeys] gets `prg` when
// given (keygen's PRG key, staged beside G's keys so that the walk reads all of them alike).
__device__ __forceinline__ void loadTables(const DcfFixedKeys& fk, const AesRoundKeys* prg, uint32_t* t0, AesRoundKeys* keys) {
  for (unsigned i = threadIdx.x; i < 256; i += blockDim.x) t0[i] = kDcfAesTable.t0[i];
  for (unsigned i = threadIdx.x; i < kDcfHashKeys * 44; i += blockDim.x) keys[i / 44].w[i % 44] = fk.k[i / 44].w[i % 44];
  if (prg)
    for (unsigned i = threadIdx.x; i < 44; i += blockDim.x) keys[kDcfHashKeys].w[i] = prg->w[i];
  __syncthreads();
}

// G's round keys from the CPU's fixed keys (expanded once).
const DcfFixedKeys& fixedKeys() {
  static const DcfFixedKeys fk = dcfFixedKeys();
  return fk;
}

// A keygen kernel's loop (tables staged by the caller): per element j, grid-stride, its two root
// seeds from the PRG stream and where its K-word keys start; walk(j, s0, s1, at, stride) makes them.
template <typename Walk>
__device__ __forceinline__ void keygenElements(const AesRoundKeys* keys, const uint32_t* t0, uint64_t nonce, uint64_t first, int64_t n,
                                               int64_t K, const Walk& walk) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    DcfBlock s0, s1;
    dcfRootSeeds(keys[kDcfHashKeys], t0, nonce, first + static_cast<uint64_t>(j), &s0, &s1);
    walk(j, s0, s1, dcfKeyOffsetHd(K, j), dcfTileRowsHd(n, j));
  }
}

template <int P>
__global__ void __launch_bounds__(kThreads)
    dcfKeygenKernel(DcfFixedKeys fk, AesRoundKeys prg, uint64_t nonce, uint64_t first, int bits, int64_t n,
                    const uint64_t* __restrict__ alpha, const uint64_t* __restrict__ beta0,
                    const uint64_t* __restrict__ beta1, uint64_t* __restrict__ key0, uint64_t* __restrict__ key1) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys + 1];
  loadTables(fk, &prg, t0, keys);
  keygenElements(keys, t0, nonce, first, n, dcfKeyWordsHd(bits, P), [&](int64_t j, DcfBlock s0, DcfBlock s1, int64_t at, int64_t stride) {
    const uint64_t beta[2] = {beta0[j], P > 1 ? beta1[j] : 0};
    dcfKeygenElement<P>(keys, t0, bits, alpha[j], beta, s0, s1, key0 + at, key1 + at, stride);
  });
}

template <int P>
__global__ void __launch_bounds__(kThreads)
    dcfEvalKernel(DcfFixedKeys fk, int bits, uint64_t party, int64_t n, const uint64_t* __restrict__ key,
                  const uint64_t* __restrict__ x, uint64_t* __restrict__ y0, uint64_t* __restrict__ y1) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys];
  loadTables(fk, nullptr, t0, keys);
  const int64_t K = dcfKeyWordsHd(bits, P);
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    uint64_t y[2];
    dcfEvalElement<P>(keys, t0, bits, party, key + dcfKeyOffsetHd(K, j), dcfTileRowsHd(n, j), x[j], y);
    y0[j] = y[0];
    if (P > 1) y1[j] = y[1];
  }
}

// The many-payload DCF (dcf.h "Many payloads"): beta and y are [n, P] row-major; a thread's row.
__global__ void __launch_bounds__(kThreads)
    dcfKeygenManyKernel(DcfFixedKeys fk, AesRoundKeys prg, uint64_t nonce, uint64_t first, int bits, int P, int64_t n,
                        const uint64_t* __restrict__ alpha, const uint64_t* __restrict__ beta, uint64_t* __restrict__ key0,
                        uint64_t* __restrict__ key1) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys + 1];
  loadTables(fk, &prg, t0, keys);
  keygenElements(keys, t0, nonce, first, n, dcfKeyWordsHd(bits, P), [&](int64_t j, DcfBlock s0, DcfBlock s1, int64_t at, int64_t stride) {
    dcfKeygenManyElement(keys, t0, bits, P, alpha[j], beta + j * P, s0, s1, key0 + at, key1 + at, stride);
  });
}

__global__ void __launch_bounds__(kThreads)
    dcfEvalManyKernel(DcfFixedKeys fk, int bits, int P, uint64_t party, int64_t n, const uint64_t* __restrict__ key,
                      const uint64_t* __restrict__ x, uint64_t* __restrict__ y) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys];
  loadTables(fk, nullptr, t0, keys);
  const int64_t K = dcfKeyWordsHd(bits, P);
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x)
    dcfEvalManyElement(keys, t0, bits, P, party, key + dcfKeyOffsetHd(K, j), dcfTileRowsHd(n, j), x[j], y + j * P);
}

__global__ void firstNonBitKernel(const uint64_t* v, int64_t n, unsigned long long* bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    if (v[i] > 1) atomicMin(bad, static_cast<unsigned long long>(i));
}

// Refuses offsets other than 0 and 1 with the CPU kernel's message. The one synchronisation of
// key generation (only the device knows whether there is one); keygen is the dealer's bulk work,
// so one wait per call costs little against it.
void checkBitOffsets(const Tensor& offset) {
  const int64_t n = offset.shape[0];
  cudaStream_t s = currentStream();
  Tensor bad = allocDevice({1}, DType::Ring64);
  TFE_CUDA_CHECK(cudaMemsetAsync(devPtr<uint64_t>(bad), 0xff, 8, s));
  firstNonBitKernel<<<gridFor(n, kThreads), kThreads, 0, s>>>(devPtr<uint64_t>(offset), n,
                                                              reinterpret_cast<unsigned long long*>(devPtr<uint64_t>(bad)));
  TFE_CUDA_LAUNCHED();
  uint64_t first = 0;
  download(bad, &first, 8, currentStreamId());
  if (first >= static_cast<uint64_t>(n)) return;
  uint64_t v = 0;
  TFE_CUDA_CHECK(cudaMemcpyAsync(&v, devPtr<uint64_t>(offset) + first, sizeof v, cudaMemcpyDeviceToHost, s));
  TFE_CUDA_CHECK(cudaStreamSynchronize(s));
  throw KernelError("DcfBitKeygen: offset must be 0 or 1 in every element, got " + std::to_string(v) + " at " + std::to_string(first));
}

__global__ void __launch_bounds__(kThreads)
    dcfBitKeygenKernel(DcfFixedKeys fk, AesRoundKeys prg, uint64_t nonce, uint64_t first, int bits, int64_t n,
                       const uint64_t* __restrict__ alpha, const uint64_t* __restrict__ offset, uint64_t* __restrict__ key0,
                       uint64_t* __restrict__ key1) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys + 1];
  loadTables(fk, &prg, t0, keys);
  keygenElements(keys, t0, nonce, first, n, fss::dcfBitKeyWords(bits), [&](int64_t j, DcfBlock d0, DcfBlock d1, int64_t at, int64_t stride) {
    dcfBitKeygenElement(keys, t0, bits, alpha[j], offset[j], d0, d1, key0 + at, key1 + at, stride);
  });
}

__global__ void __launch_bounds__(kThreads)
    dcfBitEvalKernel(DcfFixedKeys fk, int bits, uint64_t party, int64_t n, const uint64_t* __restrict__ key,
                     const uint64_t* __restrict__ x, uint8_t* __restrict__ y) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys];
  loadTables(fk, nullptr, t0, keys);
  const int64_t K = fss::dcfBitKeyWords(bits);
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x)
    y[j] = dcfBitEvalElement(keys, t0, bits, party, key + dcfKeyOffsetHd(K, j), dcfTileRowsHd(n, j), x[j]);
}

__global__ void __launch_bounds__(kThreads)
    dpfKeygenKernel(DcfFixedKeys fk, AesRoundKeys prg, uint64_t nonce, uint64_t first, int bits, int64_t n,
                    const uint64_t* __restrict__ alpha, const uint64_t* __restrict__ beta, uint64_t* __restrict__ key0,
                    uint64_t* __restrict__ key1) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys + 1];
  loadTables(fk, &prg, t0, keys);
  keygenElements(keys, t0, nonce, first, n, fss::dpfKeyWords(bits), [&](int64_t j, DcfBlock d0, DcfBlock d1, int64_t at, int64_t stride) {
    dpfKeygenElement(keys, t0, bits, alpha[j], beta[j], d0, d1, key0 + at, key1 + at, stride);
  });
}

__global__ void __launch_bounds__(kThreads)
    dpfEvalKernel(DcfFixedKeys fk, int bits, uint64_t party, int64_t n, const uint64_t* __restrict__ key, const uint64_t* __restrict__ x,
                  uint64_t* __restrict__ y) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys];
  loadTables(fk, nullptr, t0, keys);
  const int64_t K = fss::dpfKeyWords(bits);
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x)
    y[j] = dpfEvalElement(keys, t0, bits, party, key + dcfKeyOffsetHd(K, j), dcfTileRowsHd(n, j), x[j]);
}

// DpfEvalAll: one thread per key and point, each the point's own walk (dpfEvalElement): bits
// hashes per value where the CPU's tree expansion (dpf_all.cc) takes two per inner node; the host
// check (test/host_check_dpf.cc) compares the two word for word.
__global__ void __launch_bounds__(kThreads)
    dpfEvalAllKernel(DcfFixedKeys fk, int bits, uint64_t party, int64_t n, const uint64_t* __restrict__ key, uint64_t* __restrict__ y) {
  __shared__ uint32_t t0[256];
  __shared__ AesRoundKeys keys[kDcfHashKeys];
  loadTables(fk, nullptr, t0, keys);
  const int64_t K = fss::dpfKeyWords(bits), W = int64_t(1) << bits, total = n * W;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < total; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = j >> bits;
    y[j] = dpfEvalElement(keys, t0, bits, party, key + dcfKeyOffsetHd(K, e), dcfTileRowsHd(n, e), static_cast<uint64_t>(j & (W - 1)));
  }
}

// Inputs alpha, beta (P = 1) or alpha, beta0, beta1 (P = 2); outputs key0, key1 [n, K].
template <int P>
Outputs dcfKeygen(const Inputs& in, const Attrs& at) {
  const fss::DcfKeygenArgs a = fss::parseDcfKeygen(P == 1 ? "DcfKeygen" : "DcfKeygen2", in, at);
  const int64_t n = in[0].shape[0], K = fss::dcfKeyWords(a.bits, P);
  Tensor key0 = allocDevice({n, K}, DType::Ring64), key1 = allocDevice({n, K}, DType::Ring64);
  if (n == 0) return {key0, key1};
  for (const Tensor& t : in) useOnCurrentStream(t);
  dcfKeygenKernel<P><<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(
      fixedKeys(), toRoundKeys(a.prgKey), a.nonce, a.first, a.bits, n, devPtr<uint64_t>(in[0]), devPtr<uint64_t>(in[1]),
      P > 1 ? devPtr<uint64_t>(in[P]) : nullptr, devPtr<uint64_t>(key0), devPtr<uint64_t>(key1));
  TFE_CUDA_LAUNCHED();
  return {key0, key1};
}

// Inputs key [n, K], x [n]; outputs y (P = 1) or y0, y1 (P = 2).
template <int P>
Outputs dcfEval(const Inputs& in, const Attrs& at) {
  const fss::DcfEvalArgs a = fss::parseDcfEval(P == 1 ? "DcfEval" : "DcfEval2", P, in, at);
  const int64_t n = in[1].shape[0];
  Outputs outs;
  for (int p = 0; p < P; ++p) outs.push_back(allocDevice({n}, DType::Ring64));
  if (n == 0) return outs;
  useOnCurrentStream(in[0]);
  useOnCurrentStream(in[1]);
  dcfEvalKernel<P><<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(
      fixedKeys(), a.bits, a.party, n, devPtr<uint64_t>(in[0]), devPtr<uint64_t>(in[1]), devPtr<uint64_t>(outs[0]),
      P > 1 ? devPtr<uint64_t>(outs[P - 1]) : nullptr);
  TFE_CUDA_LAUNCHED();
  return outs;
}

// Inputs alpha, offset (each 0 or 1, checked on the host: the offsets are read back first);
// outputs key0, key1 [n, dcfBitKeyWords(bits)].
Outputs dcfBitKeygen(const Inputs& in, const Attrs& at) {
  const fss::DcfKeygenArgs a = fss::parseDcfKeygen("DcfBitKeygen", in, at, "offset");
  const int64_t n = in[0].shape[0], K = fss::dcfBitKeyWords(a.bits);
  Tensor key0 = allocDevice({n, K}, DType::Ring64), key1 = allocDevice({n, K}, DType::Ring64);
  if (n == 0) return {key0, key1};
  for (const Tensor& t : in) useOnCurrentStream(t);
  checkBitOffsets(in[1]);
  dcfBitKeygenKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), toRoundKeys(a.prgKey), a.nonce, a.first, a.bits, n,
                                                                               devPtr<uint64_t>(in[0]), devPtr<uint64_t>(in[1]),
                                                                               devPtr<uint64_t>(key0), devPtr<uint64_t>(key1));
  TFE_CUDA_LAUNCHED();
  return {key0, key1};
}

// Inputs key [n, dcfBitKeyWords(bits)], x [n]; output y [n] bit.
Outputs dcfBitEval(const Inputs& in, const Attrs& at) {
  const fss::DcfEvalArgs a = fss::parseDcfEval("DcfBitEval", fss::kDcfBitForm, in, at);
  const int64_t n = in[1].shape[0];
  Tensor y = allocDevice({n}, DType::Bit);
  if (n == 0) return {y};
  useOnCurrentStream(in[0]);
  useOnCurrentStream(in[1]);
  dcfBitEvalKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), a.bits, a.party, n, devPtr<uint64_t>(in[0]),
                                                                             devPtr<uint64_t>(in[1]), devPtr<uint8_t>(y));
  TFE_CUDA_LAUNCHED();
  return {y};
}

// Inputs alpha [n], beta [n, P]; outputs key0, key1 [n, dcfKeyWords(bits, P)].
Outputs dcfKeygenMany(const Inputs& in, const Attrs& at) {
  const fss::DcfKeygenArgs a = fss::parseDcfKeygenMany("DcfKeygenMany", in, at);
  const int64_t n = in[0].shape[0];
  const int P = static_cast<int>(in[1].shape[1]);
  const int64_t K = fss::dcfKeyWords(a.bits, P);
  Tensor key0 = allocDevice({n, K}, DType::Ring64), key1 = allocDevice({n, K}, DType::Ring64);
  if (n == 0) return {key0, key1};
  for (const Tensor& t : in) useOnCurrentStream(t);
  dcfKeygenManyKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), toRoundKeys(a.prgKey), a.nonce, a.first, a.bits, P, n,
                                                                              devPtr<uint64_t>(in[0]), devPtr<uint64_t>(in[1]),
                                                                              devPtr<uint64_t>(key0), devPtr<uint64_t>(key1));
  TFE_CUDA_LAUNCHED();
  return {key0, key1};
}

// Inputs key [n, dcfKeyWords(bits, P)], x [n]; attribute payloads = P; output y [n, P].
Outputs dcfEvalMany(const Inputs& in, const Attrs& at) {
  int P = 0;
  const fss::DcfEvalArgs a = fss::parseDcfEvalMany("DcfEvalMany", in, at, &P);
  const int64_t n = in[1].shape[0];
  Tensor y = allocDevice({n, P}, DType::Ring64);
  if (n == 0) return {y};
  useOnCurrentStream(in[0]);
  useOnCurrentStream(in[1]);
  dcfEvalManyKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), a.bits, P, a.party, n, devPtr<uint64_t>(in[0]),
                                                                            devPtr<uint64_t>(in[1]), devPtr<uint64_t>(y));
  TFE_CUDA_LAUNCHED();
  return {y};
}

// Inputs alpha, beta [n]; outputs key0, key1 [n, dpfKeyWords(bits)].
Outputs dpfKeygen(const Inputs& in, const Attrs& at) {
  const fss::DcfKeygenArgs a = fss::parseDcfKeygen("DpfKeygen", in, at);
  const int64_t n = in[0].shape[0], K = fss::dpfKeyWords(a.bits);
  Tensor key0 = allocDevice({n, K}, DType::Ring64), key1 = allocDevice({n, K}, DType::Ring64);
  if (n == 0) return {key0, key1};
  for (const Tensor& t : in) useOnCurrentStream(t);
  dpfKeygenKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), toRoundKeys(a.prgKey), a.nonce, a.first, a.bits, n,
                                                                            devPtr<uint64_t>(in[0]), devPtr<uint64_t>(in[1]), devPtr<uint64_t>(key0),
                                                                            devPtr<uint64_t>(key1));
  TFE_CUDA_LAUNCHED();
  return {key0, key1};
}

// Inputs key [n, dpfKeyWords(bits)], x [n]; output y [n] ring64.
Outputs dpfEval(const Inputs& in, const Attrs& at) {
  const fss::DcfEvalArgs a = fss::parseDcfEval("DpfEval", fss::kDpfForm, in, at);
  const int64_t n = in[1].shape[0];
  Tensor y = allocDevice({n}, DType::Ring64);
  if (n == 0) return {y};
  useOnCurrentStream(in[0]);
  useOnCurrentStream(in[1]);
  dpfEvalKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), a.bits, a.party, n, devPtr<uint64_t>(in[0]),
                                                                          devPtr<uint64_t>(in[1]), devPtr<uint64_t>(y));
  TFE_CUDA_LAUNCHED();
  return {y};
}

// Input key [n, dpfKeyWords(bits)]; output y [n, 2^bits] ring64.
Outputs dpfEvalAll(const Inputs& in, const Attrs& at) {
  const fss::DcfEvalArgs a = fss::parseDpfEvalAll(in, at);
  const int64_t n = in[0].shape[0], W = int64_t(1) << a.bits;
  Tensor y = allocDevice({n, W}, DType::Ring64);
  if (n == 0) return {y};
  useOnCurrentStream(in[0]);
  dpfEvalAllKernel<<<gridFor(n * W, kThreads), kThreads, 0, currentStream()>>>(fixedKeys(), a.bits, a.party, n, devPtr<uint64_t>(in[0]),
                                                                                devPtr<uint64_t>(y));
  TFE_CUDA_LAUNCHED();
  return {y};
}

TFE_REGISTER_CUDA_KERNEL("DcfKeygen", 2, dcfKeygen<1>);
TFE_REGISTER_CUDA_KERNEL("DcfKeygen2", 3, dcfKeygen<2>);
TFE_REGISTER_CUDA_KERNEL("DcfEval", 2, dcfEval<1>);
TFE_REGISTER_CUDA_KERNEL("DcfEval2", 2, dcfEval<2>);
TFE_REGISTER_CUDA_KERNEL("DcfBitKeygen", 2, dcfBitKeygen);
TFE_REGISTER_CUDA_KERNEL("DcfBitEval", 2, dcfBitEval);
TFE_REGISTER_CUDA_KERNEL("DcfKeygenMany", 2, dcfKeygenMany);
TFE_REGISTER_CUDA_KERNEL("DcfEvalMany", 2, dcfEvalMany);
TFE_REGISTER_CUDA_KERNEL("DpfKeygen", 2, dpfKeygen);
TFE_REGISTER_CUDA_KERNEL("DpfEval", 2, dpfEval);
TFE_REGISTER_CUDA_KERNEL("DpfEvalAll", 1, dpfEvalAll);

}  // namespace
}  // namespace cuda
}  // namespace tfe
