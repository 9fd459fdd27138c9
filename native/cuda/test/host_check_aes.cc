// Host checks of aes_device.h: the TFE_HD AES-CTR and PRG element logic that prg.cu runs on the
// GPU, compiled here for the CPU and compared bit for bit with the CPU PRG (aes128*.cc and the
// registered CPU kernels PrgRing, PrgBits, PrgField, PrgPermutation).
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/registry.h"
#include "cuda/aes_device.h"
#include "cuda/test/host_check.h"

namespace {

using namespace tfe;
using namespace tfe::cuda;

using hostcheck::rng;

std::vector<uint8_t> randomSeed() {
  std::vector<uint8_t> s(16);
  for (auto& b : s) b = static_cast<uint8_t>(rng()());
  return s;
}

AesRoundKeys keysOf(const std::vector<uint8_t>& seed, AesKey* key = nullptr) {
  AesKey k;
  aesExpandKey(seed.data(), &k);
  if (key) *key = k;
  return toRoundKeys(k);
}

// Keystream bytes [off, off + n) through the TFE_HD block function, the way the kernels index it.
std::vector<uint8_t> hdCtrBytes(const AesRoundKeys& k, uint64_t nonce, uint64_t off, uint64_t n) {
  std::vector<uint8_t> out(n);
  uint32_t w[4];
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t g = off + i;
    if (i == 0 || g % 16 == 0) aesCtrBlock(k, hostAesTable(), nonce, g / 16, w);
    out[i] = static_cast<uint8_t>(blockByte(w, g % 16));
  }
  return out;
}

Outputs runCpu(const char* kernel, const std::vector<uint8_t>& seed, uint64_t nonce, int64_t offset, const Shape& shape,
               const std::string& impl, int64_t modulus = 0, bool nonzero = false) {
  Attrs at;
  at.set("seed", seed);
  at.set("nonce", nonce);
  at.set("offset", offset);
  at.set("shape", std::vector<int64_t>(shape));
  at.set("impl", impl);
  if (modulus) {
    at.set("modulus", modulus);
    at.set("nonzero", nonzero);
  }
  return findKernel(kernel)->fn({}, at);
}

const char* kImpls[] = {"portable", "auto"};

}  // namespace

TFE_HOST_CHECK(aes_fips197_known_answer) {
  // FIPS-197 appendix C.1.
  std::vector<uint8_t> key(16);
  for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  const uint8_t want[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                            0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
  uint32_t w[4];
  aesEncryptBlock(keysOf(key), hostAesTable(), 0x0011223344556677ull, 0x8899aabbccddeeffull, w);
  bool ok = true;
  for (unsigned i = 0; i < 16; ++i) ok &= blockByte(w, i) == want[i];
  ok &= sboxOf(0x00) == 0x63 && sboxOf(0x53) == 0xed && sboxOf(0xff) == 0x16;
  if (!ok) std::printf("  FIPS-197 C.1 block or S-box mismatch\n");
  return ok;
}

TFE_HOST_CHECK(aes_ctr_keystream_matches_cpu) {
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> seed = randomSeed();
    AesKey key;
    AesRoundKeys k = keysOf(seed, &key);
    uint64_t nonce = trial % 3 == 0 ? 0 : rng()();
    uint64_t off = trial % 4 == 0 ? rng()() % 100 : trial % 4 == 1 ? (uint64_t(1) << 60) - rng()() % 4096 : rng()() >> 4;
    uint64_t n = rng()() % 600;
    uint8_t iv[16] = {};
    for (int b = 0; b < 8; ++b) iv[b] = static_cast<uint8_t>(nonce >> (56 - 8 * b));
    std::vector<uint8_t> got = hdCtrBytes(k, nonce, off, n);
    for (const char* impl : kImpls) {
      std::vector<uint8_t> want(n);
      aesCtrBytes(key, iv, off, n, want.data(), parseAesImpl(impl));
      if (got != want) {
        std::printf("  keystream differs (%s) for nonce %" PRIu64 " offset %" PRIu64 " length %" PRIu64 "\n", impl, nonce, off, n);
        return false;
      }
    }
  }
  return true;
}

