// FssSignFinish: the one-round FSS sign/ReLU gate's local steps after the DCF evaluation
// (lib/protocol/fss/drelu.ts, steps 5-7), in one pass. As separate ring kernels they were about a
// dozen calls on a few hundred elements at batch 1, each paying the op layer's fixed cost on the
// critical path between two openings; the arithmetic is the same, mod 2^64, element by element.
//
// Inputs (ring64, each [n]): xhat (the opened x^ = a + r, public), c (this party's share of the
// DCF's first payload, (1 - 2b) [x^_low < r_low]), b (its share of b = MSB(r)); with relu also
// e (its share of the second payload, r (1 - 2b) [x^_low < r_low]), r and rb (its shares of r
// and r b). Attrs: party (0 or 1), relu (0 or 1), bit (0 or 1; only with relu), signBit (the
// comparison's sign bit, n - 1 for a gate of width n: 63 by default, the whole ring; b is then
// bit n - 1 of r, and the DCF compared the n - 1 bits below it).
// With A = bit signBit of x^, z = c + b, d = [party = 0] (1 - A) - z (1 - 2A) (this party's share of
// DReLU(a)); with relu, relu(a)'s share x^ d - (r (1 - A) - (rb + e) (1 - 2A)).
// Output: d [n]; with relu, relu [n]; with relu and bit, [relu; d] [2n].
#include <cstdint>
#include <string>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"

namespace tfe {
namespace fss {
namespace {

Outputs fssSignFinish(const Inputs& in, const Attrs& at) {
  const std::string op = "FssSignFinish";
  if (!at.has("party")) throw KernelError(op + ": missing attribute 'party' (0 or 1)");
  const int64_t party = at.getInt("party");
  if (party != 0 && party != 1) throw KernelError(op + ": party must be 0 or 1, got " + std::to_string(party));
  const bool relu = at.getInt("relu", 0) != 0, bit = at.getInt("bit", 0) != 0;
  if (bit && !relu) throw KernelError(op + ": bit needs relu");
  const int64_t signBit = at.getInt("signBit", 63);
  if (signBit < 1 || signBit > 63) throw KernelError(op + ": signBit must be in [1, 63], got " + std::to_string(signBit));
  const size_t want = relu ? 6 : 3;
  if (in.size() != want)
    throw KernelError(op + ": expected " + std::to_string(want) + " inputs (xhat, c, b" + (relu ? ", e, r, rb" : "") + "), got " + std::to_string(in.size()));
  static const char* names[] = {"xhat", "c", "b", "e", "r", "rb"};
  for (size_t i = 0; i < in.size(); ++i) {
    requireDType(op, in[i], DType::Ring64, names[i]);
    requireRank(op, in[i], 1, names[i]);
    if (in[i].shape[0] != in[0].shape[0])
      throw KernelError(op + ": " + names[i] + " " + shapeStr(in[i].shape) + " and xhat " + shapeStr(in[0].shape) + " must have one shape");
  }
  const int64_t n = in[0].shape[0];
  Tensor out = allocTensor({bit ? 2 * n : n}, DType::Ring64);
  const uint64_t *xh = in[0].ptr<uint64_t>(), *c = in[1].ptr<uint64_t>(), *b = in[2].ptr<uint64_t>();
  const uint64_t *e = relu ? in[3].ptr<uint64_t>() : nullptr, *r = relu ? in[4].ptr<uint64_t>() : nullptr, *rb = relu ? in[5].ptr<uint64_t>() : nullptr;
  uint64_t* y = out.ptr<uint64_t>();
  const uint64_t first = party == 0 ? 1 : 0;
  parallelFor(0, n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const uint64_t top = (xh[i] >> signBit) & 1, notTop = 1 - top, flip = 1 - 2 * top;
      const uint64_t d = first * notTop - (c[i] + b[i]) * flip;
      if (!relu) {
        y[i] = d;
        continue;
      }
      const uint64_t rd = r[i] * notTop - (rb[i] + e[i]) * flip;
      y[i] = xh[i] * d - rd;
      if (bit) y[n + i] = d;
    }
  });
  return {out};
}

}  // namespace

// Variadic: 3 inputs for DReLU, 6 for relu (the arity is checked above).
TFE_REGISTER_KERNEL("FssSignFinish", -1, fssSignFinish);

}  // namespace fss
}  // namespace tfe
