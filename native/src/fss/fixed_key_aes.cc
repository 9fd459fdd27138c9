// The fixed public keys of G and the portable path; the AES-NI path is fixed_key_aes_ni.cc.
#include "fss/fixed_key_aes.h"

#include <cstring>

#include "core/cpu_features.h"

namespace tfe {

// Defined in prg/aes128_portable.cc: the PRG's own table-based block function (the fallback).
void aesEncryptBlockPortable(const AesKey& key, const uint8_t in[16], uint8_t out[16]);

namespace fss {

void hashBlocksNi(const AesKey& key, const Block* in, Block* out, size_t n);
void hashChildrenNi(const AesKey& left, const AesKey& right, const Block* in, const uint8_t* dir, Block* out, size_t n);
bool hasVaes();
void hashBlocksVaes(const AesKey& key, const Block* in, Block* out, size_t n);
void hashChildrenVaes(const AesKey& left, const AesKey& right, const Block* in, const uint8_t* dir, Block* out, size_t n);
void hashTweaksVaes(const AesKey& key, const Block* in, size_t n, size_t blocks, Block* out);

namespace {

// Nothing-up-my-sleeve keys: ASCII labels, 16 bytes each. They are public by design; the
// security of G rests on AES as a fixed random permutation, not on these values.
const char kKeyLabels[4][17] = {"tfe dcf G left  ", "tfe dcf G right ", "tfe dcf G value ", "tfe dcf G value2"};

struct FixedKeys {
  AesKey k[4];
  FixedKeys() {
    // The key is public, so the table-based schedule leaks nothing; both schedules agree anyway.
    for (int i = 0; i < 4; ++i) aesExpandKeyPortable(reinterpret_cast<const uint8_t*>(kKeyLabels[i]), &k[i]);
  }
};

const FixedKeys& keys() {
  static const FixedKeys fk;  // C++11 guarantees one thread-safe initialisation
  return fk;
}

}  // namespace

const AesKey& fixedKey(HashKey k) { return keys().k[static_cast<int>(k)]; }

bool useAesNi(AesImpl impl) {
  // An explicit AesNi comes only from parseAesImpl, which has checked the CPU.
  return impl == AesImpl::AesNi || (impl == AesImpl::Auto && cpuFeatures().aesni);
}

bool useVaes(AesImpl impl) {
  // Only under auto: an explicit aesni keeps the 128-bit loops, so tests can compare the paths.
  return impl == AesImpl::Auto && cpuFeatures().aesni && hasVaes();
}

namespace {
Block hashPortable(const AesKey& key, Block in) {
  Block x = sigma(in), y;
  uint8_t b[16];
  std::memcpy(b, &x, 16);
  aesEncryptBlockPortable(key, b, b);
  std::memcpy(&y, b, 16);
  return Block{y.lo ^ x.lo, y.hi ^ x.hi};
}
}  // namespace

void hashBlocks(HashKey k, const Block* in, Block* out, size_t n, AesImpl impl) {
  const AesKey& key = fixedKey(k);
  if (useVaes(impl)) {
    hashBlocksVaes(key, in, out, n);
    return;
  }
  if (useAesNi(impl)) {
    hashBlocksNi(key, in, out, n);
    return;
  }
  for (size_t i = 0; i < n; ++i) out[i] = hashPortable(key, in[i]);
}

void hashTweaks(HashKey k, const Block* in, size_t n, size_t blocks, Block* out, AesImpl impl) {
  if (useVaes(impl)) {
    hashTweaksVaes(fixedKey(k), in, n, blocks, out);
    return;
  }
  // AES-NI or portable: tweak a run of seeds at a time into a buffer and hash it.
  constexpr size_t kRun = 64;
  Block tmp[kRun];
  for (size_t q = 0; q < blocks; ++q)
    for (size_t i = 0; i < n; i += kRun) {
      const size_t m = n - i < kRun ? n - i : kRun;
      for (size_t j = 0; j < m; ++j) tmp[j] = Block{in[i + j].lo, in[i + j].hi ^ q};
      hashBlocks(k, tmp, out + q * n + i, m, impl);
    }
}

void hashChildren(const Block* in, const uint8_t* right, Block* out, size_t n, AesImpl impl) {
  hashEither(HashKey::Left, HashKey::Right, in, right, out, n, impl);
}

void hashEither(HashKey onLeft, HashKey onRight, const Block* in, const uint8_t* right, Block* out, size_t n, AesImpl impl) {
  const AesKey &l = fixedKey(onLeft), &r = fixedKey(onRight);
  if (useVaes(impl)) {
    hashChildrenVaes(l, r, in, right, out, n);
    return;
  }
  if (useAesNi(impl)) {
    hashChildrenNi(l, r, in, right, out, n);
    return;
  }
  for (size_t i = 0; i < n; ++i) out[i] = hashPortable(right[i] ? r : l, in[i]);
}

}  // namespace fss
}  // namespace tfe
