// Fixed-key AES as a correlation-robust hash: the PRG G inside the DCF tree (dcf.h).
//
// Why fixed-key AES rather than re-keying AES with every seed: a tree walk expands one seed per
// level per element, and an AES key schedule per expansion would cost as much as the blocks
// themselves. With a few public keys expanded once, each expansion is one AES block call, and
// AES-NI keeps eight of them in flight. The construction is the MMO hash with the linear
// orthomorphism sigma of Guo, Katz, Wang, Yu ("Efficient and Secure Multiparty Computation from
// Fixed-Key Block Ciphers", S&P 2020): H_k(x) = AES_k(sigma(x)) xor sigma(x), with
// sigma(hi || lo) = (hi xor lo) || hi. Plain MMO (AES_k(x) xor x) is only correlation robust for
// uniform x; sigma makes it circular-correlation robust, which is what a seed that gets XORed
// with correction words needs (the same choice as google/distributed_point_functions).
//
// Block layout: 16 bytes, `lo` = bytes 0..7 and `hi` = bytes 8..15, each little-endian, so a
// Block is the AES state byte-for-byte on a little-endian host (both paths read the same bytes).
#pragma once
#include <cstddef>
#include <cstdint>

#include "prg/aes128.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fss/fixed_key_aes.h assumes a little-endian host (Block is the AES state byte-for-byte)"
#endif

namespace tfe {
namespace fss {

struct alignas(16) Block {
  uint64_t lo, hi;
};

// The public keys of G: one per expansion so the outputs are independent hashes. Value2 gives a
// second payload's value shares (and its final conversion) in the two-payload DCF (dcf.h).
enum class HashKey : int { Left = 0, Right = 1, Value = 2, Value2 = 3 };

// Round keys of the fixed public keys (expanded once, on first use, thread-safe).
const AesKey& fixedKey(HashKey k);

// AES-NI when the CPU has it (or when impl says so), else the portable block function; resolved
// like the PRG's impl attribute (auto, aesni, portable).
bool useAesNi(AesImpl impl);
// The VAES (AVX-512) loops: under auto, when the CPU has them; the same function as AES-NI's.
bool useVaes(AesImpl impl);

// out[i] = H_k(in[i]) for i < n. in and out may alias.
void hashBlocks(HashKey k, const Block* in, Block* out, size_t n, AesImpl impl);

// out[i] = H_Right(in[i]) where right[i] is 1, else H_Left(in[i]): a tree walk's step to the
// child each element's (public) path bit selects, in one pipelined pass.
void hashChildren(const Block* in, const uint8_t* right, Block* out, size_t n, AesImpl impl);

// As hashChildren with other keys: out[i] = H_onRight(in[i]) where right[i] is 1, else
// H_onLeft(in[i]) (the two-payload DCF's value blocks of the child on x's path, dcf.h).
void hashEither(HashKey onLeft, HashKey onRight, const Block* in, const uint8_t* right, Block* out, size_t n, AesImpl impl);

// out[q * n + i] = H_k(in[i] xor (0 || q)) for q < blocks and i < n: the many-payload DCF's
// value blocks (dcf.h "Many payloads"), each seed tweaked in registers on the VAES path. out must
// not alias in.
void hashTweaks(HashKey k, const Block* in, size_t n, size_t blocks, Block* out, AesImpl impl);

// The orthomorphism, exposed for the portable path and for tests.
inline Block sigma(Block x) { return Block{x.hi, x.hi ^ x.lo}; }

}  // namespace fss
}  // namespace tfe
