// Batched generation of the z<p> and permutation streams. The stream layout is fixed by
// prg_kernels.cc (and reproduced by native/cuda/prg.cu); this file only changes how many AES
// blocks are in flight at once: the scalar version computed each retry block alone, which made
// the ~21% rejected bytes of Z_67 cost more than the whole main stream.
#include "prg/streams.h"

#include <algorithm>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tfe {

FieldSampler::FieldSampler(unsigned modulus, bool nonzero)
    : range(nonzero ? modulus - 1 : modulus), base(nonzero ? 1 : 0), limit(256 - 256 % range) {
  for (unsigned b = 0; b < 256; ++b) table[b] = b < limit ? static_cast<uint8_t>(b % range + base) : kRejected;
}

namespace {

// dst[i] = the element of byte src[i], or kRejected. For range >= 64 (Z_67 and Z_67*: at most three
// subtractions reduce a byte below limit) a branch-free form the compiler vectorises; else the table.
void mapBytes(const FieldSampler& fs, const uint8_t* src, int64_t n, uint8_t* dst) {
  if (fs.range < 64) {
    for (int64_t i = 0; i < n; ++i) dst[i] = fs.table[src[i]];
    return;
  }
  const uint8_t r = static_cast<uint8_t>(fs.range), base = static_cast<uint8_t>(fs.base);
  const unsigned limit = fs.limit;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t b = src[i];
    uint8_t v = b;
    v = v >= r ? v - r : v;
    v = v >= r ? v - r : v;
    v = v >= r ? v - r : v;
    dst[i] = b < limit ? static_cast<uint8_t>(v + base) : FieldSampler::kRejected;
  }
}

// Positions of kRejected in dst[0, n) (plus `add`) appended to out; returns the new count.
size_t findRejected(const uint8_t* dst, int64_t n, uint32_t add, uint32_t* out, size_t m) {
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128i ff = _mm_set1_epi8(static_cast<char>(FieldSampler::kRejected));
  for (; i + 16 <= n; i += 16) {
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + i)), ff)));
    while (mask) {
      out[m++] = add + static_cast<uint32_t>(i + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
#endif
  for (; i < n; ++i) {
    out[m] = add + static_cast<uint32_t>(i);
    m += dst[i] == FieldSampler::kRejected;
  }
  return m;
}

// The element of the first accepted byte of a 16-byte retry block, or kRejected if none is.
inline uint8_t firstAccepted(const FieldSampler& fs, const uint8_t* blk) {
#if defined(__SSE2__)
  // b < limit, unsigned, in byte lanes: min(b, limit - 1) == b (limit >= 2).
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk));
  const __m128i top = _mm_set1_epi8(static_cast<char>(fs.limit - 1));
  const unsigned ok = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(b, top), b)));
  return ok ? fs.table[blk[__builtin_ctz(ok)]] : FieldSampler::kRejected;
#else
  for (int t = 0; t < 16; ++t)
    if (fs.table[blk[t]] != FieldSampler::kRejected) return fs.table[blk[t]];
  return FieldSampler::kRejected;
#endif
}

}  // namespace

void sampleField(const AesKey& key, const uint8_t iv[16], AesImpl impl, const FieldSampler& fs, uint64_t first,
                 int64_t count, uint8_t* dst) {
  constexpr int64_t kChunk = 4096, kBatch = 256;
  alignas(16) uint8_t bytes[kChunk];
  alignas(16) uint8_t blocks[16 * kBatch];
  uint64_t idx[kBatch];
  uint32_t pendingBuf[kChunk], nextBuf[kChunk];
  for (int64_t s = 0; s < count; s += kChunk) {
    const int64_t n = std::min(kChunk, count - s);
    aesCtrBytes(key, iv, first + s, n, bytes, impl);
    mapBytes(fs, bytes, n, dst + s);
    uint32_t *pending = pendingBuf, *next = nextBuf;
    size_t np = findRejected(dst + s, n, 0, pending, 0);
    // Each rejected element tries its own blocks attempt * 2^56 + j, attempt = 1, 2, ...
    for (uint64_t attempt = 1; np > 0; ++attempt) {
      size_t nn = 0;
      for (size_t b = 0; b < np; b += kBatch) {
        const size_t m = std::min<size_t>(kBatch, np - b);
        for (size_t k = 0; k < m; ++k) idx[k] = (attempt << 56) + first + s + pending[b + k];
        aesCtrBlocksAt(key, iv, idx, m, blocks, impl);
        for (size_t k = 0; k < m; ++k) {
          const uint8_t v = firstAccepted(fs, blocks + 16 * k);
          if (v == FieldSampler::kRejected)
            next[nn++] = pending[b + k];
          else
            dst[s + pending[b + k]] = v;
        }
      }
      std::swap(pending, next);
      np = nn;
    }
  }
}

void samplePermutations(const AesKey& key, const uint8_t iv[16], AesImpl impl, uint64_t firstRow, int64_t rows,
                        int64_t len, uint8_t* dst) {
  constexpr int kRows = 8, kBlocks = 5, kBytes = 16 * kBlocks;
  alignas(16) uint8_t buf[kRows * kBytes];
  uint64_t idx[kRows * kBlocks];
  // Per range: the acceptance limit, and ceil(2^32 / range), so that b mod range is a multiply
  // (floor(b * M / 2^32) = floor(b / range) exactly for b < 256) instead of a division per swap.
  uint16_t limit[257];
  uint64_t recip[257];
  for (int64_t r = 1; r <= len; ++r) {
    limit[r] = static_cast<uint16_t>(256 - 256 % r);
    recip[r] = ((uint64_t(1) << 32) + static_cast<uint64_t>(r) - 1) / static_cast<uint64_t>(r);
  }
  uint8_t ks[256];
  for (int64_t g = 0; g < rows; g += kRows) {
    const int64_t m = std::min<int64_t>(kRows, rows - g);
    for (int64_t k = 0; k < m; ++k)
      for (int b = 0; b < kBlocks; ++b) idx[k * kBlocks + b] = ((firstRow + g + k) << 40) + b;
    aesCtrBlocksAt(key, iv, idx, static_cast<uint64_t>(m * kBlocks), buf, impl);
    for (int64_t k = 0; k < m; ++k) {
      uint8_t* bytes = buf + k * kBytes;
      uint64_t block = ((firstRow + g + k) << 40) + kBlocks;
      int pos = 0;
      // Fisher-Yates from the top: ks[i] uniform in [0, i] by rejection, then swap(p[i], p[ks[i]]).
      for (int64_t i = len - 1; i > 0; --i) {
        const unsigned range = static_cast<unsigned>(i + 1), lim = limit[range];
        unsigned b;
        do {
          if (pos == kBytes) {  // the row's next five blocks
            aesCtrBlocks(key, iv, block, kBlocks, bytes, impl);
            block += kBlocks;
            pos = 0;
          }
          b = bytes[pos++];
        } while (b >= lim);
        ks[i] = static_cast<uint8_t>(b - static_cast<unsigned>((b * recip[range]) >> 32) * range);
      }
      uint8_t* p = dst + (g + k) * len;
      for (int64_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(i);
      for (int64_t i = len - 1; i > 0; --i) std::swap(p[i], p[ks[i]]);
    }
  }
}

}  // namespace tfe
