// CTR-mode driver: counter arithmetic, implementation choice and unaligned byte ranges.
#include <cstring>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "prg/aes128.h"

namespace tfe {

void aesEncryptBlockPortable(const AesKey& key, const uint8_t in[16], uint8_t out[16]);
void aesCtrBlocksNi(const AesKey& key, uint64_t hi, uint64_t lo, uint64_t nblocks, uint8_t* out);
void aesCtrBlocksAtNi(const AesKey& key, uint64_t hi, uint64_t lo, const uint64_t* idx, uint64_t n, uint8_t* out);
void aesCtrBlocksAtVaes(const AesKey& key, uint64_t hi, uint64_t lo, const uint64_t* idx, uint64_t n, uint8_t* out);
void aesCtrBlocksVaes(const AesKey& key, uint64_t hi, uint64_t lo, uint64_t n, uint8_t* out);
bool aesVaesAvailable();

AesImpl parseAesImpl(const std::string& s) {
  if (s == "auto") return AesImpl::Auto;
  if (s == "aesni") {
    if (!cpuFeatures().aesni) throw KernelError("impl 'aesni' requested but this CPU has no AES-NI");
    return AesImpl::AesNi;
  }
  if (s == "portable") return AesImpl::Portable;
  throw KernelError("unknown AES impl '" + s + "' (auto, aesni or portable)");
}

// Shorter contiguous runs stay on 128-bit AES-NI (eight blocks in flight): the 512-bit loop's 32
// blocks would leave most of a short run to the tail anyway.
constexpr uint64_t kVaesMinBlocks = 64;

static AesImpl resolve(AesImpl impl) {
  if (impl == AesImpl::Auto) return cpuFeatures().aesni ? AesImpl::AesNi : AesImpl::Portable;
  return impl;
}

const char* aesImplName(AesImpl impl) { return resolve(impl) == AesImpl::AesNi ? "aes-ni" : "portable"; }

void aesExpandKey(const uint8_t key[16], AesKey* out, AesImpl impl) {
  // An explicit AesNi is only ever produced by parseAesImpl, which checks the CPU first.
  if (resolve(impl) == AesImpl::AesNi)
    aesExpandKeyNi(key, out);
  else
    aesExpandKeyPortable(key, out);
}

static uint64_t loadBE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void aesCtrBlocks(const AesKey& key, const uint8_t iv[16], uint64_t firstBlock, uint64_t nblocks, uint8_t* out,
                  AesImpl impl) {
  uint64_t hi = loadBE64(iv), lo = loadBE64(iv + 8);
  uint64_t nlo = lo + firstBlock;
  hi += nlo < lo;
  lo = nlo;
  if (resolve(impl) == AesImpl::AesNi) {
    // VAES for runs of 64 blocks or more that do not carry into the high half (as above).
    if (nblocks >= kVaesMinBlocks && lo + nblocks >= lo && aesVaesAvailable())
      aesCtrBlocksVaes(key, hi, lo, nblocks, out);
    else
      aesCtrBlocksNi(key, hi, lo, nblocks, out);
    return;
  }
  for (uint64_t i = 0; i < nblocks; ++i) {
    uint8_t ctr[16];
    for (int b = 0; b < 8; ++b) {
      ctr[b] = static_cast<uint8_t>(hi >> (56 - 8 * b));
      ctr[8 + b] = static_cast<uint8_t>(lo >> (56 - 8 * b));
    }
    aesEncryptBlockPortable(key, ctr, out + 16 * i);
    hi += ++lo == 0;
  }
}

void aesCtrBlocksAt(const AesKey& key, const uint8_t iv[16], const uint64_t* idx, uint64_t n, uint8_t* out, AesImpl impl) {
  const uint64_t hi = loadBE64(iv), lo = loadBE64(iv + 8);
  if (resolve(impl) == AesImpl::AesNi) {
    // VAES where the CPU has it (not under TFE_CPU_BASELINE=1, which clears cpuFeatures())
    // and no counter carries into the high half (the PRG's counter blocks start at nonce || 0);
    // measured here: a little faster for the field PRG's retry batches, slower for short calls.
    if (lo == 0 && n >= 64 && aesVaesAvailable())
      aesCtrBlocksAtVaes(key, hi, lo, idx, n, out);
    else
      aesCtrBlocksAtNi(key, hi, lo, idx, n, out);
    return;
  }
  for (uint64_t k = 0; k < n; ++k) aesCtrBlocks(key, iv, idx[k], 1, out + 16 * k, impl);
}

void aesCtrBytes(const AesKey& key, const uint8_t iv[16], uint64_t byteOffset, uint64_t nbytes, uint8_t* out,
                 AesImpl impl) {
  if (nbytes == 0) return;
  uint8_t tmp[16];
  uint64_t block = byteOffset / 16, skip = byteOffset % 16;
  if (skip) {  // partial leading block
    aesCtrBlocks(key, iv, block, 1, tmp, impl);
    uint64_t take = std::min<uint64_t>(16 - skip, nbytes);
    std::memcpy(out, tmp + skip, take);
    out += take;
    nbytes -= take;
    ++block;
  }
  uint64_t whole = nbytes / 16;
  aesCtrBlocks(key, iv, block, whole, out, impl);
  if (uint64_t rest = nbytes % 16) {  // partial trailing block
    aesCtrBlocks(key, iv, block + whole, 1, tmp, impl);
    std::memcpy(out + whole * 16, tmp, rest);
  }
}

}  // namespace tfe
