// Host instantiation of the layout kernels (kernels/layout_impl.h).
#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/layout_impl.h"

namespace tfe {
namespace {

struct HostMem {
  static Tensor alloc(const Shape& s, DType d, uint32_t m) { return allocTensor(s, d, m); }
  static void stridedCopy(const Shape& shape, size_t es, const StridedView& src, const StridedView& dst) {
    tfe::stridedCopy(shape, es, src, dst);
  }
  template <typename T>
  static void fill(Tensor& t, T v) {
    T* p = t.ptr<T>();
    parallelFor(0, t.size(), 1 << 16, [&](int64_t lo, int64_t hi) { std::fill(p + lo, p + hi, v); });
  }
  static void fill64(Tensor& t, uint64_t v) { fill<uint64_t>(t, v); }
  static void fill8(Tensor& t, uint8_t v) { fill<uint8_t>(t, v); }
  // out[o, j, :] = a[o, idx[j], :] for rows of `inner` elements.
  static void gatherRows(const Tensor& a, Tensor& out, int64_t outer, int64_t dim, int64_t inner, const std::vector<int64_t>& idx) {
    size_t es = elemSize(a.dtype);
    int64_t n = static_cast<int64_t>(idx.size());
    const char* src = layout::bytePtr(a);
    char* dst = layout::bytePtr(out);
    parallelFor(0, outer * n, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(inner, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        int64_t o = k / n, j = k % n;
        std::memcpy(dst + (k * inner) * es, src + ((o * dim + idx[j]) * inner) * es, inner * es);
      }
    });
  }
};

TFE_REGISTER_KERNEL("Reshape", 1, layout::reshape);
TFE_REGISTER_KERNEL("Transpose", 1, layout::transpose<HostMem>);
TFE_REGISTER_KERNEL("Slice", 1, layout::slice<HostMem>);
TFE_REGISTER_KERNEL("Concat", -1, layout::concat<HostMem>);
TFE_REGISTER_KERNEL("Pad", 1, layout::pad<HostMem>);
TFE_REGISTER_KERNEL("Gather", 1, layout::gather<HostMem>);

}  // namespace
}  // namespace tfe
