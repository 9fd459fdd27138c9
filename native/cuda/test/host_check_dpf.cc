// Host checks of the DPF's device walk (dpf_device.h: dpfKeygenElement, dpfEvalElement, run by
// fss_dcf.cu's DpfKeygen and DpfEval), compiled here for the CPU and compared word for word with
// the registered CPU kernels (portable and auto paths), plus the meaning checked by this file's own
// arithmetic: Eval(0) + Eval(1) = beta [x = alpha] (mod 2^64, on the domain's bits).
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "core/registry.h"
#include "cuda/dpf_device.h"
#include "cuda/test/host_check.h"
#include "fss/dpf.h"

namespace {

using namespace tfe;
using namespace tfe::cuda;

using hostcheck::ringTensor;
using hostcheck::rng;
using hostcheck::words;

struct Case {
  int bits;
  std::vector<uint64_t> alpha, beta;
  std::vector<uint8_t> seed;
  uint64_t nonce, first;
};

Case makeCase(int bits, size_t n, uint64_t first) {
  Case c{bits, std::vector<uint64_t>(n), std::vector<uint64_t>(n), std::vector<uint8_t>(16), rng()(), first};
  const uint64_t m = dcfDomainMaskHd(bits);
  for (size_t j = 0; j < n; ++j) {
    const uint64_t r = rng()();
    const uint64_t edges[] = {0, m, uint64_t(1) << (bits - 1), 1, r & m, r};
    c.alpha[j] = edges[j % 6];
    c.beta[j] = j % 3 ? 1 : rng()();
  }
  for (auto& b : c.seed) b = static_cast<uint8_t>(rng()());
  return c;
}

// Keys through the device walk.
void hdKeys(const Case& c, std::vector<uint64_t>& k0, std::vector<uint64_t>& k1) {
  const DcfFixedKeys fk = dcfFixedKeys();
  AesKey key;
  aesExpandKey(c.seed.data(), &key);
  const AesRoundKeys prg = toRoundKeys(key);
  const int64_t K = fss::dpfKeyWords(c.bits), n = static_cast<int64_t>(c.alpha.size());
  k0.assign(n * K, 0), k1.assign(n * K, 0);
  for (int64_t j = 0; j < n; ++j) {
    DcfBlock d0, d1;
    dcfRootSeeds(prg, hostAesTable(), c.nonce, c.first + j, &d0, &d1);
    const int64_t at = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(n, j);
    dpfKeygenElement(fk.k, hostAesTable(), c.bits, c.alpha[j], c.beta[j], d0, d1, &k0[at], &k1[at], stride);
  }
}

// Keys through the CPU kernel (impl "auto" or "portable").
Outputs cpuKeys(const Case& c, const char* impl) {
  Attrs at;
  at.set("bits", int64_t(c.bits));
  at.set("seed", c.seed);
  at.set("nonce", c.nonce);
  at.set("first", c.first);
  at.set("impl", std::string(impl));
  return findKernel("DpfKeygen")->fn({ringTensor(c.alpha), ringTensor(c.beta)}, at);
}

}  // namespace

