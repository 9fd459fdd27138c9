// Host checks of dcf_device.h: the DCF keygen and evaluation that fss_dcf.cu runs on the GPU,
// compiled here for the CPU and compared bit for bit with the registered CPU kernels DcfKeygen,
// DcfKeygen2, DcfEval and DcfEval2 (portable and AES-NI paths), plus the DCF's meaning checked
// by this file's own arithmetic: Eval(0) + Eval(1) = beta [x mod 2^bits < alpha mod 2^bits].
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "core/registry.h"
#include "cuda/dcf_device.h"
#include "cuda/test/host_check.h"
#include "fss/dcf.h"
#include "fss/fixed_key_aes.h"

namespace {

using namespace tfe;
using namespace tfe::cuda;

using hostcheck::ringTensor;
using hostcheck::rng;
using hostcheck::words;

const char* kImpls[] = {"portable", "auto"};
const int kBitsList[] = {1, 2, 17, 48, 49, 63, 64};  // 48, 49: FSS's gates after products

std::vector<uint8_t> randomSeed() {
  std::vector<uint8_t> s(16);
  for (auto& b : s) b = static_cast<uint8_t>(rng()());
  return s;
}

// alpha values: the domain's ends, its top bit, random values with and without bits set above
// the domain (which the DCF must ignore).
uint64_t randomAlpha(int bits, int j) {
  const uint64_t m = dcfDomainMaskHd(bits), r = rng()();
  switch (j % 8) {
    case 0: return 0;
    case 1: return m;                                    // 2^bits - 1
    case 2: return uint64_t(1) << (bits - 1);
    case 3: return (r & m) | (bits < 64 ? ~m : 0);       // all bits above the domain set
    case 4: return 1;
    default: return r;
  }
}

uint64_t randomBeta(int j) {
  const uint64_t edges[] = {0, 1, uint64_t(1) << 63, ~uint64_t(0)};
  return j % 5 == 4 ? edges[(j / 5) % 4] : rng()();
}

// x for element j in round r: on and around alpha, the domain's ends, alpha with junk above the
// domain, random.
uint64_t pickX(int bits, uint64_t alpha, int j, int r) {
  const uint64_t m = dcfDomainMaskHd(bits), junk = bits < 64 ? rng()() & ~m : 0;
  switch ((j + r) % 8) {
    case 0: return alpha;
    case 1: return alpha - 1;
    case 2: return alpha + 1;
    case 3: return 0;
    case 4: return m;
    case 5: return (alpha & m) | junk;                   // equal to alpha in the domain
    case 6: return (rng()() & m) | junk;
    default: return rng()();
  }
}

struct Keys {
  std::vector<uint64_t> k0, k1;
};

// The keys through the TFE_HD core, element j at stream position first + j.
Keys hdKeygen(int P, int bits, const std::vector<uint8_t>& seed, uint64_t nonce, uint64_t first,
              const std::vector<uint64_t>& alpha, const std::vector<std::vector<uint64_t>>& beta) {
  const DcfFixedKeys fk = dcfFixedKeys();
  AesKey key;
  aesExpandKey(seed.data(), &key);
  const AesRoundKeys prg = toRoundKeys(key);
  const int K = dcfKeyWordsHd(bits, P);
  Keys out{std::vector<uint64_t>(alpha.size() * K), std::vector<uint64_t>(alpha.size() * K)};
  for (size_t j = 0; j < alpha.size(); ++j) {
    DcfBlock s0, s1;
    dcfRootSeeds(prg, hostAesTable(), nonce, first + j, &s0, &s1);
    uint64_t b[2] = {beta[0][j], P > 1 ? beta[1][j] : 0};
    const int64_t n = static_cast<int64_t>(alpha.size()), at = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(n, j);
    if (P == 1) dcfKeygenElement<1>(fk.k, hostAesTable(), bits, alpha[j], b, s0, s1, &out.k0[at], &out.k1[at], stride);
    else dcfKeygenElement<2>(fk.k, hostAesTable(), bits, alpha[j], b, s0, s1, &out.k0[at], &out.k1[at], stride);
  }
  return out;
}

std::vector<std::vector<uint64_t>> hdEval(int P, int bits, uint64_t party, const std::vector<uint64_t>& keys,
                                          const std::vector<uint64_t>& x) {
  const DcfFixedKeys fk = dcfFixedKeys();
  const int K = dcfKeyWordsHd(bits, P);
  std::vector<std::vector<uint64_t>> y(P, std::vector<uint64_t>(x.size()));
  for (size_t j = 0; j < x.size(); ++j) {
    uint64_t v[2];
    const int64_t n = static_cast<int64_t>(x.size()), at = dcfKeyOffsetHd(K, j), stride = dcfTileRowsHd(n, j);
    if (P == 1) dcfEvalElement<1>(fk.k, hostAesTable(), bits, party, &keys[at], stride, x[j], v);
    else dcfEvalElement<2>(fk.k, hostAesTable(), bits, party, &keys[at], stride, x[j], v);
    for (int p = 0; p < P; ++p) y[p][j] = v[p];
  }
  return y;
}

std::vector<std::vector<uint64_t>> cpuEval(int P, int bits, int64_t party, const std::vector<uint64_t>& keys,
                                           const std::vector<uint64_t>& x, const char* impl) {
  const int64_t n = static_cast<int64_t>(x.size()), K = fss::dcfKeyWords(bits, P);
  Tensor kt = allocTensor({n, K}, DType::Ring64);
  for (size_t i = 0; i < keys.size(); ++i) kt.ptr<uint64_t>()[i] = keys[i];
  Attrs at;
  at.set("bits", int64_t(bits));
  at.set("party", party);
  at.set("impl", std::string(impl));
  Outputs o = findKernel(P == 1 ? "DcfEval" : "DcfEval2")->fn({kt, ringTensor(x)}, at);
  std::vector<std::vector<uint64_t>> y;
  for (const Tensor& t : o) y.push_back(words(t));
  return y;
}

// First differing index of two equal-length vectors, or -1.
int64_t firstDiff(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return -1;
}

// The DCF's meaning, computed here: the first element j (with payload p) whose shares y0 + y1 are
// not beta_p[j] [x[j] mod 2^bits < alpha[j] mod 2^bits], or -1.
int64_t sumMismatch(int bits, const std::vector<uint64_t>& alpha, const std::vector<std::vector<uint64_t>>& beta,
                    const std::vector<uint64_t>& x, const std::vector<std::vector<uint64_t>>& y0,
                    const std::vector<std::vector<uint64_t>>& y1) {
  const uint64_t m = dcfDomainMaskHd(bits);
  for (size_t j = 0; j < x.size(); ++j) {
    const bool less = (x[j] & m) < (alpha[j] & m);
    for (size_t p = 0; p < beta.size(); ++p)
      if (y0[p][j] + y1[p][j] != (less ? beta[p][j] : 0)) return static_cast<int64_t>(j);
  }
  return -1;
}

}  // namespace

