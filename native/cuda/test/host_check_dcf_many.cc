// Host checks of dcf_device.h's many-payload walks (dcfKeygenManyElement, dcfEvalManyElement),
// which fss_dcf.cu runs on the GPU: compiled here for the CPU and compared word for word with the
// registered CPU kernels DcfKeygenMany and DcfEvalMany (portable and AES-NI paths), plus the DCF's
// meaning computed here: Eval(0) + Eval(1) = beta_p [x mod 2^bits < alpha mod 2^bits] for every p.
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "core/registry.h"
#include "cuda/dcf_device.h"
#include "cuda/test/host_check.h"
#include "fss/dcf.h"

namespace {

using namespace tfe;
using namespace tfe::cuda;

using hostcheck::ringTensor;
using hostcheck::rng;
using hostcheck::words;

struct Case {
  int bits, P;
  size_t n;
  uint64_t first;
};

// One case: CPU keys against the TFE_HD walk's, both parties' shares at x on and around alpha
// against the CPU's, and their sum against beta [x < alpha].
bool checkCase(const Case& c, const char* impl, int64_t& lessSeen, int64_t& notLessSeen) {
  const int bits = c.bits, P = c.P;
  const size_t n = c.n;
  const uint64_t m = dcfDomainMaskHd(bits);
  std::vector<uint64_t> alpha(n), beta(n * P), x(n);
  for (size_t j = 0; j < n; ++j) {
    alpha[j] = j % 5 == 0 ? 0 : j % 5 == 1 ? m : rng()();
    const uint64_t cases[] = {alpha[j], alpha[j] - 1, alpha[j] + 1, 0, m, rng()()};
    x[j] = cases[j % 6];
    ((x[j] & m) < (alpha[j] & m) ? lessSeen : notLessSeen) += 1;
  }
  for (auto& b : beta) b = rng()() | 1;  // nonzero, so a wrong sum shows
  std::vector<uint8_t> seed(16);
  for (auto& b : seed) b = static_cast<uint8_t>(rng()());
  const uint64_t nonce = rng()();
  Attrs at;
  at.set("bits", int64_t(bits));
  at.set("seed", seed);
  at.set("nonce", nonce);
  at.set("first", c.first);
  at.set("impl", std::string(impl));
  const Outputs cpu = findKernel("DcfKeygenMany")->fn({ringTensor(alpha, {int64_t(n)}), ringTensor(beta, {int64_t(n), P})}, at);
  const int64_t K = fss::dcfKeyWords(bits, P);
  // The TFE_HD walk, element j at stream position first + j.
  const DcfFixedKeys fk = dcfFixedKeys();
  AesKey key;
  aesExpandKey(seed.data(), &key);
  const AesRoundKeys prg = toRoundKeys(key);
  std::vector<uint64_t> k[2] = {std::vector<uint64_t>(n * K), std::vector<uint64_t>(n * K)};
  for (size_t j = 0; j < n; ++j) {
    DcfBlock s0, s1;
    dcfRootSeeds(prg, hostAesTable(), nonce, c.first + j, &s0, &s1);
    const int64_t off = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(int64_t(n), j);
    dcfKeygenManyElement(fk.k, hostAesTable(), bits, P, alpha[j], &beta[j * P], s0, s1, &k[0][off], &k[1][off], stride);
  }
  std::vector<uint64_t> y[2];
  for (int party = 0; party < 2; ++party) {
    if (words(cpu[party]) != k[party]) {
      std::printf("  bits %d, P %d, first %" PRIu64 " (%s): party %d's keys differ from the CPU's\n", bits, P, c.first, impl, party);
      return false;
    }
    y[party].assign(n * P, 0);
    for (size_t j = 0; j < n; ++j)
      dcfEvalManyElement(fk.k, hostAesTable(), bits, P, party, &k[party][dcfKeyOffsetHd(K, j)], dcfTileRowsHd(int64_t(n), j), x[j], &y[party][j * P]);
    Attrs ea;
    ea.set("bits", int64_t(bits));
    ea.set("party", int64_t(party));
    ea.set("payloads", int64_t(P));
    ea.set("impl", std::string(impl));
    if (words(findKernel("DcfEvalMany")->fn({cpu[party], ringTensor(x, {int64_t(n)})}, ea)[0]) != y[party]) {
      std::printf("  bits %d, P %d (%s): party %d's shares differ from the CPU's\n", bits, P, impl, party);
      return false;
    }
  }
  for (size_t j = 0; j < n; ++j)
    for (int p = 0; p < P; ++p)
      if (y[0][j * P + p] + y[1][j * P + p] != ((x[j] & m) < (alpha[j] & m) ? beta[j * P + p] : 0)) {
        std::printf("  bits %d, P %d: element %zu payload %d does not sum to beta [x < alpha]\n", bits, P, j, p);
        return false;
      }
  return true;
}

}  // namespace

TFE_HOST_CHECK(dcf_many_keygen_eval_match_cpu) {
  int64_t less = 0, notLess = 0;
  int trial = 0;
  for (int bits : {1, 17, 48, 64})
    for (int P : {1, 2, 3, 20})
      for (uint64_t first : {uint64_t(0), uint64_t(1) + rng()() % 1000, (~uint64_t(0) >> 1) - 41})
        if (!checkCase(Case{bits, P, 41, first}, trial++ % 2 ? "auto" : "portable", less, notLess)) return false;
  if (!checkCase(Case{48, fss::kDcfMaxPayloads, 9, 0}, "auto", less, notLess)) return false;
  if (less == 0 || notLess == 0) std::printf("  only one comparison outcome was tested\n");
  return less > 0 && notLess > 0;
}