TFE_HOST_CHECK(prg_ring_and_bits_match_cpu) {
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<uint8_t> seed = randomSeed();
    AesRoundKeys k = keysOf(seed);
    uint64_t nonce = rng()();
    int64_t n = static_cast<int64_t>(rng()() % 1000);
    int64_t off = trial % 2 ? static_cast<int64_t>(rng()() % 1000) : static_cast<int64_t>((uint64_t(1) << 56) - n - rng()() % 50);
    const char* impl = kImpls[trial % 2];
    Tensor ring = runCpu("PrgRing", seed, nonce, off, {n}, impl)[0];
    Tensor bits = runCpu("PrgBits", seed, nonce, off, {n}, impl)[0];
    for (int64_t j = 0; j < n; ++j) {
      uint64_t g = static_cast<uint64_t>(off + j);
      uint32_t w[4];
      aesCtrBlock(k, hostAesTable(), nonce, g / 2, w);
      if (blockRing(w, g % 2) != ring.ptr<uint64_t>()[j]) {
        std::printf("  PrgRing element %" PRId64 " (offset %" PRId64 ") differs\n", j, off);
        return false;
      }
      aesCtrBlock(k, hostAesTable(), nonce, g / 128, w);
      if (((blockByte(w, (g / 8) % 16) >> (g % 8)) & 1u) != bits.ptr<uint8_t>()[j]) {
        std::printf("  PrgBits element %" PRId64 " (offset %" PRId64 ") differs\n", j, off);
        return false;
      }
    }
  }
  return true;
}

TFE_HOST_CHECK(prg_field_rejection_matches_cpu) {
  const int64_t primes[] = {3, 5, 7, 67, 127, 131, 251};
  int64_t retries = 0;
  for (int trial = 0; trial < 56; ++trial) {
    int64_t p = primes[trial % 7];
    bool nonzero = (trial / 7) % 2 == 1;
    std::vector<uint8_t> seed = randomSeed();
    AesRoundKeys k = keysOf(seed);
    uint64_t nonce = rng()();
    // Words are rejected at most 2^-10 of the time (p = 3: 1 in 65536), so sizes reach 20000 for
    // the retry path to be taken (about 100 times over the 56 trials).
    int64_t n = static_cast<int64_t>(rng()() % 20000);
    int64_t offs[] = {static_cast<int64_t>(rng()() % 100), (int64_t(1) << 40) - static_cast<int64_t>(rng()() % 2000),
                      static_cast<int64_t>((uint64_t(1) << 56) - n)};
    int64_t off = offs[(trial / 14) % 3];
    Tensor want = runCpu("PrgField", seed, nonce, off, {n}, kImpls[trial % 2], p, nonzero)[0];
    FieldParams f;
    f.range = static_cast<unsigned>(nonzero ? p - 1 : p);
    f.base = nonzero ? 1 : 0;
    f.limit = 65536 - 65536 % f.range;
    std::vector<uint8_t> bytes = hdCtrBytes(k, nonce, 2 * static_cast<uint64_t>(off), 2 * static_cast<uint64_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      uint64_t g = static_cast<uint64_t>(off + j);
      int v = prgFieldFromWord(bytes[2 * j] | bytes[2 * j + 1] << 8, f);
      if (v < 0) {
        v = prgFieldRetry(k, hostAesTable(), nonce, g, f);
        ++retries;
      }
      if (v != want.ptr<uint8_t>()[j]) {
        std::printf("  PrgField z%" PRId64 "%s element %" PRId64 " (offset %" PRId64 ") is %d, CPU %d\n", p,
                    nonzero ? " nonzero" : "", j, off, v, want.ptr<uint8_t>()[j]);
        return false;
      }
    }
  }
  if (retries == 0) std::printf("  no element took a retry block\n");
  return retries > 0;
}

TFE_HOST_CHECK(prg_permutation_rows_match_cpu) {
  const int64_t lens[] = {1, 2, 3, 64, 100, 255, 256};
  for (int trial = 0; trial < 28; ++trial) {
    int64_t len = lens[trial % 7], rows = static_cast<int64_t>(rng()() % 40);
    int64_t off = trial % 2 ? static_cast<int64_t>(rng()() % 1000) : (int64_t(1) << 24) - rows;
    std::vector<uint8_t> seed = randomSeed();
    AesRoundKeys k = keysOf(seed);
    uint64_t nonce = rng()();
    Tensor want = runCpu("PrgPermutation", seed, nonce, off, {rows, len}, kImpls[trial % 2])[0];
    const unsigned stride = 1 + trial % 3;  // the kernel interleaves rows; any stride must agree
    std::vector<uint8_t> p(static_cast<size_t>(len) * stride);
    for (int64_t r = 0; r < rows; ++r) {
      prgPermutationRow(k, hostAesTable(), nonce, static_cast<uint64_t>(off + r), static_cast<unsigned>(len), p.data(), stride);
      for (int64_t i = 0; i < len; ++i)
        if (p[i * stride] != want.ptr<uint64_t>()[r * len + i]) {
          std::printf("  PrgPermutation row %" PRId64 " (offset %" PRId64 ", length %" PRId64 ") differs at %" PRId64 "\n", r,
                      off, len, i);
          return false;
        }
    }
  }
  return true;
}
