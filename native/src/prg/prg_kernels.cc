// PRG kernels: expand a 128-bit seed into uniform ring elements, bits, or elements mod p.
//
// Stream layout (the CUDA backend reproduces it bit for bit): AES-128 keyed with the seed, in CTR
// mode with counter block nonce (8 bytes, big-endian) || block index (8 bytes, big-endian).
//   ring64: element j is keystream bytes [8j, 8j + 8) read little-endian.
//   bit:    element j is bit (j mod 8) of keystream byte floor(j / 8).
//   z<p>:   element j is keystream bytes [2j, 2j + 2) read little-endian as a 16-bit word w,
//           mod p, if w is below 2^16 - (2^16 mod p); otherwise the first such word of block
//           t * 2^56 + j for t = 1, 2, ... (element j's own retry blocks, eight little-endian words
//           each). Rejecting the top 2^16 mod p word values removes the modulo bias exactly; words
//           rather than bytes make rejection rare (10 in 65536 for p = 67, against 55 in 256 for a
//           byte), and per-element retry blocks keep random access. (With `nonzero`, the same over
//           [1, p-1] with 2^16 mod (p-1).)
// `offset` is the global index of the first element, so slices of one logical tensor can be
// generated separately (or in parallel) and agree with generating it whole.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "prg/aes128.h"
#include "prg/prg_args.h"
#include "prg/streams.h"

