// Strided N-d copy: the one primitive behind transpose, slice, pad and concat.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tfe {

struct StridedView {
  void* base;                    // element 0 of the view
  std::vector<int64_t> strides;  // in elements, one per dim of the copy shape
};

// Copies shape-many elements of elemBytes each from src to dst. Runs in parallel over rows.
void stridedCopy(const Shape& shape, size_t elemBytes, const StridedView& src, const StridedView& dst);

// Row-major contiguous strides for a shape.
std::vector<int64_t> contiguousStrides(const Shape& shape);

}  // namespace tfe
