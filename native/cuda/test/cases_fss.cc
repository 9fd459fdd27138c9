// Harness cases for the DCF and DPF kernels (fss_dcf.cu): keys and shares bit for bit against the CPU
// kernels for every domain size class, both payload counts, many payloads (DcfKeygenMany), the one-bit DCF and the DPF, stream offsets up to the largest
// allowed and sizes around the 256-thread block; bad inputs refused with the CPU's messages. And
// the DCF benchmark (--bench): keygen and eval throughput on the GPU beside the CPU kernels'.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "binding/backend.h"
#include "core/registry.h"
#include "cuda/device.h"
#include "cuda/test/gpu_timing.h"
#include "cuda/test/harness.h"
#include "fss/dcf.h"
#include "fss/dcf_bit.h"
#include "fss/dpf.h"

namespace tfe {
namespace cudatest {
namespace {

const int kBits[] = {1, 2, 17, 48, 49, 63, 64};  // 48, 49: FSS's gates after products
// Empty, one, around the block size (256), a non-multiple of it, and several blocks' worth.
const int64_t kSizes[] = {0, 1, 255, 256, 257, 1000, 5003};

std::vector<uint8_t> seedBytes(size_t n = 16) {
  std::vector<uint8_t> s(n);
  for (auto& b : s) b = static_cast<uint8_t>(nextRandom());
  return s;
}

Attrs keygenAttrs(int bits, uint64_t first, std::vector<uint8_t> seed = seedBytes()) {
  Attrs a;
  a.set("bits", int64_t(bits));
  a.set("seed", std::move(seed));
  a.set("nonce", nextRandom());
  a.set("first", first);
  return a;
}

Attrs evalAttrs(int bits, int64_t party) {
  Attrs a;
  a.set("bits", int64_t(bits));
  a.set("party", party);
  return a;
}

// P: payloads, 1 or 2, or 0 for the one-bit DCF (fss/dcf_bit.h), -1 for the DPF (fss/dpf.h).
const char* keygenName(int P) { return P < 0 ? "DpfKeygen" : P == 0 ? "DcfBitKeygen" : P == 1 ? "DcfKeygen" : "DcfKeygen2"; }
const char* evalName(int P) { return P < 0 ? "DpfEval" : P == 0 ? "DcfBitEval" : P == 1 ? "DcfEval" : "DcfEval2"; }
int64_t keyWords(int bits, int P) { return P < 0 ? fss::dpfKeyWords(bits) : P == 0 ? fss::dcfBitKeyWords(bits) : fss::dcfKeyWords(bits, P); }

// alpha and the betas, or for the one-bit DCF alpha and the offsets (0 or 1).
Inputs keygenInputs(int P, int64_t n) {
  Inputs in;
  for (int i = 0; i <= std::max(P, 1); ++i) in.push_back(randomHost({n}, DType::Ring64));
  if (P == 0)
    for (int64_t j = 0; j < n; ++j) in[1].ptr<uint64_t>()[j] &= 1;
  return in;
}

// x for the keys of alpha: a third equal to alpha (the boundary), a third alpha - 1, the rest random.
Tensor xNear(const Tensor& alpha) {
  Tensor x = randomHost(alpha.shape, DType::Ring64);
  for (int64_t j = 0; j < x.size(); ++j) {
    const uint64_t r = nextRandom() % 3;
    if (r < 2) x.ptr<uint64_t>()[j] = alpha.ptr<uint64_t>()[j] - r;
  }
  return x;
}

}  // namespace

TFE_CUDA_CASE(dcf_keygen_eval) {
  for (int bits : kBits)
    for (int P = -1; P <= 2; ++P)
      for (int64_t n : kSizes) {
        // Stream offsets: none, a random one, and the largest allowed (first + n = 2^63 - 1).
        const uint64_t firsts[] = {0, nextRandom() >> 20, (~uint64_t(0) >> 1) - static_cast<uint64_t>(n)};
        for (uint64_t first : firsts) {
          Inputs in = keygenInputs(P, n);
          Attrs at = keygenAttrs(bits, first);
          if (!compareKernel(keygenName(P), in, at)) {
            std::printf("  (bits %d, n %lld, first %llu)\n", bits, (long long)n, (unsigned long long)first);
            return false;
          }
          // Shares of the CPU's keys (equal to the GPU's, as just checked), for both parties.
          Outputs keys = findKernel(keygenName(P), KernelDevice::Host)->fn(in, at);
          Tensor x = xNear(in[0]);
          for (int64_t party = 0; party < 2; ++party)
            if (!compareKernel(evalName(P), {keys[party], x}, evalAttrs(bits, party))) {
              std::printf("  (bits %d, n %lld, party %lld)\n", bits, (long long)n, (long long)party);
              return false;
            }
        }
      }
  return true;
}

// Evaluation reads any words the same way, not only keygen's (every control bit set, odd seeds).
TFE_CUDA_CASE(dcf_eval_random_words) {
  for (int bits : kBits)
    for (int P = -1; P <= 2; ++P) {
      const int64_t n = 777;
      Tensor key = randomHost({n, keyWords(bits, P)}, DType::Ring64), x = randomHost({n}, DType::Ring64);
      for (int64_t party = 0; party < 2; ++party)
        if (!compareKernel(evalName(P), {key, x}, evalAttrs(bits, party))) return false;
    }
  return true;
}

// A large vector: many grid-stride rounds' worth of blocks, the 63-bit domain the protocol uses.
TFE_CUDA_CASE(dcf_large) {
  const int64_t n = 200003;
  for (int P = -1; P <= 2; ++P) {
    Inputs in = keygenInputs(P, n);
    Attrs at = keygenAttrs(63, nextRandom() >> 8);
    if (!compareKernel(keygenName(P), in, at)) return false;
    Outputs keys = findKernel(keygenName(P), KernelDevice::Host)->fn(in, at);
    if (!compareKernel(evalName(P), {keys[1], xNear(in[0])}, evalAttrs(63, 1))) return false;
  }
  return true;
}

// DpfEvalAll: every point of each key's domain, bit for bit against the CPU's tree expansion, for
// keygen's keys and random words, sizes around the block, both parties.
TFE_CUDA_CASE(dpf_eval_all) {
  for (int bits : {1, 5, 12, 15})
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(9), int64_t(257)}) {
      Inputs in = keygenInputs(-1, n);
      Outputs keys = findKernel("DpfKeygen", KernelDevice::Host)->fn(in, keygenAttrs(bits, 0));
      Tensor words = randomHost({n, fss::dpfKeyWords(bits)}, DType::Ring64);
      for (int64_t party = 0; party < 2; ++party)
        for (const Tensor& key : {keys[party], words})
          if (!compareKernel("DpfEvalAll", {key}, evalAttrs(bits, party))) {
            std::printf("  (bits %d, n %lld, party %lld)\n", bits, (long long)n, (long long)party);
            return false;
          }
    }
  return true;
}

