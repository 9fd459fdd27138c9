// ReduceSum along any set of axes: ring64 wraps, z<p> reduces mod p, bit gives the parity.
// Reduced axes are moved last (one strided copy when they are not already), then each row is
// summed. Written once over a memory policy: HostMem in reduce.cc, the CUDA one in
// native/cuda/reduce.cu.
#pragma once
#include <vector>

#include "core/registry.h"
#include "core/strided.h"
#include "kernels/check.h"

namespace tfe {
namespace reduce {

template <typename Mem>
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
  Tensor out = Mem::alloc(outShape, a.dtype, a.modulus);
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
    src = Mem::alloc(permShape, a.dtype, a.modulus);
    Mem::stridedCopy(permShape, elemSize(a.dtype), {a.storage->data(), ss}, {src.storage->data(), contiguousStrides(permShape)});
  }
  Mem::rowSums(src, out, rows, rowLen);
  return {out};
}

}  // namespace reduce
}  // namespace tfe