// Keys and outputs equal the CPU kernels' for domains of 1 to 64 bits, stream offsets up to the
// largest allowed, both CPU paths; and the outputs sum to beta [x = alpha].
TFE_HOST_CHECK(dpf_keygen_eval_match_cpu) {
  int trial = 0;
  int64_t seen[2] = {0, 0};
  for (int bits : {1, 2, 17, 47, 48, 63, 64})
    for (uint64_t first : {uint64_t(0), uint64_t(1 + rng()() % 1000), (~uint64_t(0) >> 1) - 140}) {
      const char* impl = trial++ % 2 ? "auto" : "portable";
      const Case c = makeCase(bits, 140, first);  // two full batches of 64 and a short one
      Outputs cpu = cpuKeys(c, impl);
      std::vector<uint64_t> h0, h1;
      hdKeys(c, h0, h1);
      if (h0 != words(cpu[0]) || h1 != words(cpu[1])) {
        std::printf("  bits %d, first %" PRIu64 " (%s): the device walk's keys differ from the CPU's\n", bits, first, impl);
        return false;
      }
      const int64_t K = fss::dpfKeyWords(bits), n = static_cast<int64_t>(c.alpha.size());
      std::vector<uint64_t> x(n);
      for (int64_t j = 0; j < n; ++j) {
        const uint64_t a = c.alpha[j];
        const uint64_t picks[] = {a, a - 1, a ^ (uint64_t(1) << (j % bits)), a + (uint64_t(1) << 63), a, rng()()};
        x[j] = picks[(j + trial) % 6];
      }
      Attrs ea;
      ea.set("bits", int64_t(bits));
      ea.set("impl", std::string(impl));
      const DcfFixedKeys fk = dcfFixedKeys();
      std::vector<uint64_t> y[2] = {std::vector<uint64_t>(n), std::vector<uint64_t>(n)};
      for (int party = 0; party < 2; ++party) {
        ea.set("party", int64_t(party));
        Outputs o = findKernel("DpfEval")->fn({cpu[party], ringTensor(x)}, ea);
        const std::vector<uint64_t>& k = party ? h1 : h0;
        for (int64_t j = 0; j < n; ++j) {
          y[party][j] = dpfEvalElement(fk.k, hostAesTable(), bits, party, &k[dcfKeyOffsetHd(K, j)], dcfTileRowsHd(n, j), x[j]);
          if (y[party][j] != o[0].ptr<uint64_t>()[j]) {
            std::printf("  bits %d (%s): party %d's output %" PRId64 " differs from the CPU's\n", bits, impl, party, j);
            return false;
          }
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        const bool equal = (x[j] & dcfDomainMaskHd(bits)) == (c.alpha[j] & dcfDomainMaskHd(bits));
        seen[equal]++;
        if (y[0][j] + y[1][j] != (equal ? c.beta[j] : 0)) {
          std::printf("  bits %d: element %" PRId64 "'s outputs do not sum to beta [x = alpha]\n", bits, j);
          return false;
        }
      }
    }
  if (seen[0] == 0 || seen[1] == 0) std::printf("  only one outcome was tested\n");
  return seen[0] > 0 && seen[1] > 0;
}

// DpfEvalAll: the device's per-point walk (fss_dcf.cu's dpfEvalAllKernel runs dpfEvalElement at
// every point) equals the CPU kernel's tree expansion word for word, both CPU paths, full and short
// key tiles; and each row sums to beta at alpha.
TFE_HOST_CHECK(dpf_eval_all_matches_cpu) {
  int trial = 0;
  for (int bits : {1, 3, 8, 12}) {
    const char* impl = trial++ % 2 ? "auto" : "portable";
    const Case c = makeCase(bits, 19, 0);
    Outputs keys = cpuKeys(c, impl);
    const int64_t K = fss::dpfKeyWords(bits), n = static_cast<int64_t>(c.alpha.size()), W = int64_t(1) << bits;
    const DcfFixedKeys fk = dcfFixedKeys();
    std::vector<uint64_t> sum(n * W, 0);
    for (int party = 0; party < 2; ++party) {
      Attrs ea;
      ea.set("bits", int64_t(bits));
      ea.set("party", int64_t(party));
      ea.set("impl", std::string(impl));
      Outputs o = findKernel("DpfEvalAll")->fn({keys[party]}, ea);
      const std::vector<uint64_t> k = words(keys[party]), y = words(o[0]);
      for (int64_t j = 0; j < n * W; ++j) {
        const int64_t e = j / W;
        if (dpfEvalElement(fk.k, hostAesTable(), bits, party, &k[dcfKeyOffsetHd(K, e)], dcfTileRowsHd(n, e), uint64_t(j % W)) != y[j]) {
          std::printf("  bits %d (%s): party %d's value %" PRId64 " differs from the CPU's\n", bits, impl, party, j);
          return false;
        }
        sum[j] += y[j];
      }
    }
    for (int64_t j = 0; j < n * W; ++j)
      if (sum[j] != (uint64_t(j % W) == (c.alpha[j / W] & dcfDomainMaskHd(bits)) ? c.beta[j / W] : 0)) {
        std::printf("  bits %d: key %" PRId64 "'s row does not sum to beta at alpha\n", bits, j / W);
        return false;
      }
  }
  return true;
}

// The meaning check can fail: a flipped seed correction (level 0's, in both keys) must show at
// alpha itself, where the two walks must differ.
TFE_HOST_CHECK(dpf_check_catches_a_wrong_correction) {
  const Case c = makeCase(64, 64, 0);
  std::vector<uint64_t> k0, k1;
  hdKeys(c, k0, k1);
  const DcfFixedKeys fk = dcfFixedKeys();
  const int64_t K = fss::dpfKeyWords(64), n = static_cast<int64_t>(c.alpha.size());
  auto wrong = [&]() {
    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t at = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(n, j);
      for (uint64_t x : {c.alpha[j], c.alpha[j] ^ 1}) {
        const uint64_t y = dpfEvalElement(fk.k, hostAesTable(), 64, 0, &k0[at], stride, x) + dpfEvalElement(fk.k, hostAesTable(), 64, 1, &k1[at], stride, x);
        bad += y != (x == c.alpha[j] ? c.beta[j] : 0);
      }
    }
    return bad;
  };
  if (wrong() != 0) {
    std::printf("  the correct keys already fail the check\n");
    return false;
  }
  for (int64_t j = 0; j < n; ++j) {
    const int64_t at = dcfKeyOffsetHd(K, j) + fss::dpfLevelWord(0) * dcfTileRowsHd(n, j);
    k0[at] ^= 4, k1[at] ^= 4;  // a seed bit of level 0's correction
  }
  if (wrong() == 0) {
    std::printf("  a flipped seed correction went unnoticed\n");
    return false;
  }
  return true;
}
