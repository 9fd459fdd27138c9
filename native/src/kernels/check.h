// Input checks shared by kernels. TypeScript validates first with friendlier messages; these
// checks keep native code memory-safe whatever the caller sends.
#pragma once
#include <string>

#include "core/tensor.h"

namespace tfe {

inline void requireDType(const std::string& op, const Tensor& t, DType d, const char* what = "input") {
  if (t.dtype != d)
    throw KernelError(op + ": " + what + " has dtype " + t.dtypeName() + ", expected " + dtypeToString(d, 0));
}

inline void requireSameDType(const std::string& op, const Tensor& a, const Tensor& b) {
  if (a.dtype != b.dtype || a.modulus != b.modulus)
    throw KernelError(op + ": dtypes " + a.dtypeName() + " and " + b.dtypeName() + " differ");
}

inline void requireRank(const std::string& op, const Tensor& t, int64_t r, const char* what = "input") {
  if (t.rank() != r)
    throw KernelError(op + ": " + what + " must have rank " + std::to_string(r) + ", got shape " + shapeStr(t.shape));
}

inline int64_t normAxis(const std::string& op, int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw KernelError(op + ": axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return a;
}

}  // namespace tfe
