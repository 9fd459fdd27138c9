// Distributed Comparison Function (DCF) keys: the layout shared by DcfKeygen (dcf_keygen.cc),
// DcfEval (dcf_eval.cc) and any later port (CUDA). The construction is Boyle et al., "Function
// Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation" (Eurocrypt 2021), Fig. 1,
// without early termination: one seed and control bit per level, per-level seed/control
// correction words and per-level 64-bit value correction words, output group Z_2^64.
//
// Semantics. For alpha, beta in Z_2^64 and a domain of `bits` bits (1..64), keygen gives k0, k1
// such that Eval(0, k0, x) + Eval(1, k1, x) = beta if (x mod 2^bits) < (alpha mod 2^bits) as
// unsigned integers, else 0 (mod 2^64). Bits of x and alpha above `bits` are ignored (reduced
// mod 2^bits) so that callers can pass ring elements whose top bits carry something else.
// The tree walks x from its most significant domain bit (bit bits-1, level 0) to bit 0.
//
// G (fixed_key_aes.h) expands a 128-bit seed s into
//   left  block H_Left(s):  bit 0 is the control bit t^L, the rest (bit 0 cleared) the seed s^L;
//   right block H_Right(s): likewise t^R and s^R;
//   value block H_Value(s): lo = v^L, hi = v^R (the 64-bit value shares of the two children).
// Seeds therefore have 127 bits of entropy. Convert(final seed) = its hi word.
//
// Two payloads (DcfKeygen2 / DcfEval2): the same tree gives shares of beta_p [x < alpha] for
// p = 0, 1. The value blocks are split by child rather than by payload: H_Value(s) = (v^L_0,
// v^L_1) holds both payloads' shares for the left child and H_Value2(s) = (v^R_0, v^R_1) for the
// right one (lo, hi), so an evaluation, which follows one child per level, hashes one value block
// (the one x's bit selects, as for the seed) and walks at two AES calls per level like the
// one-payload DCF; keygen hashes both. Convert_1(final seed) = H_Value2(final seed).lo. K = 4 *
// bits + 5, level i's words are seed CW (2), VCW_0, VCW_1; then the right control word and the
// final words CW_0, CW_1.
//
// Many payloads (DcfKeygenMany / DcfEvalMany, dcf_many.cc): one tree gives shares of beta_p [x <
// alpha] for p < P, P up to kDcfMaxPayloads (a folded product's 2k payloads per gate element,
// where k two-payload keys would walk k trees). Value blocks generalise the two-payload ones with
// a tweak q: the left child's shares of payloads 2q, 2q + 1 are H_Value(s xor (0 || q)) (lo, hi),
// the right child's H_Value2(s xor (0 || q)); Convert_0(final seed) = its hi word and, for p >= 1,
// Convert_p = word (p - 1) mod 2 of H_Value2(s xor (0 || (p - 1) / 2)). At P = 2 this is the
// two-payload DCF's definition word for word, so DcfKeygenMany with P = 2 gives DcfKeygen2's keys.
// G stays a PRG: each output block is a fixed-key hash of the seed under its own (key, tweak)
// pair, and MMO with sigma is correlation robust for such distinct public offsets of a secret
// uniform input (Guo et al., above). An evaluation hashes the seed of x's child and P / 2 (rounded
// up) value blocks per level: 1 + P / 2 AES blocks where P / 2 two-payload keys take P. Layout as
// below with payloads = P: (2 + P) * bits + 3 + P words, level i's words seed CW (2), VCW_0 ..
// VCW_{P-1}; then the right control word and the final words CW_0 .. CW_{P-1}.
//
// Key layout, K = dcfKeyWords(bits) = 3 * bits + 4 uint64 words per element; "word w" below is
// the element's w-th word, stored tiled (see "Tiles" after the list):
//   [0], [1]          root seed s^(0) (lo, hi); the party's root control bit is the party index.
//   [2+3i], [3+3i]    level i's seed correction word (lo, hi); bit 0 of the lo word holds the
//                     left control correction tCW^L (seeds have bit 0 clear, so it is free).
//   [4+3i]            level i's value correction word VCW (Z_2^64).
//   [2+3*bits]        the right control corrections: bit i = tCW^R of level i (bits >= `bits` zero).
//   [3+3*bits]        the final correction word CW^(bits+1) (Z_2^64).
// So a key is 24.5 bytes per level plus 32: 1544 bytes per element for bits = 63. Both parties'
// keys share every word except the root seed; seed correction words are pseudorandom except bit 0
// of word [2+3i] (a control bit, which is uniform too) and the unused high bits of [2+3*bits].
//
// Tiles. A key tensor [n, K] holds its elements in tiles of kDcfTile = 8 consecutive elements
// (the last tile has n mod 8 if that is not 0): tile i starts at word 8 K i, and in a tile of r
// elements word w of its j-th element is at w r + j (dcfKeyOffset, KeyRow). So a level's words of
// eight elements are one 64-byte line, loaded as one vector by the AVX-512 walks (and read
// coalesced by a GPU's threads), where the row-major layout of earlier releases needed a gather
// of eight lines per word (a quarter of an evaluation's time on Zen 5). The tensor's shape stays
// [n, K]; a chunk of keys made separately (`first`) is tiled from its own first element.
//
// Randomness. DcfKeygen's only randomness is the two root seeds, read from the PRG's stream
// (prg/prg_kernels.cc): AES-128 keyed with `seed`, CTR counter block nonce (8 bytes BE) || block
// index (8 bytes BE). Element j uses blocks 2j (party 0's root seed) and 2j + 1 (party 1's),
// i.e. ring words 4j..4j+3 of PrgRing(seed, nonce): the rest of keygen is deterministic. With the
// attribute first = f, element j is stream element f + j (blocks 2(f + j), 2(f + j) + 1), so keys
// made in chunks of one vector, each with its offset, equal the keys of one call.
//
// CUDA port: native/cuda/fss_dcf.cu registers DcfKeygen, DcfKeygen2, DcfEval, DcfEval2 and the
// many-payload DcfKeygenMany and DcfEvalMany for the CUDA backend, one thread per element (a keygen thread walks both parties' trees), with the
// same checks and messages (fss/dcf_args.h). The walk is native/cuda/dcf_device.h: TFE_HD
// functions over the device's T-table AES (native/cuda/aes_device.h), keyed with the round keys
// of fss::fixedKey (converted, never re-typed), the root seeds read from the PRG stream as above.
// `impl` is checked but picks a CPU path only. Checked bit for bit against the CPU kernels here:
// without a GPU by tfe_cuda_host_check (native/cuda/test/host_check_dcf.cc: dcf_device.h compiled
// by g++; bits 1, 2, 17, 63, 64, one and two payloads, offsets `first` up to 2^63 - 1 - n, edge
// alphas and xs, and Eval(0) + Eval(1) = beta [x < alpha] computed by the check itself), on a GPU
// by tfe_cuda_test (native/cuda/test/cases_fss.cc; scripts/gpu-check.sh runs it and the
// throughput benchmark). Keys are tiled on the device too, so eight consecutive threads read one
// line per key word (see "Tiles").
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/attrs.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace tfe {
namespace fss {

constexpr int kDcfMaxBits = 64;
// Payloads of one many-payload key (DcfKeygenMany): a folded product's 2k for k <= 128 columns;
// wider products are keyed in groups of columns (lib/protocol/fss/folded_product.ts).
constexpr int kDcfMaxPayloads = 256;

// P payloads (1, 2, or up to kDcfMaxPayloads for the many-payload kernels): one tree, one seed/control correction per level, and per payload a value
// correction word per level and a final correction word.
inline int64_t dcfKeyWords(int64_t bits, int payloads = 1) { return (2 + payloads) * bits + 3 + payloads; }

// Word offsets inside one key.
inline int64_t dcfLevelWord(int64_t level, int payloads = 1) { return 2 + (2 + payloads) * level; }
inline int64_t dcfRightControlWord(int64_t bits, int payloads = 1) { return 2 + (2 + payloads) * bits; }
inline int64_t dcfFinalWord(int64_t bits, int payloads = 1, int payload = 0) { return 3 + (2 + payloads) * bits + payload; }

// Elements per key tile (see "Tiles" above).
constexpr int64_t kDcfTile = 8;

// Elements in element e's tile of a key of n elements.
inline int64_t dcfTileRows(int64_t n, int64_t e) { return std::min<int64_t>(kDcfTile, n - e / kDcfTile * kDcfTile); }
// Offset of element e's word 0 in a key of K words per element; its word w is w * dcfTileRows further.
inline int64_t dcfKeyOffset(int64_t K, int64_t e) {
  const int64_t tile = e / kDcfTile;
  return tile * kDcfTile * K + (e - tile * kDcfTile);
}

// One element's words in a tiled key: k[w] is its word w.
template <typename Word>
struct KeyRow {
  Word* p;
  int64_t stride;
  Word& operator[](int64_t w) const { return p[w * stride]; }
};
template <typename Word>
inline KeyRow<Word> keyRow(Word* keys, int64_t n, int64_t K, int64_t e) {
  return KeyRow<Word>{keys + dcfKeyOffset(K, e), dcfTileRows(n, e)};
}

// Runs walk(first, count, end) over [0, n) in batches of `batch` elements (a multiple of
// kDcfTile), split across the thread pool by whole batches so that every batch starts on a key
// tile; `end` is where the calling thread's share stops (what a walk may prefetch up to).
template <typename Walk>
inline void forEachKeyBatch(int64_t n, int batch, const Walk& walk) {
  parallelFor(0, (n + batch - 1) / batch, 2, [&](int64_t lo, int64_t hi) {
    const int64_t end = std::min(n, hi * batch);
    for (int64_t e = lo * batch; e < end; e += batch) walk(e, static_cast<int>(std::min<int64_t>(batch, n - e)), end);
  });
}

inline uint64_t dcfDomainMask(int bits) { return bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1; }

// The `bits` attribute, checked: an integer in [1, 64].
inline int parseDcfBits(const std::string& op, const Attrs& at) {
  if (!at.has("bits")) throw KernelError(op + ": missing attribute 'bits' (the domain bit length, 1..64)");
  int64_t bits = at.getInt("bits");
  if (bits < 1 || bits > kDcfMaxBits)
    throw KernelError(op + ": bits must be in [1, 64], got " + std::to_string(bits));
  return static_cast<int>(bits);
}

}  // namespace fss
}  // namespace tfe