// The many-payload DCF (DcfKeygenMany / DcfEvalMany): P payloads per element, beta and the
// shares [n, P]; keys and shares bit for bit against the CPU's, up to the most payloads.
TFE_CUDA_CASE(dcf_many_keygen_eval) {
  for (int bits : {1, 48, 64})
    for (int P : {1, 3, 20, fss::kDcfMaxPayloads})
      for (int64_t n : {int64_t(0), int64_t(1), int64_t(257), int64_t(P > 20 ? 300 : 5003)}) {
        Inputs in = {randomHost({n}, DType::Ring64), randomHost({n, P}, DType::Ring64)};
        Attrs at = keygenAttrs(bits, nextRandom() >> 20);
        if (!compareKernel("DcfKeygenMany", in, at)) {
          std::printf("  (bits %d, P %d, n %lld)\n", bits, P, (long long)n);
          return false;
        }
        Outputs keys = findKernel("DcfKeygenMany", KernelDevice::Host)->fn(in, at);
        Tensor x = xNear(in[0]);
        for (int64_t party = 0; party < 2; ++party) {
          Attrs ea = evalAttrs(bits, party);
          ea.set("payloads", int64_t(P));
          if (!compareKernel("DcfEvalMany", {keys[party], x}, ea)) {
            std::printf("  (bits %d, P %d, n %lld, party %lld)\n", bits, P, (long long)n, (long long)party);
            return false;
          }
        }
      }
  return true;
}

