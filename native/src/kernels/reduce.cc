// Host instantiation of ReduceSum (kernels/reduce_impl.h).
#include <algorithm>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/reduce_impl.h"

namespace tfe {
namespace {

struct HostMem {
  static Tensor alloc(const Shape& s, DType d, uint32_t m) { return allocTensor(s, d, m); }
  static void stridedCopy(const Shape& shape, size_t es, const StridedView& src, const StridedView& dst) {
    tfe::stridedCopy(shape, es, src, dst);
  }
  // out[i] = sum of src's row i (rowLen elements), in out's dtype.
  static void rowSums(const Tensor& src, Tensor& out, int64_t rows, int64_t rowLen) {
    int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(rowLen, 1));
    if (src.dtype == DType::Ring64) {
      const uint64_t* x = src.ptr<uint64_t>();
      uint64_t* z = out.ptr<uint64_t>();
      parallelFor(0, rows, grain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          uint64_t acc = 0;
          for (int64_t j = 0; j < rowLen; ++j) acc += x[i * rowLen + j];
          z[i] = acc;
        }
      });
      return;
    }
    const uint8_t* x = src.ptr<uint8_t>();
    uint8_t* z = out.ptr<uint8_t>();
    uint64_t m = src.dtype == DType::Bit ? 2 : src.modulus;
    parallelFor(0, rows, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        uint64_t acc = 0;  // < 2^56 values < 256: no overflow
        for (int64_t j = 0; j < rowLen; ++j) acc += x[i * rowLen + j];
        z[i] = static_cast<uint8_t>(acc % m);
      }
    });
  }
};

TFE_REGISTER_KERNEL("ReduceSum", 1, reduce::reduceSum<HostMem>);

}  // namespace
}  // namespace tfe