namespace tfe {

PrgArgs parsePrgArgs(const std::string& op, const Attrs& at) {
  PrgArgs a;
  std::vector<uint8_t> seed = at.getBytes("seed");
  if (seed.size() != 16) throw KernelError(op + ": seed must be 16 bytes (128 bits), got " + std::to_string(seed.size()));
  // impl picks the key schedule as well as the block function: 'portable' is table-driven
  // throughout, 'aesni' (and 'auto' on an AES-NI CPU) uses no tables at all.
  a.impl = parseAesImpl(at.getString("impl", "auto"));
  aesExpandKey(seed.data(), &a.key, a.impl);
  a.nonce = at.getRing("nonce", 0);
  for (int b = 0; b < 8; ++b) a.iv[b] = static_cast<uint8_t>(a.nonce >> (56 - 8 * b));
  int64_t off = at.getInt("offset", 0);
  a.shape = at.getInts("shape");
  uint64_t n = static_cast<uint64_t>(numel(a.shape));
  if (off < 0 || static_cast<uint64_t>(off) > kMaxPrgElements || n > kMaxPrgElements - static_cast<uint64_t>(off))
    throw KernelError(op + ": offset " + std::to_string(off) + " plus " + std::to_string(n) + " elements exceeds 2^56");
  a.offset = static_cast<uint64_t>(off);
  return a;
}

int64_t prgPermutationRows(const PrgArgs& a) {
  if (a.shape.empty() || a.shape.back() < 1 || a.shape.back() > 256)
    throw KernelError("PrgPermutation: the last dimension must be in [1, 256], got shape " + shapeStr(a.shape));
  int64_t rows = numel(a.shape) / a.shape.back();
  if (a.offset + static_cast<uint64_t>(rows) > (uint64_t(1) << 24))
    throw KernelError("PrgPermutation: row offset plus rows exceeds 2^24");
  return rows;
}

namespace {


constexpr int64_t kChunkBytes = 1 << 16;

Outputs prgRing(const Inputs&, const Attrs& at) {
  PrgArgs a = parsePrgArgs("PrgRing", at);
  Tensor out = allocTensor(a.shape, DType::Ring64);
  auto* dst = out.ptr<uint8_t>();
  int64_t n = out.size();
  parallelFor(0, n, kChunkBytes / 8, [&](int64_t lo, int64_t hi) {
    aesCtrBytes(a.key, a.iv, (a.offset + lo) * 8, (hi - lo) * 8, dst + lo * 8, a.impl);
  });
  return {out};
}

Outputs prgBits(const Inputs&, const Attrs& at) {
  PrgArgs a = parsePrgArgs("PrgBits", at);
  Tensor out = allocTensor(a.shape, DType::Bit);
  uint8_t* dst = out.ptr<uint8_t>();
  int64_t n = out.size();
  parallelFor(0, n, kChunkBytes, [&](int64_t lo, int64_t hi) {
    uint8_t buf[4096];
    for (int64_t s = lo; s < hi;) {
      uint64_t g = a.offset + s;
      uint64_t firstByte = g / 8;
      int64_t count = std::min<int64_t>(hi - s, 8 * 4000);
      uint64_t lastByte = (g + count - 1) / 8;
      aesCtrBytes(a.key, a.iv, firstByte, lastByte - firstByte + 1, buf, a.impl);
      for (int64_t i = 0; i < count; ++i) {
        uint64_t gi = g + i;
        dst[s + i] = (buf[gi / 8 - firstByte] >> (gi % 8)) & 1u;
      }
      s += count;
    }
  });
  return {out};
}

Outputs prgField(const Inputs&, const Attrs& at) {
  PrgArgs a = parsePrgArgs("PrgField", at);
  int64_t p = at.getInt("modulus");
  DType dt;
  uint32_t mod;
  parseDType("z" + std::to_string(p), &dt, &mod);  // validates that p is a prime in (2, 256)
  Tensor out = allocTensor(a.shape, DType::Field, mod);
  uint8_t* dst = out.ptr<uint8_t>();
  // nonzero: uniform in Z_p* = [1, p-1] (SecureNN's blinding factors), by the same rejection.
  const FieldSampler fs(mod, at.getBool("nonzero", false));
  parallelFor(0, out.size(), 1 << 14, [&](int64_t lo, int64_t hi) { sampleField(a.key, a.iv, a.impl, fs, a.offset + lo, hi - lo, dst + lo); });
  return {out};
}

// Uniform random permutations of [0, L) for each of the rows of shape [..., L] (L <= 256), by
// Fisher-Yates with rejection-sampled indices. Row j uses keystream blocks from j * 2^40 on
// (each row needs far fewer), so rows can be generated independently: offset counts rows.
// Output ring64 holding the indices: out[..., i] is where element i goes.
Outputs prgPermutation(const Inputs&, const Attrs& at) {
  PrgArgs a = parsePrgArgs("PrgPermutation", at);
  // Rows first: it refuses an empty shape before back() reads one (a rank-0 shape crashed here).
  int64_t rows = prgPermutationRows(a), len = a.shape.back();
  Tensor out = allocTensor(a.shape, DType::Ring64);
  uint64_t* dst = out.ptr<uint64_t>();
  parallelFor(0, rows, 64, [&](int64_t lo, int64_t hi) {
    std::vector<uint8_t> p(static_cast<size_t>((hi - lo) * len));
    samplePermutations(a.key, a.iv, a.impl, a.offset + lo, hi - lo, len, p.data());
    std::copy(p.begin(), p.end(), dst + lo * len);
  });
  return {out};
}

// out[..., perm[..., i]] = x[..., i]: applies a per-row permutation along the last axis.
Outputs permuteLastAxis(const Inputs& in, const Attrs&) {
  const Tensor &x = in[0], &perm = in[1];
  requireDType("PermuteLastAxis", perm, DType::Ring64, "permutation");
  if (x.shape != perm.shape || x.rank() < 1)
    throw KernelError("PermuteLastAxis: input " + shapeStr(x.shape) + " and permutation " + shapeStr(perm.shape) + " must have one shape");
  Tensor out = allocTensor(x.shape, x.dtype, x.modulus);
  int64_t len = x.shape.back(), rows = len ? x.size() / len : 0;
  size_t es = elemSize(x.dtype);
  const char* src = static_cast<const char*>(x.storage->data());
  char* dst = static_cast<char*>(out.storage->data());
  const uint64_t* pm = perm.ptr<uint64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<bool> seen(len, false);
    for (int64_t i = 0; i < len; ++i) {
      uint64_t to = pm[r * len + i];
      if (to >= static_cast<uint64_t>(len) || seen[to])
        throw KernelError("PermuteLastAxis: row " + std::to_string(r) + " is not a permutation");
      seen[to] = true;
      std::memcpy(dst + (r * len + to) * es, src + (r * len + i) * es, es);
    }
  }
  return {out};
}

TFE_REGISTER_KERNEL("PrgPermutation", 0, prgPermutation);
TFE_REGISTER_KERNEL("PermuteLastAxis", 2, permuteLastAxis);
TFE_REGISTER_KERNEL("PrgRing", 0, prgRing);
TFE_REGISTER_KERNEL("PrgBits", 0, prgBits);
TFE_REGISTER_KERNEL("PrgField", 0, prgField);

}  // namespace
}  // namespace tfe
