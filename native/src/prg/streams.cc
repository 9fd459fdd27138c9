// Batched generation of the z<p> and permutation streams. The stream layout is fixed by
// prg_kernels.cc (and reproduced by native/cuda/prg.cu); this file only changes how many AES
// blocks are in flight at once: the scalar version computed each retry block alone, which made
// the ~21% rejected bytes of Z_67 cost more than the whole main stream.
#include "prg/streams.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

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

// kOffsets[mask]: the positions of mask's set bits, then zeros (eight per mask), and how many:
// the branch-free compaction in findRejected.
struct OffsetTable {
  alignas(16) uint32_t pos[256][8];
  uint8_t count[256];
  constexpr OffsetTable() : pos(), count() {
    for (int m = 0; m < 256; ++m) {
      int c = 0;
      for (int b = 0; b < 8; ++b)
        if (m >> b & 1) pos[m][c++] = static_cast<uint32_t>(b);
      count[m] = static_cast<uint8_t>(c);
    }
  }
};
constexpr OffsetTable kOffsets;

// Positions of kRejected in dst[0, n) (plus `add`) appended to out, which has room for 8 more
// entries than it can receive; returns the new count.
size_t findRejected(const uint8_t* dst, int64_t n, uint32_t add, uint32_t* out, size_t m) {
  int64_t i = 0;
#if defined(__SSE2__)
  // Sixteen bytes to a mask, each half of it to up to eight positions by one table row, stored
  // whole and advanced by its count (no branch per rejected byte).
  const __m128i ff = _mm_set1_epi8(static_cast<char>(FieldSampler::kRejected));
  for (; i + 16 <= n; i += 16) {
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + i)), ff)));
    for (int h = 0; h < 2; ++h) {
      const unsigned mk = (mask >> (8 * h)) & 0xff;
      const __m128i base = _mm_set1_epi32(static_cast<int>(add + static_cast<uint32_t>(i + 8 * h)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + m), _mm_add_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(kOffsets.pos[mk])), base));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + m + 4), _mm_add_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(kOffsets.pos[mk] + 4)), base));
      m += kOffsets.count[mk];
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
  uint32_t pendingBuf[kChunk + 8], nextBuf[kChunk + 8];
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

namespace {

// Fisher-Yates draws for a row, in acceptance order: ksA[a] is uniform in [0, len - 1 - a] (the
// index that position len - 1 - a swaps with), from the row's bytes by rejection: byte b is taken
// for range r when b < limit(r) = 256 - 256 mod r, as b mod r. tables[a] holds, per draw a,
// limit - 1 (as a byte), ceil(2^16 / r) and r.
struct DrawTables {
  uint8_t limM1[256 + 16] = {};
  uint16_t recip[256 + 16] = {}, range[256 + 16] = {};
  explicit DrawTables(int64_t len) {
    for (int64_t a = 0; a + 1 < len; ++a) {
      const unsigned r = static_cast<unsigned>(len - a);
      limM1[a] = static_cast<uint8_t>(256 - 256 % r - 1);
      recip[a] = static_cast<uint16_t>((65536 + r - 1) / r);  // r >= 2; floor(b * recip / 2^16) = floor(b / r) for b < 256
      range[a] = static_cast<uint16_t>(r);
    }
  }
};

#if defined(__SSE2__)
// Sixteen bytes at a time while they last: the leading accepted bytes become draws, a rejected
// byte is skipped, and the next sixteen start after it. Stops at `last` draws or at `avail` bytes.
void drawSixteen(const DrawTables& t, const uint8_t* bytes, int avail, int* pos, int64_t* a, int64_t last, uint8_t* ksA) {
  const __m128i zero = _mm_setzero_si128();
  while (*a < last && *pos + 16 <= avail) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + *pos));
    const __m128i lim = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.limM1 + *a));
    const unsigned ok = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(b, lim), b)));
    const int accepted = __builtin_ctz(~ok | 0x10000u);
    const __m128i lo = _mm_unpacklo_epi8(b, zero), hi = _mm_unpackhi_epi8(b, zero);
    const __m128i qlo = _mm_mulhi_epu16(lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.recip + *a)));
    const __m128i qhi = _mm_mulhi_epu16(hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.recip + *a + 8)));
    const __m128i klo = _mm_sub_epi16(lo, _mm_mullo_epi16(qlo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.range + *a))));
    const __m128i khi = _mm_sub_epi16(hi, _mm_mullo_epi16(qhi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.range + *a + 8))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(ksA + *a), _mm_packus_epi16(klo, khi));
    const int take = static_cast<int>(std::min<int64_t>(accepted, last - *a));
    *a += take;
    *pos += take;
    if (take == accepted && accepted < 16) ++*pos;  // the rejected byte
  }
}
#endif

}  // namespace

void samplePermutationDraws(const AesKey& key, const uint8_t iv[16], AesImpl impl, uint64_t firstRow, int64_t rows,
                            int64_t len, uint8_t* draws) {
  // A row of 64 takes about 67 bytes: five blocks per row (computed for eight rows at once) almost
  // always suffice, and the row's later blocks follow five at a time as needed.
  constexpr int kRows = 8, kBlocks = 5, kBytes = 16 * kBlocks, kRefill = 5;
  alignas(16) uint8_t buf[kRows * kBytes];
  uint64_t idx[kRows * kBlocks];
  const DrawTables t(len);
  uint8_t ksA[256 + 16];  // room for drawSixteen's whole-vector stores
  const int64_t last = len - 1;
  for (int64_t g = 0; g < rows; g += kRows) {
    const int64_t m = std::min<int64_t>(kRows, rows - g);
    for (int64_t k = 0; k < m; ++k)
      for (int b = 0; b < kBlocks; ++b) idx[k * kBlocks + b] = ((firstRow + g + k) << 40) + b;
    aesCtrBlocksAt(key, iv, idx, static_cast<uint64_t>(m * kBlocks), buf, impl);
    for (int64_t k = 0; k < m; ++k) {
      uint8_t* bytes = buf + k * kBytes;
      uint64_t block = ((firstRow + g + k) << 40) + kBlocks;
      int pos = 0, avail = kBytes;
      int64_t a = 0;
#if defined(__SSE2__)
      drawSixteen(t, bytes, avail, &pos, &a, last, ksA);
#endif
      while (a < last) {  // one byte at a time: the tail, and rows that need more blocks
        if (pos == avail) {
          aesCtrBlocks(key, iv, block, kRefill, bytes, impl);
          block += kRefill;
          pos = 0;
          avail = 16 * kRefill;
        }
        const unsigned b = bytes[pos++];
        if (b <= t.limM1[a]) {
          ksA[a] = static_cast<uint8_t>(b - ((b * t.recip[a]) >> 16) * t.range[a]);
          ++a;
        }
      }
      uint8_t* out = draws + (g + k) * len;
      std::memcpy(out, ksA, static_cast<size_t>(last));
      out[last] = 0;
    }
  }
}

void samplePermutations(const AesKey& key, const uint8_t iv[16], AesImpl impl, uint64_t firstRow, int64_t rows,
                        int64_t len, uint8_t* dst) {
  samplePermutationDraws(key, iv, impl, firstRow, rows, len, dst);
  std::vector<uint8_t> ks(static_cast<size_t>(len));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* p = dst + r * len;
    std::memcpy(ks.data(), p, static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(i);
    for (int64_t d = 0; d + 1 < len; ++d) std::swap(p[len - 1 - d], p[ks[d]]);
  }
}

}  // namespace tfe
