// Host checks of the one-bit DCF's device walk (dcf_device.h: dcfBitKeygenElement,
// dcfBitEvalElement, run by fss_dcf.cu's DcfBitKeygen and DcfBitEval), compiled here for the CPU
// and compared word for word with the registered CPU kernels (portable and auto paths), plus the
// meaning checked by this file's own arithmetic: Eval(0) xor Eval(1) = [x < alpha] xor w.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "core/registry.h"
#include "cuda/dcf_device.h"
#include "cuda/test/host_check.h"
#include "fss/dcf_bit.h"

namespace {

using namespace tfe;
using namespace tfe::cuda;

using hostcheck::ringTensor;
using hostcheck::rng;
using hostcheck::words;

struct Case {
  int bits;
  std::vector<uint64_t> alpha, w;
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
    c.w[j] = rng()() & 1;
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
  const int64_t K = fss::dcfBitKeyWords(c.bits);
  k0.assign(c.alpha.size() * K, 0), k1.assign(c.alpha.size() * K, 0);
  for (size_t j = 0; j < c.alpha.size(); ++j) {
    DcfBlock d0, d1;
    dcfRootSeeds(prg, hostAesTable(), c.nonce, c.first + j, &d0, &d1);
    const int64_t n = static_cast<int64_t>(c.alpha.size()), at = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(n, j);
    dcfBitKeygenElement(fk.k, hostAesTable(), c.bits, c.alpha[j], c.w[j], d0, d1, &k0[at], &k1[at], stride);
  }
}

}  // namespace

// Keys and outputs equal the CPU kernels' for domains of 1, 2, 17, 63 and 64 bits, stream offsets
// up to the largest allowed, both CPU paths; and the outputs mean [x < alpha] xor w.
TFE_HOST_CHECK(dcf_bit_keygen_eval_match_cpu) {
  int trial = 0;
  int64_t seen[2] = {0, 0};
  for (int bits : {1, 2, 17, 48, 49, 63, 64})
    for (uint64_t first : {uint64_t(0), uint64_t(1 + rng()() % 1000), (~uint64_t(0) >> 1) - 70}) {
      const char* impl = trial++ % 2 ? "auto" : "portable";
      const Case c = makeCase(bits, 70, first);  // two full batches of 32 and a short one
      Attrs at;
      at.set("bits", int64_t(bits));
      at.set("seed", c.seed);
      at.set("nonce", c.nonce);
      at.set("first", c.first);
      at.set("impl", std::string(impl));
      Outputs cpu = findKernel("DcfBitKeygen")->fn({ringTensor(c.alpha), ringTensor(c.w)}, at);
      std::vector<uint64_t> h0, h1;
      hdKeys(c, h0, h1);
      if (h0 != words(cpu[0]) || h1 != words(cpu[1])) {
        std::printf("  bits %d, first %" PRIu64 " (%s): the device walk's keys differ from the CPU's\n", bits, first, impl);
        return false;
      }
      const int64_t K = fss::dcfBitKeyWords(bits), n = static_cast<int64_t>(c.alpha.size());
      std::vector<uint64_t> x(n);
      for (int64_t j = 0; j < n; ++j) {
        const uint64_t a = c.alpha[j], m = dcfDomainMaskHd(bits);
        const uint64_t picks[] = {a, a - 1, a + 1, 0, m, rng()()};
        x[j] = picks[(j + trial) % 6];
      }
      Attrs ea;
      ea.set("bits", int64_t(bits));
      ea.set("impl", std::string(impl));
      const DcfFixedKeys fk = dcfFixedKeys();
      uint8_t y[2][70];
      for (int party = 0; party < 2; ++party) {
        ea.set("party", int64_t(party));
        Outputs o = findKernel("DcfBitEval")->fn({cpu[party], ringTensor(x)}, ea);
        const std::vector<uint64_t>& k = party ? h1 : h0;
        for (int64_t j = 0; j < n; ++j) {
          y[party][j] = dcfBitEvalElement(fk.k, hostAesTable(), bits, party, &k[dcfKeyOffsetHd(K, j)], dcfTileRowsHd(n, j), x[j]);
          if (y[party][j] != o[0].ptr<uint8_t>()[j]) {
            std::printf("  bits %d (%s): party %d's output bit %" PRId64 " differs from the CPU's\n", bits, impl, party, j);
            return false;
          }
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        const uint64_t less = (x[j] & dcfDomainMaskHd(bits)) < (c.alpha[j] & dcfDomainMaskHd(bits));
        seen[less]++;
        if ((y[0][j] ^ y[1][j]) != (less ^ c.w[j])) {
          std::printf("  bits %d: element %" PRId64 "'s outputs do not XOR to [x < alpha] xor w\n", bits, j);
          return false;
        }
      }
    }
  if (seen[0] == 0 || seen[1] == 0) std::printf("  only one comparison outcome was tested\n");
  return seen[0] > 0 && seen[1] > 0;
}

// The meaning check can fail: a flipped value correction (level 0's, in both keys) must show.
TFE_HOST_CHECK(dcf_bit_check_catches_a_wrong_correction) {
  const Case c = makeCase(63, 64, 0);
  std::vector<uint64_t> k0, k1;
  hdKeys(c, k0, k1);
  const DcfFixedKeys fk = dcfFixedKeys();
  const int64_t K = fss::dcfBitKeyWords(63), vw = fss::dcfBitValueWord(63), n = static_cast<int64_t>(c.alpha.size());
  auto wrong = [&]() {
    int bad = 0;
    for (size_t j = 0; j < c.alpha.size(); ++j) {
      // x differs from alpha in its top bit: the walk leaves alpha's path at level 0.
      const uint64_t x = c.alpha[j] ^ (uint64_t(1) << 62);
      const int64_t at = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(n, j);
      const uint8_t y = dcfBitEvalElement(fk.k, hostAesTable(), 63, 0, &k0[at], stride, x) ^ dcfBitEvalElement(fk.k, hostAesTable(), 63, 1, &k1[at], stride, x);
      bad += y != (((x & dcfDomainMaskHd(63)) < (c.alpha[j] & dcfDomainMaskHd(63))) ^ c.w[j]);
    }
    return bad;
  };
  if (wrong() != 0) {
    std::printf("  the correct keys already fail the check\n");
    return false;
  }
  for (int64_t j = 0; j < n; ++j) {
    const int64_t at = dcfKeyOffsetHd(K, j) + vw * dcfTileRowsHd(n, j);
    k0[at] ^= 1, k1[at] ^= 1;
  }
  if (wrong() == 0) {
    std::printf("  a flipped value correction went unnoticed\n");
    return false;
  }
  return true;
}
