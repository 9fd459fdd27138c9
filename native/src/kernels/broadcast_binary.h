// Elementwise binary kernels with NumPy broadcasting, shared by every dtype's arithmetic.
#pragma once
#include <algorithm>
#include <string>

#include "core/broadcast.h"
#include "core/thread_pool.h"
#include "kernels/check.h"

namespace tfe {

// out = op(a, b) elementwise with broadcasting; a and b must share a dtype, which out keeps.
template <typename T, typename Op>
inline Tensor binaryBroadcast(const std::string& name, const Tensor& a, const Tensor& b, Op op) {
  requireSameDType(name, a, b);
  Shape outShape = broadcastShapes(a.shape, b.shape, name);
  Tensor out = allocTensor(outShape, a.dtype, a.modulus);
  if (out.size() == 0) return out;
  BroadcastPlan plan = planBroadcast(outShape, {&a.shape, &b.shape});
  const T* pa = a.ptr<T>();
  const T* pb = b.ptr<T>();
  T* po = out.ptr<T>();
  int64_t inner = plan.inner();
  int64_t rowGrain = std::max<int64_t>(1, (int64_t(1) << 15) / inner);
  parallelFor(0, plan.rows(), rowGrain, [&](int64_t lo, int64_t hi) {
    forEachRow(plan, lo, hi, [&](int64_t row, const int64_t* off) {
      const T* x = pa + off[0];
      const T* y = pb + off[1];
      T* z = po + row * inner;
      bool sx = plan.strides[0].back() != 0, sy = plan.strides[1].back() != 0;
      // Separate loops per stride pattern so the compiler vectorises each.
      if (sx && sy) {
        for (int64_t i = 0; i < inner; ++i) z[i] = op(x[i], y[i]);
      } else if (sx) {
        T c = y[0];
        for (int64_t i = 0; i < inner; ++i) z[i] = op(x[i], c);
      } else if (sy) {
        T c = x[0];
        for (int64_t i = 0; i < inner; ++i) z[i] = op(c, y[i]);
      } else {
        T v = op(x[0], y[0]);
        for (int64_t i = 0; i < inner; ++i) z[i] = v;
      }
    });
  });
  return out;
}

}  // namespace tfe
