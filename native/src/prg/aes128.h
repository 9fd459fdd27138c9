// AES-128 in counter mode: the PRG's block function.
//
// Why AES-128-CTR rather than ChaCha20: every x86-64 server CPU we target has AES-NI, which runs
// AES-CTR at several GB/s per core with a short, auditable implementation (key expansion plus ten
// aesenc per block, eight blocks in flight). It is counter-based, so any block of the stream can
// be computed independently (random access, parallel generation, and a bit-identical CUDA port).
// We use our own AES-NI code instead of OpenSSL's EVP so that the prebuilt addon does not depend
// on which OpenSSL (or BoringSSL, under Electron) the host Node links; bench/RESULTS.md compares
// the rate with `openssl speed`. CPUs without AES-NI use the portable table-based fallback, which
// is correct but slower and, being table-driven, not hardened against cache-timing observers.
// The key schedule follows the same choice: on the AES-NI path it runs on aeskeygenassist, so no
// byte of the seed (the key) ever indexes a table; the S-box version is only the fallback.
#pragma once
#include <cstdint>
#include <string>

namespace tfe {

struct AesKey {
  alignas(16) uint8_t roundKeys[11][16];
};

enum class AesImpl { Auto, AesNi, Portable };
AesImpl parseAesImpl(const std::string& s);  // "auto" | "aesni" | "portable"
const char* aesImplName(AesImpl impl);       // after resolving Auto

// The FIPS-197 key expansion. Auto (the default) picks AES-NI's aeskeygenassist when the CPU has it
// (the same run-time choice as aesCtrBlocks), else the portable S-box version. Both give the same
// 176 bytes of round keys; the explicit versions exist so tests can compare them.
void aesExpandKey(const uint8_t key[16], AesKey* out, AesImpl impl = AesImpl::Auto);
void aesExpandKeyPortable(const uint8_t key[16], AesKey* out);
void aesExpandKeyNi(const uint8_t key[16], AesKey* out);  // only on a CPU with AES-NI

// Writes the CTR keystream blocks [firstBlock, firstBlock + nblocks) for counter blocks
// iv + i (a 128-bit big-endian addition, as in NIST SP 800-38A) into out (16 bytes each).
void aesCtrBlocks(const AesKey& key, const uint8_t iv[16], uint64_t firstBlock, uint64_t nblocks, uint8_t* out,
                  AesImpl impl);

// Keystream blocks at block indices idx[0..n) (each as firstBlock above), into out (16 bytes each).
void aesCtrBlocksAt(const AesKey& key, const uint8_t iv[16], const uint64_t* idx, uint64_t n, uint8_t* out, AesImpl impl);

// Keystream bytes [byteOffset, byteOffset + nbytes), any alignment.
void aesCtrBytes(const AesKey& key, const uint8_t iv[16], uint64_t byteOffset, uint64_t nbytes, uint8_t* out,
                 AesImpl impl);

}  // namespace tfe
