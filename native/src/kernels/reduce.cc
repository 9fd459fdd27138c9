// ReduceSum along any set of axes: ring64 wraps, z<p> reduces mod p, bit gives the parity.
// Reduced axes are moved last (one strided copy when they are not already), then each row is summed.
#include <algorithm>

#include "core/registry.h"
#include "core/strided.h"
#include "core/thread_pool.h"
#include "kernels/check.h"

namespace tfe {
namespace {

Outputs reduceSum(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  if (a.dtype == DType::F64) throw KernelError("ReduceSum: dtype f64 is not supported");
  int64_t r = a.rank();
  std::vector<bool> reduced(r, false);
  for (int64_t ax : at.getInts("axes")) {
    int64_t n = normAxis("ReduceSum", ax, r);
    if (reduced[n]) throw KernelError("ReduceSum: axis " + std::to_string(ax) + " is listed twice");
    reduced[n] = true;
  }
  bool keepDims = at.getBool("keepDims", false);
  std::vector<int64_t> perm;
  Shape outShape, permShape;
  int64_t rowLen = 1;
  for (int64_t i = 0; i < r; ++i)
    if (!reduced[i]) {
      perm.push_back(i);
      outShape.push_back(a.shape[i]);
    } else if (keepDims) {
      outShape.push_back(1);
    }
  for (int64_t i = 0; i < r; ++i)
    if (reduced[i]) {
      perm.push_back(i);
      rowLen *= a.shape[i];
    }
  Tensor out = allocTensor(outShape, a.dtype, a.modulus);
  int64_t rows = out.size();
  // Bring reduced axes last unless they already are.
  bool identity = true;
  for (int64_t i = 0; i < r; ++i) identity = identity && perm[i] == i;
  Tensor src = a;
  if (!identity) {
    std::vector<int64_t> inStrides = contiguousStrides(a.shape), ss(r);
    for (int64_t i = 0; i < r; ++i) {
      permShape.push_back(a.shape[perm[i]]);
      ss[i] = inStrides[perm[i]];
    }
    src = allocTensor(permShape, a.dtype, a.modulus);
    stridedCopy(permShape, elemSize(a.dtype), {a.storage->data(), ss}, {src.storage->data(), contiguousStrides(permShape)});
  }
  int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(rowLen, 1));
  if (a.dtype == DType::Ring64) {
    const uint64_t* x = src.ptr<uint64_t>();
    uint64_t* z = out.ptr<uint64_t>();
    parallelFor(0, rows, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        uint64_t acc = 0;
        for (int64_t j = 0; j < rowLen; ++j) acc += x[i * rowLen + j];
        z[i] = acc;
      }
    });
  } else {
    const uint8_t* x = src.ptr<uint8_t>();
    uint8_t* z = out.ptr<uint8_t>();
    uint64_t m = a.dtype == DType::Bit ? 2 : a.modulus;
    parallelFor(0, rows, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        uint64_t acc = 0;  // < 2^56 rows of values < 256: no overflow
        for (int64_t j = 0; j < rowLen; ++j) acc += x[i * rowLen + j];
        z[i] = static_cast<uint8_t>(acc % m);
      }
    });
  }
  return {out};
}

TFE_REGISTER_KERNEL("ReduceSum", 1, reduceSum);

}  // namespace
}  // namespace tfe
