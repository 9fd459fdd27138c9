#include "core/broadcast.h"

#include <algorithm>

namespace tfe {

Shape broadcastShapes(const Shape& a, const Shape& b, const std::string& op) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw KernelError(op + ": shapes " + shapeStr(a) + " and " + shapeStr(b) + " cannot be broadcast (dimension " +
                        std::to_string(i) + ": " + std::to_string(da) + " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t BroadcastPlan::rows() const {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) n *= dims[i];
  return n;
}

BroadcastPlan planBroadcast(const Shape& out, const std::vector<const Shape*>& inputs) {
  size_t r = out.size(), n = inputs.size();
  // Right-aligned per-input dims; 1 where broadcast.
  std::vector<Shape> in(n, Shape(r, 1));
  for (size_t k = 0; k < n; ++k) {
    const Shape& s = *inputs[k];
    for (size_t i = 0; i < s.size(); ++i) in[k][r - s.size() + i] = s[i];
  }
  // Drop output dims of size 1, then merge neighbours whose broadcast pattern matches.
  Shape dims;
  std::vector<Shape> idims(n);
  for (size_t i = 0; i < r; ++i) {
    if (out[i] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < n && merge; ++k) merge = (in[k][i] == 1) == (idims[k].back() == 1);
    if (merge) {
      dims.back() *= out[i];
      for (size_t k = 0; k < n; ++k) idims[k].back() *= in[k][i];
    } else {
      dims.push_back(out[i]);
      for (size_t k = 0; k < n; ++k) idims[k].push_back(in[k][i]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (size_t k = 0; k < n; ++k) idims[k].push_back(1);
  }
  BroadcastPlan p;
  p.dims = dims;
  p.strides.assign(n, std::vector<int64_t>(dims.size()));
  for (size_t k = 0; k < n; ++k) {
    int64_t s = 1;
    for (size_t i = dims.size(); i-- > 0;) {
      p.strides[k][i] = idims[k][i] == 1 && dims[i] != 1 ? 0 : s;
      s *= idims[k][i];
    }
  }
  return p;
}

void forEachRow(const BroadcastPlan& plan, int64_t lo, int64_t hi,
                const std::function<void(int64_t, const int64_t*)>& fn) {
  size_t n = plan.strides.size(), outer = plan.dims.size() - 1;
  std::vector<int64_t> idx(outer), off(n);
  for (int64_t row = lo; row < hi; ++row) {
    int64_t rem = row;
    std::fill(off.begin(), off.end(), 0);
    for (size_t i = outer; i-- > 0;) {
      int64_t c = rem % plan.dims[i];
      rem /= plan.dims[i];
      for (size_t k = 0; k < n; ++k) off[k] += c * plan.strides[k][i];
    }
    fn(row, off.data());
  }
}

}  // namespace tfe
