// AES-128-CTR and the PRG's per-element logic, as TFE_HD functions shared by the CUDA PRG kernels
// (prg.cu) and the host check (test/host_check_aes.cc), which compares them with the CPU PRG.
//
// Why T-tables in shared memory: GPUs have no AES instructions, and a byte-wise S-box round
// spends most of its time in MixColumns' xtime arithmetic. One 1 KiB table T0 (SubBytes and
// MixColumns of one byte, as a column) with T1..T3 derived by rotation costs four lookups, three
// rotations and four xors per column per round; kept in shared memory it is loaded once per
// thread block. Like the CPU's portable fallback, table lookups are not constant-time (shared
// memory bank conflicts depend on the indices, and timing attacks on table-based GPU AES are
// published), so this assumes no untrusted code shares the party's GPU; a bitsliced AES would
// remove that assumption at several times the code. Callers pass the table as a pointer, so the same
// code runs on the host with a static copy.
//
// State convention: column c of the AES state is the big-endian word of bytes 4c..4c+3, so a
// counter block nonce || index is the words (nonce >> 32, nonce, index >> 32, index).
#pragma once
#include <cstdint>

#include "core/hd.h"
#include "prg/aes128.h"

namespace tfe {
namespace cuda {

struct AesRoundKeys {
  uint32_t w[44];  // the 11 round keys as big-endian column words
};

struct AesTable {
  uint32_t t0[256];  // bytes (2 S[x], S[x], S[x], 3 S[x]), most significant first
};

// The table is computed at compile time from the S-box definition (multiplicative inverse in
// GF(2^8) followed by the affine map), so no 256-entry literal has to be kept in sync.
constexpr uint8_t gfMul(uint8_t a, uint8_t b) {
  uint8_t r = 0;
  for (int i = 0; i < 8; ++i) {
    if (b & 1) r ^= a;
    a = static_cast<uint8_t>((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
    b >>= 1;
  }
  return r;
}
constexpr uint8_t sboxOf(uint8_t x) {
  uint8_t inv = 1, base = x;  // x^254 = x^-1 (and 0 -> 0)
  for (int e = 254; e; e >>= 1) {
    if (e & 1) inv = gfMul(inv, base);
    base = gfMul(base, base);
  }
  uint8_t s = inv;
  for (int r = 1; r <= 4; ++r) s ^= static_cast<uint8_t>((inv << r) | (inv >> (8 - r)));
  return static_cast<uint8_t>(s ^ 0x63);
}
constexpr AesTable makeAesTable() {
  AesTable t{};
  for (int x = 0; x < 256; ++x) {
    uint32_t s = sboxOf(static_cast<uint8_t>(x));
    uint32_t s2 = gfMul(static_cast<uint8_t>(s), 2), s3 = s2 ^ s;
    t.t0[x] = (s2 << 24) | (s << 16) | (s << 8) | s3;
  }
  return t;
}

// Host-side copy (the device kernels stage their own copy in shared memory).
inline const uint32_t* hostAesTable() {
  static constexpr AesTable kTable = makeAesTable();
  return kTable.t0;
}

// Round keys from the CPU key schedule, so both backends expand a seed the same way.
inline AesRoundKeys toRoundKeys(const AesKey& key) {
  AesRoundKeys k{};
  for (int i = 0; i < 44; ++i) {
    const uint8_t* b = &key.roundKeys[i / 4][4 * (i % 4)];
    k.w[i] = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  }
  return k;
}

// Unrolling the rounds lets the device address the round keys at constant offsets; the host
// compiler would warn about the unknown pragma.
#if defined(__CUDA_ARCH__)
#define TFE_AES_UNROLL _Pragma("unroll")
#else
#define TFE_AES_UNROLL
#endif

TFE_HD uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// Encrypts the block (hi || lo), both big-endian, into four big-endian column words.
TFE_HD void aesEncryptBlock(const AesRoundKeys& k, const uint32_t* t0, uint64_t hi, uint64_t lo, uint32_t out[4]) {
  uint32_t s0 = uint32_t(hi >> 32) ^ k.w[0], s1 = uint32_t(hi) ^ k.w[1];
  uint32_t s2 = uint32_t(lo >> 32) ^ k.w[2], s3 = uint32_t(lo) ^ k.w[3];
  // Round: column c takes row r from column c + r (ShiftRows), then T_r of that byte.
#define TFE_AES_COL(a, b, c, d, rk)                                                               \
  (t0[(a) >> 24] ^ rotr32(t0[((b) >> 16) & 0xff], 8) ^ rotr32(t0[((c) >> 8) & 0xff], 16) ^ \
   rotr32(t0[(d) & 0xff], 24) ^ (rk))
  TFE_AES_UNROLL
  for (int r = 1; r < 10; ++r) {
    uint32_t u0 = TFE_AES_COL(s0, s1, s2, s3, k.w[4 * r]);
    uint32_t u1 = TFE_AES_COL(s1, s2, s3, s0, k.w[4 * r + 1]);
    uint32_t u2 = TFE_AES_COL(s2, s3, s0, s1, k.w[4 * r + 2]);
    uint32_t u3 = TFE_AES_COL(s3, s0, s1, s2, k.w[4 * r + 3]);
    s0 = u0, s1 = u1, s2 = u2, s3 = u3;
  }
#undef TFE_AES_COL
  // Last round has no MixColumns: the S-box byte is T0's second byte.
#define TFE_AES_LAST(a, b, c, d, rk)                                                         \
  (((t0[(a) >> 24] << 8) & 0xff000000u) ^ (t0[((b) >> 16) & 0xff] & 0x00ff0000u) ^ \
   ((t0[((c) >> 8) & 0xff] >> 8) & 0x0000ff00u) ^ ((t0[(d) & 0xff] >> 16) & 0xffu) ^ (rk))
  out[0] = TFE_AES_LAST(s0, s1, s2, s3, k.w[40]);
  out[1] = TFE_AES_LAST(s1, s2, s3, s0, k.w[41]);
  out[2] = TFE_AES_LAST(s2, s3, s0, s1, k.w[42]);
  out[3] = TFE_AES_LAST(s3, s0, s1, s2, k.w[43]);
#undef TFE_AES_LAST
}

// Keystream block `block` of the stream with this nonce. The CPU adds the block index to the
// 128-bit counter nonce || 0; every index the PRG kernels use is below 2^64, so no carry reaches
// the nonce half and the counter is exactly nonce || block.
TFE_HD void aesCtrBlock(const AesRoundKeys& k, const uint32_t* t0, uint64_t nonce, uint64_t block, uint32_t out[4]) {
  aesEncryptBlock(k, t0, nonce, block, out);
}

// Byte i (0..15) of a keystream block. Selects instead of w[i / 4] keep w in registers on the GPU.
TFE_HD uint32_t blockByte(const uint32_t w[4], unsigned i) {
  unsigned q = i >> 2;
  uint32_t x = q < 2 ? (q == 0 ? w[0] : w[1]) : (q == 2 ? w[2] : w[3]);
  return (x >> (24 - 8 * (i & 3))) & 0xffu;
}

TFE_HD uint64_t bswap64(uint64_t v) {
  v = ((v & 0x00ff00ff00ff00ffull) << 8) | ((v >> 8) & 0x00ff00ff00ff00ffull);
  v = ((v & 0x0000ffff0000ffffull) << 16) | ((v >> 16) & 0x0000ffff0000ffffull);
  return (v << 32) | (v >> 32);
}

// PrgRing: keystream bytes [8 half, 8 half + 8) of a block read little-endian.
TFE_HD uint64_t blockRing(const uint32_t w[4], unsigned half) {
  uint64_t be = half == 0 ? (uint64_t(w[0]) << 32) | w[1] : (uint64_t(w[2]) << 32) | w[3];
  return bswap64(be);
}

// PrgField's rejection parameters: values in [base, base + range), 16-bit words accepted below limit.
struct FieldParams {
  unsigned range, base, limit;
};

// Little-endian 16-bit word i (0..7) of a keystream block: bytes 2i and 2i + 1.
TFE_HD uint32_t blockWord16(const uint32_t w[4], unsigned i) {
  return blockByte(w, 2 * i) | blockByte(w, 2 * i + 1) << 8;
}

// PrgField's first attempt for an element: its value, or -1 when the word is rejected.
TFE_HD int prgFieldFromWord(uint32_t word, FieldParams f) {
  return word < f.limit ? static_cast<int>(word % f.range + f.base) : -1;
}

// PrgField element g whose first-attempt word (keystream word g) was rejected: the first accepted
// word of its retry blocks (attempt << 56) + g, attempt = 1, 2, ... (uint64 wrap as on the CPU).
TFE_HD uint8_t prgFieldRetry(const AesRoundKeys& k, const uint32_t* t0, uint64_t nonce, uint64_t g, FieldParams f) {
  for (uint64_t attempt = 1;; ++attempt) {
    uint32_t w[4];
    aesCtrBlock(k, t0, nonce, (attempt << 56) + g, w);
    for (unsigned i = 0; i < 8; ++i) {
      int v = prgFieldFromWord(blockWord16(w, i), f);
      if (v >= 0) return static_cast<uint8_t>(v);
    }
  }
}

// PrgPermutation row `row` (offset already added): Fisher-Yates over p[0], p[stride], ...,
// p[(len - 1) * stride] with indices rejection-sampled from the keystream bytes of blocks
// row << 40, (row << 40) + 1, ... consumed in order (the CPU's 5-block refills read the same
// sequence). len <= 256, so indices fit a byte; a strided layout lets the GPU interleave rows in
// shared memory without bank conflicts.
TFE_HD void prgPermutationRow(const AesRoundKeys& k, const uint32_t* t0, uint64_t nonce, uint64_t row, unsigned len,
                              uint8_t* p, unsigned stride) {
  for (unsigned i = 0; i < len; ++i) p[i * stride] = static_cast<uint8_t>(i);
  uint64_t block = row << 40, hi = 0, lo = 0;
  unsigned left = 0;  // unread bytes in hi:lo, most significant first
  for (unsigned i = len - 1; i > 0 && i < len; --i) {
    unsigned range = i + 1, limit = 256 - 256 % range, b;
    do {
      if (left == 0) {
        uint32_t w[4];
        aesCtrBlock(k, t0, nonce, block++, w);
        hi = (uint64_t(w[0]) << 32) | w[1];
        lo = (uint64_t(w[2]) << 32) | w[3];
        left = 16;
      }
      b = static_cast<unsigned>(hi >> 56);
      hi = (hi << 8) | (lo >> 56);
      lo <<= 8;
      --left;
    } while (b >= limit);
    uint8_t* a = p + i * stride;
    uint8_t* c = p + (b % range) * stride;
    uint8_t tmp = *a;
    *a = *c;
    *c = tmp;
  }
}

}  // namespace cuda
}  // namespace tfe
