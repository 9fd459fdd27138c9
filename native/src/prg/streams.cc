// Batched generation of the z<p> and permutation streams. The stream layouts are fixed by
// prg_kernels.cc (and reproduced by native/cuda/prg.cu). z<p> reads 16-bit words, so rejections
// (and their retry blocks, one AES block each) are rare; the permutation rows' draws take the
// keystream bytes of eight rows at once.
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
    : range(nonzero ? modulus - 1 : modulus),
      base(nonzero ? 1 : 0),
      limit(65536 - 65536 % range),
      recip(65536 / range) {}

uint8_t FieldSampler::element(uint32_t word) const {
  return word < limit ? static_cast<uint8_t>(word % range + base) : kRejected;
}

namespace {

// dst[i] = the element of the little-endian 16-bit word src[2i, 2i + 2), or kRejected. Branch-free
// 16-bit arithmetic (eight words per SSE2 vector): q = floor(w * floor(2^16 / range) / 2^16) is
// floor(w / range) or one less (2 <= range <= 255, so the reciprocal fits 16 bits), so
// w - q * range is below 2 * range < 2^9 and one conditional subtraction finishes the remainder.
// The tail (and builds without SSE2) take FieldSampler::element, the same function.
void mapWords(const FieldSampler& fs, const uint8_t* src, int64_t n, uint8_t* dst) {
  int64_t i = 0;
#if defined(__SSE2__)
  const uint16_t r = static_cast<uint16_t>(fs.range), m = static_cast<uint16_t>(fs.recip);
  const uint16_t base = static_cast<uint16_t>(fs.base), top = static_cast<uint16_t>(fs.limit - 1);
  // Eight words per vector: pmulhuw is the quotient estimate; "w <= top" is saturating w - top == 0;
  // v < 2 * range < 2^9, so a signed compare decides the subtraction.
  const __m128i vr = _mm_set1_epi16(static_cast<short>(r)), vm = _mm_set1_epi16(static_cast<short>(m));
  const __m128i vb = _mm_set1_epi16(static_cast<short>(base)), vt = _mm_set1_epi16(static_cast<short>(top));
  const __m128i rm1 = _mm_set1_epi16(static_cast<short>(r - 1)), rej = _mm_set1_epi16(FieldSampler::kRejected);
  const __m128i zero = _mm_setzero_si128();
  auto map8 = [&](__m128i w) {
    const __m128i q = _mm_mulhi_epu16(w, vm);
    __m128i v = _mm_sub_epi16(w, _mm_mullo_epi16(q, vr));
    v = _mm_sub_epi16(v, _mm_and_si128(_mm_cmpgt_epi16(v, rm1), vr));
    const __m128i bad = _mm_cmpgt_epi16(_mm_subs_epu16(w, vt), zero);  // w - top > 0 (fits: < 2^15)
    return _mm_or_si128(_mm_andnot_si128(bad, _mm_add_epi16(v, vb)), _mm_and_si128(bad, rej));
  };
  for (; i + 16 <= n; i += 16) {
    const __m128i lo = map8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
    const __m128i hi = map8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i + 16)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packus_epi16(lo, hi));
  }
#endif
  for (; i < n; ++i) dst[i] = fs.element(src[2 * i] | src[2 * i + 1] << 8);
}

// Positions of kRejected in dst[0, n), in order; rejection is rare (at most 2^-10 per element for
// any p < 256, about 10 in 65536 for Z_67), so sixteen bytes are tested at once and only a hit
// looks closer.
void findRejected(const uint8_t* dst, int64_t n, std::vector<uint32_t>* out) {
  out->clear();
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128i ff = _mm_set1_epi8(static_cast<char>(FieldSampler::kRejected));
  for (; i + 16 <= n; i += 16) {
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + i)), ff)));
    for (; mask; mask &= mask - 1) out->push_back(static_cast<uint32_t>(i + __builtin_ctz(mask)));
  }
#endif
  for (; i < n; ++i)
    if (dst[i] == FieldSampler::kRejected) out->push_back(static_cast<uint32_t>(i));
}

}  // namespace

void sampleField(const AesKey& key, const uint8_t iv[16], AesImpl impl, const FieldSampler& fs, uint64_t first,
                 int64_t count, uint8_t* dst) {
  constexpr int64_t kChunk = 4096;
  alignas(16) uint8_t bytes[2 * kChunk];
  std::vector<uint32_t> pending;
  for (int64_t s = 0; s < count; s += kChunk) {
    const int64_t n = std::min(kChunk, count - s);
    aesCtrBytes(key, iv, 2 * (first + s), static_cast<uint64_t>(2 * n), bytes, impl);
    mapWords(fs, bytes, n, dst + s);
    // A rejected element j reads its own retry blocks attempt * 2^56 + j, attempt = 1, 2, ..., as
    // eight little-endian words each, and takes the first accepted one. (The main stream of 2^56
    // elements ends at block 2^53, below every retry block.)
    findRejected(dst + s, n, &pending);
    for (uint32_t k : pending) {
      const uint64_t j = first + static_cast<uint64_t>(s) + k;
      uint8_t v = FieldSampler::kRejected;
      for (uint64_t attempt = 1; v == FieldSampler::kRejected; ++attempt) {
        alignas(16) uint8_t blk[16];
        const uint64_t idx = (attempt << 56) + j;
        aesCtrBlocksAt(key, iv, &idx, 1, blk, impl);
        for (int t = 0; t < 8 && v == FieldSampler::kRejected; ++t) v = fs.element(blk[2 * t] | blk[2 * t + 1] << 8);
      }
      dst[s + k] = v;
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
