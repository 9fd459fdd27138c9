#include "core/strided.h"

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"

namespace tfe {

std::vector<int64_t> contiguousStrides(const Shape& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

namespace {

template <typename T>
void copyRows(const Shape& dims, const std::vector<int64_t>& ss, const std::vector<int64_t>& ds, const T* src, T* dst) {
  size_t outer = dims.size() - 1;
  int64_t inner = dims.back(), si = ss.back(), di = ds.back();
  int64_t rows = 1;
  for (size_t i = 0; i < outer; ++i) rows *= dims[i];
  int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(inner, 1));
  parallelFor(0, rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t rem = row, so = 0, dof = 0;
      for (size_t i = outer; i-- > 0;) {
        int64_t c = rem % dims[i];
        rem /= dims[i];
        so += c * ss[i];
        dof += c * ds[i];
      }
      const T* s = src + so;
      T* d = dst + dof;
      if (si == 1 && di == 1) {
        std::memcpy(d, s, sizeof(T) * inner);
      } else {
        for (int64_t j = 0; j < inner; ++j) d[j * di] = s[j * si];
      }
    }
  });
}

}  // namespace

void stridedCopy(const Shape& shape, size_t elemBytes, const StridedView& src, const StridedView& dst) {
  for (int64_t d : shape)
    if (d == 0) return;
  // Drop size-1 dims and merge neighbours that are contiguous in both views.
  Shape dims;
  std::vector<int64_t> ss, ds;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!dims.empty() && ss.back() == src.strides[i] * shape[i] && ds.back() == dst.strides[i] * shape[i]) {
      dims.back() *= shape[i];
      ss.back() = src.strides[i];
      ds.back() = dst.strides[i];
    } else {
      dims.push_back(shape[i]);
      ss.push_back(src.strides[i]);
      ds.push_back(dst.strides[i]);
    }
  }
  if (dims.empty()) {
    dims = {1};
    ss = {1};
    ds = {1};
  }
  if (elemBytes == 8)
    copyRows(dims, ss, ds, static_cast<const uint64_t*>(src.base), static_cast<uint64_t*>(dst.base));
  else
    copyRows(dims, ss, ds, static_cast<const uint8_t*>(src.base), static_cast<uint8_t*>(dst.base));
}

}  // namespace tfe