TFE_CUDA_CASE(dcf_refuses_with_cpu_messages) {
  bool ok = true;
  for (int P = -1; P <= 2; ++P) {
    const std::string kg = keygenName(P), ev = evalName(P);
    Inputs in = keygenInputs(P, 8);
    for (int64_t bits : {0, 65}) {
      Attrs a = keygenAttrs(8, 0);
      a.set("bits", bits);
      ok &= sameError(kg, in, a);
    }
    Attrs noBits;
    noBits.set("seed", seedBytes());
    noBits.set("nonce", uint64_t(1));
    ok &= sameError(kg, in, noBits);
    ok &= sameError(kg, in, keygenAttrs(8, 0, seedBytes(15)));
    Attrs noNonce;
    noNonce.set("bits", int64_t(8));
    noNonce.set("seed", seedBytes());
    ok &= sameError(kg, in, noNonce);
    ok &= sameError(kg, in, keygenAttrs(8, (~uint64_t(0) >> 1) - 7));  // first + n reaches 2^63
    Attrs badImpl = keygenAttrs(8, 0);
    badImpl.set("impl", std::string("bogus"));
    ok &= sameError(kg, in, badImpl);
    Inputs shortBeta = in;
    shortBeta[std::max(P, 1)] = randomHost({7}, DType::Ring64);
    ok &= sameError(kg, shortBeta, keygenAttrs(8, 0));
    Inputs fieldAlpha = in;
    fieldAlpha[0] = randomHost({8}, DType::Field, 67);
    ok &= sameError(kg, fieldAlpha, keygenAttrs(8, 0));
    Inputs matrixAlpha = in;
    matrixAlpha[0] = randomHost({2, 4}, DType::Ring64);
    ok &= sameError(kg, matrixAlpha, keygenAttrs(8, 0));

    if (P == 0) {
      Inputs notBit = in;
      notBit[1].ptr<uint64_t>()[3] = 2;  // an offset that is not a bit: found on the device
      ok &= sameError(kg, notBit, keygenAttrs(8, 0));
    }
    Tensor key = randomHost({8, keyWords(8, P)}, DType::Ring64), x = randomHost({8}, DType::Ring64);
    ok &= sameError(ev, {key, x}, evalAttrs(9, 0));                                    // key width
    ok &= sameError(ev, {key, x}, evalAttrs(8, 2));                                    // party
    ok &= sameError(ev, {key, x}, attrsWith("bits", int64_t(8)));                      // no party
    ok &= sameError(ev, {key, randomHost({9}, DType::Ring64)}, evalAttrs(8, 0));       // counts
    ok &= sameError(ev, {randomHost({8}, DType::Ring64), x}, evalAttrs(8, 0));         // key rank
    ok &= sameError(ev, {key, randomHost({8}, DType::Bit)}, evalAttrs(8, 0));          // x dtype
  }
  return ok;
}

namespace {

// Elements per second of the CPU kernel on n elements (one run after a warm-up, wall clock).
template <typename Fn>
double cpuRate(Fn fn, int64_t n) {
  fn();
  auto t0 = std::chrono::steady_clock::now();
  fn();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return double(n) / s;
}

}  // namespace

// Keygen and eval throughput at the 63-bit domain, 2^20 elements on the GPU (2^16 on the CPU,
// all its threads). The first 4096 GPU keys are checked against the CPU's, so a fast wrong
// kernel is flagged here too.
TFE_CUDA_BENCH(dcf_throughput) {
  const int bits = 63;
  const int64_t n = int64_t(1) << 20, nCpu = int64_t(1) << 16, nCheck = 4096;
  const cuda::DeviceStatus& st = cuda::deviceStatus();
  std::printf("DCF at bits = %d, %lld elements on %s (sm_%d%d); CPU: %lld elements\n", bits, (long long)n, st.name.c_str(),
              st.computeMajor, st.computeMinor, (long long)nCpu);
  bool ok = true;
  for (int P : {1, 2, 0}) {
    Inputs in = keygenInputs(P, n), din;
    for (const Tensor& t : in) din.push_back(toDevice(t));
    Attrs at = keygenAttrs(bits, 0);
    const KernelInfo* kg = resolveKernel(keygenName(P));
    const KernelInfo* ev = resolveKernel(evalName(P));
    Outputs dkeys;
    const double kgMs = timeMs([&] { dkeys = kg->fn(din, at); }, 3);
    Tensor dx = toDevice(xNear(in[0]));
    const double evMs = timeMs([&] { ev->fn({dkeys[0], dx}, evalAttrs(bits, 0)); }, 3);

    // The CPU on a prefix (element j's key depends only on j and the inputs at j).
    Inputs cin;
    for (const Tensor& t : in) {
      Tensor c = allocTensor({nCpu}, DType::Ring64);
      std::copy(t.ptr<uint64_t>(), t.ptr<uint64_t>() + nCpu, c.ptr<uint64_t>());
      cin.push_back(c);
    }
    const KernelInfo* ckg = findKernel(keygenName(P), KernelDevice::Host);
    const KernelInfo* cev = findKernel(evalName(P), KernelDevice::Host);
    Outputs ckeys;
    const double cpuKg = cpuRate([&] { ckeys = ckg->fn(cin, at); }, nCpu);
    Tensor cx = randomHost({nCpu}, DType::Ring64);
    const double cpuEv = cpuRate([&] { cev->fn({ckeys[0], cx}, evalAttrs(bits, 0)); }, nCpu);

    const int64_t K = keyWords(bits, P);
    std::vector<uint64_t> head(static_cast<size_t>(nCheck * K));
    cuda::download(dkeys[1], head.data(), head.size() * 8, cuda::currentStreamId());
    const bool same = std::equal(head.begin(), head.end(), ckeys[1].ptr<uint64_t>());
    ok &= same;
    const char* form = P == 0 ? "one-bit   " : P == 1 ? "1 payload " : "2 payloads";
    std::printf("  dcf keygen  %s %12.4g elements/s  (CPU %.4g)  %s\n", form, double(n) / (kgMs * 1e-3), cpuKg,
                same ? "keys = CPU's" : "KEYS DIFFER FROM THE CPU'S");
    std::printf("  dcf eval    %s %12.4g elements/s  (CPU %.4g)\n", form, double(n) / (evMs * 1e-3), cpuEv);
  }
  return ok;
}