// G itself: the TFE_HD hash under each fixed key equals fss::hashBlocks on the CPU's paths.
TFE_HOST_CHECK(dcf_hash_matches_cpu) {
  const DcfFixedKeys fk = dcfFixedKeys();
  std::vector<fss::Block> in(300);
  for (size_t i = 0; i < in.size(); ++i) in[i] = fss::Block{rng()(), rng()()};
  in[0] = fss::Block{0, 0};
  in[1] = fss::Block{~uint64_t(0), ~uint64_t(0)};
  for (int k = 0; k < kDcfHashKeys; ++k)
    for (const char* impl : kImpls) {
      std::vector<fss::Block> want(in.size());
      fss::hashBlocks(static_cast<fss::HashKey>(k), in.data(), want.data(), in.size(), parseAesImpl(impl));
      for (size_t i = 0; i < in.size(); ++i) {
        const DcfBlock got = dcfHash(fk.k, k, hostAesTable(), DcfBlock{in[i].lo, in[i].hi});
        if (got.lo != want[i].lo || got.hi != want[i].hi) {
          std::printf("  H_%d of block %zu differs from the CPU's (%s)\n", k, i, impl);
          return false;
        }
      }
    }
  return true;
}

// Keys and shares equal the CPU kernels' word for word, for every domain size, both payload
// counts, stream offsets from 0 to the largest allowed, and both CPU AES paths; and the shares
// sum to beta [x < alpha] in the domain, computed here.
TFE_HOST_CHECK(dcf_keygen_eval_match_cpu) {
  int trial = 0;
  int64_t lessSeen = 0, notLessSeen = 0;
  for (int bits : kBitsList)
    for (int P = 1; P <= 2; ++P) {
      const size_t n = 41;
      const uint64_t firsts[] = {0, 1 + rng()() % 1000, rng()() >> 2, (~uint64_t(0) >> 1) - n};
      for (uint64_t first : firsts) {
        const char* impl = kImpls[trial++ % 2];
        std::vector<uint64_t> alpha(n);
        std::vector<std::vector<uint64_t>> beta(P, std::vector<uint64_t>(n));
        for (size_t j = 0; j < n; ++j) {
          alpha[j] = randomAlpha(bits, static_cast<int>(j));
          for (int p = 0; p < P; ++p) beta[p][j] = randomBeta(static_cast<int>(j) + 3 * p);
        }
        const std::vector<uint8_t> seed = randomSeed();
        const uint64_t nonce = trial % 3 == 0 ? 0 : rng()();
        Attrs at;
        at.set("bits", int64_t(bits));
        at.set("seed", seed);
        at.set("nonce", nonce);
        at.set("first", first);
        at.set("impl", std::string(impl));
        Inputs in = {ringTensor(alpha), ringTensor(beta[0])};
        if (P == 2) in.push_back(ringTensor(beta[1]));
        Outputs cpu = findKernel(P == 1 ? "DcfKeygen" : "DcfKeygen2")->fn(in, at);
        const Keys hd = hdKeygen(P, bits, seed, nonce, first, alpha, beta);
        const std::vector<uint64_t> c0 = words(cpu[0]), c1 = words(cpu[1]);
        const int64_t K = fss::dcfKeyWords(bits, P);
        for (int party = 0; party < 2; ++party) {
          const int64_t d = firstDiff(party ? hd.k1 : hd.k0, party ? c1 : c0);
          if (d >= 0) {
            // Tiled keys (dcf.h "Tiles"): the tile, then the word and element within it.
            const int64_t n = static_cast<int64_t>(alpha.size()), tile = d / (8 * K), r = std::min<int64_t>(8, n - 8 * tile), in = d % (8 * K);
            std::printf("  bits %d, %d payload(s), first %" PRIu64 " (%s): party %d's key, element %" PRId64 " word %" PRId64
                        " differs\n", bits, P, first, impl, party, 8 * tile + in % r, in / r);
            return false;
          }
        }
        for (int round = 0; round < 4; ++round) {
          std::vector<uint64_t> x(n);
          for (size_t j = 0; j < n; ++j) x[j] = pickX(bits, alpha[j], static_cast<int>(j), round);
          std::vector<std::vector<uint64_t>> y[2];
          for (int party = 0; party < 2; ++party) {
            y[party] = hdEval(P, bits, party, party ? hd.k1 : hd.k0, x);
            const auto want = cpuEval(P, bits, party, party ? c1 : c0, x, kImpls[round % 2]);
            for (int p = 0; p < P; ++p) {
              const int64_t d = firstDiff(y[party][p], want[p]);
              if (d >= 0) {
                std::printf("  bits %d, %d payload(s): party %d's share of payload %d, element %" PRId64 " differs\n", bits,
                            P, party, p, d);
                return false;
              }
            }
          }
          for (size_t j = 0; j < n; ++j) ((x[j] & dcfDomainMaskHd(bits)) < (alpha[j] & dcfDomainMaskHd(bits)) ? lessSeen : notLessSeen) += 1;
          const int64_t bad = sumMismatch(bits, alpha, beta, x, y[0], y[1]);
          if (bad >= 0) {
            std::printf("  bits %d, %d payload(s): the shares of element %" PRId64 " do not sum to beta [x < alpha]\n", bits, P,
                        bad);
            return false;
          }
        }
      }
    }
  // Both outcomes must occur, or the sum check could pass on a constant.
  if (lessSeen == 0 || notLessSeen == 0) std::printf("  only one comparison outcome was tested\n");
  return lessSeen > 0 && notLessSeen > 0;
}

