// NumPy-style broadcasting, with adjacent dimensions coalesced so that the common cases
// (same shape, scalar operand, row/column vectors) run as long contiguous inner loops.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tfe {

// Output shape of broadcasting a with b; throws naming both shapes when incompatible.
Shape broadcastShapes(const Shape& a, const Shape& b, const std::string& op);

struct BroadcastPlan {
  Shape dims;                                 // coalesced output dims (at least one)
  std::vector<std::vector<int64_t>> strides;  // per input, element strides per coalesced dim (0 = broadcast)
  int64_t inner() const { return dims.back(); }
  int64_t rows() const;
};

BroadcastPlan planBroadcast(const Shape& out, const std::vector<const Shape*>& inputs);

// Calls fn(row, offsets) for each row of the coalesced output in [lo, hi), where offsets[i] is
// input i's element offset of the row's first element and the row spans inner() elements.
void forEachRow(const BroadcastPlan& plan, int64_t lo, int64_t hi,
                const std::function<void(int64_t, const int64_t*)>& fn);

}  // namespace tfe