// A folded product's keys (DcfKeygenMany / DcfEvalMany): 20 payloads (a head of 10 columns) at
// the 48 bits a gate after a Dense layer compares; 2^16 relu elements on the GPU, 2^12 on the
// CPU. Reported in cells (elements x 10) per second; the first 1024 GPU keys checked against the CPU's.
TFE_CUDA_BENCH(dcf_many_throughput) {
  const int bits = 48, P = 20;
  const int64_t n = int64_t(1) << 16, nCpu = int64_t(1) << 12, nCheck = 1024;
  Inputs in = {randomHost({n}, DType::Ring64), randomHost({n, P}, DType::Ring64)};
  Inputs din = {toDevice(in[0]), toDevice(in[1])};
  Attrs at = keygenAttrs(bits, 0);
  Attrs ea = evalAttrs(bits, 0);
  ea.set("payloads", int64_t(P));
  const KernelInfo* kg = resolveKernel("DcfKeygenMany");
  const KernelInfo* ev = resolveKernel("DcfEvalMany");
  Outputs dkeys;
  const double kgMs = timeMs([&] { dkeys = kg->fn(din, at); }, 3);
  Tensor dx = toDevice(xNear(in[0]));
  const double evMs = timeMs([&] { ev->fn({dkeys[0], dx}, ea); }, 3);
  Tensor ca = allocTensor({nCpu}, DType::Ring64), cb = allocTensor({nCpu, P}, DType::Ring64);
  std::copy(in[0].ptr<uint64_t>(), in[0].ptr<uint64_t>() + nCpu, ca.ptr<uint64_t>());
  std::copy(in[1].ptr<uint64_t>(), in[1].ptr<uint64_t>() + nCpu * P, cb.ptr<uint64_t>());
  Outputs ckeys;
  const double cpuKg = cpuRate([&] { ckeys = findKernel("DcfKeygenMany", KernelDevice::Host)->fn({ca, cb}, at); }, nCpu);
  Tensor cx = randomHost({nCpu}, DType::Ring64);
  const double cpuEv = cpuRate([&] { findKernel("DcfEvalMany", KernelDevice::Host)->fn({ckeys[0], cx}, ea); }, nCpu);
  // Tiles of eight make the first nCheck elements' words the first nCheck * K words.
  const int64_t K = fss::dcfKeyWords(bits, P);
  std::vector<uint64_t> head(static_cast<size_t>(nCheck * K));
  cuda::download(dkeys[1], head.data(), head.size() * 8, cuda::currentStreamId());
  const bool same = std::equal(head.begin(), head.end(), ckeys[1].ptr<uint64_t>());
  const double cells = P / 2;
  std::printf("  dcf many    keygen %12.4g cells/s  (CPU %.4g)  %s\n", cells * double(n) / (kgMs * 1e-3), cells * cpuKg,
              same ? "keys = CPU's" : "KEYS DIFFER FROM THE CPU'S");
  std::printf("  dcf many    eval   %12.4g cells/s  (CPU %.4g)\n", cells * double(n) / (evMs * 1e-3), cells * cpuEv);
  return same;
}

}  // namespace cudatest
}  // namespace tfe