// Evaluation on arbitrary words (not made by keygen: control corrections set in every bit of the
// right control word, odd seeds) still walks like the CPU's, so the two read the layout alike.
TFE_HOST_CHECK(dcf_eval_random_words_match_cpu) {
  for (int bits : kBitsList)
    for (int P = 1; P <= 2; ++P) {
      const size_t n = 33;
      const int64_t K = fss::dcfKeyWords(bits, P);
      std::vector<uint64_t> keys(n * K), x(n);
      for (auto& w : keys) w = rng()();
      for (auto& v : x) v = rng()();
      for (int party = 0; party < 2; ++party) {
        const auto got = hdEval(P, bits, party, keys, x);
        const auto want = cpuEval(P, bits, party, keys, x, kImpls[party]);
        for (int p = 0; p < P; ++p)
          if (firstDiff(got[p], want[p]) >= 0) {
            std::printf("  bits %d, %d payload(s), party %d: shares of random key words differ\n", bits, P, party);
            return false;
          }
      }
    }
  return true;
}

// The sum check can fail: keys with one wrong control correction (bit 0 of level 0's seed
// correction word flipped in both keys, what a slip in tCW^L would deal) must be caught.
TFE_HOST_CHECK(dcf_sum_check_catches_a_wrong_correction) {
  for (int bits : {17, 64})
    for (int P = 1; P <= 2; ++P) {
      const size_t n = 64;
      std::vector<uint64_t> alpha(n), x(n);
      std::vector<std::vector<uint64_t>> beta(P, std::vector<uint64_t>(n));
      for (size_t j = 0; j < n; ++j) {
        alpha[j] = rng()();
        x[j] = j % 2 ? alpha[j] : rng()();
        for (int p = 0; p < P; ++p) beta[p][j] = rng()() | 1;  // nonzero, so a wrong sum shows
      }
      Keys k = hdKeygen(P, bits, randomSeed(), rng()(), 0, alpha, beta);
      if (sumMismatch(bits, alpha, beta, x, hdEval(P, bits, 0, k.k0, x), hdEval(P, bits, 1, k.k1, x)) >= 0) {
        std::printf("  bits %d, %d payload(s): the correct keys already fail the sum check\n", bits, P);
        return false;
      }
      const int64_t K = fss::dcfKeyWords(bits, P), w = fss::dcfLevelWord(0, P);
      for (size_t j = 0; j < n; ++j) {
        const int64_t at = dcfKeyOffsetHd(K, j) + w * dcfTileRowsHd(static_cast<int64_t>(n), j);
        k.k0[at] ^= 1, k.k1[at] ^= 1;
      }
      if (sumMismatch(bits, alpha, beta, x, hdEval(P, bits, 0, k.k0, x), hdEval(P, bits, 1, k.k1, x)) < 0) {
        std::printf("  bits %d, %d payload(s): a flipped control correction went unnoticed\n", bits, P);
        return false;
      }
    }
  return true;
}
