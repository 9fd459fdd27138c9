// Harness cases for the layout kernels and ReduceSum (layout.cu, reduce.cu).
#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

Attrs ints(const std::string& k, std::vector<int64_t> v) {
  Attrs a;
  a.set(k, AttrValue(std::move(v)));
  return a;
}

const std::vector<std::pair<DType, uint32_t>> kTypes = {{DType::Ring64, 0}, {DType::Field, 67}, {DType::Bit, 0}};

}  // namespace

TFE_CUDA_CASE(transpose_slice_pad) {
  for (auto [d, p] : kTypes) {
    Tensor x = randomHost({3, 5, 7, 2}, d, p);
    if (!compareKernel("Transpose", {x}, ints("perm", {2, 0, 3, 1})) || !compareKernel("Transpose", {x}, ints("perm", {0, 1, 2, 3})))
      return false;
    Attrs s = ints("begin", {1, 0, 2, 0});
    s.set("size", AttrValue(std::vector<int64_t>{2, -1, 4, 1}));
    if (!compareKernel("Slice", {x}, s)) return false;
    Attrs pd = ints("paddings", {0, 1, 2, 0, 1, 1, 0, 3});
    pd.set("value", AttrValue(uint64_t(1)));
    if (!compareKernel("Pad", {x}, pd)) return false;
  }
  return expectBothThrow("Transpose", {randomHost({2, 3}, DType::Ring64)}, ints("perm", {0, 0}));
}

TFE_CUDA_CASE(concat_gather_reshape) {
  for (auto [d, p] : kTypes) {
    Tensor a = randomHost({4, 3, 5}, d, p), b = randomHost({4, 6, 5}, d, p), c = randomHost({4, 0, 5}, d, p);
    Attrs ax;
    ax.set("axis", AttrValue(int64_t(1)));
    if (!compareKernel("Concat", {a, b, c}, ax)) return false;
    Attrs g = ints("indices", {2, 0, 2, 1});
    g.set("axis", AttrValue(int64_t(1)));
    if (!compareKernel("Gather", {a}, g)) return false;
    if (!compareKernel("Reshape", {a}, ints("shape", {12, 5}))) return false;
  }
  Attrs bad = ints("indices", {3});
  bad.set("axis", AttrValue(int64_t(1)));
  return expectBothThrow("Gather", {randomHost({4, 3}, DType::Ring64)}, bad);
}

TFE_CUDA_CASE(reduce_sum) {
  for (auto [d, p] : kTypes) {
    Tensor x = randomHost({6, 1000, 3}, d, p);
    for (auto axes : std::vector<std::vector<int64_t>>{{2}, {1}, {0, 2}, {0, 1, 2}, {}}) {
      Attrs a = ints("axes", axes);
      a.set("keepDims", AttrValue(axes.size() == 1));
      if (!compareKernel("ReduceSum", {x}, a)) return false;
    }
  }
  return expectBothThrow("ReduceSum", {randomHost({3}, DType::Ring64)}, ints("axes", {0, 0}));
}

}  // namespace cudatest
}  // namespace tfe
