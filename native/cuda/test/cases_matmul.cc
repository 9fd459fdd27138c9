// Harness cases for MatMul (matmul*.cu) and Im2Col / Col2Im / Conv2D / DepthwiseConv2D (conv.cu): every ring GEMM
// candidate against the CPU kernels, bit for bit, and the same refusals.
#include <cstdio>

#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

const char* kImpls[] = {"uint64", "fp64", "int8", "auto"};

Attrs implAttrs(const char* impl) {
  Attrs a;
  a.set("impl", std::string(impl));
  return a;
}

// The CPU runs with its own default impl; the device with each candidate in turn.
bool matmulAllImpls(const Shape& sa, const Shape& sb) {
  Tensor a = randomHost(sa, DType::Ring64), b = randomHost(sb, DType::Ring64);
  for (const char* impl : kImpls) {
    Attrs dev = implAttrs(impl);
    if (!compareKernel("MatMul", {a, b}, Attrs(), &dev)) {
      std::printf("  MatMul %s x %s with impl '%s'\n", shapeStr(sa).c_str(), shapeStr(sb).c_str(), impl);
      return false;
    }
  }
  return true;
}

Attrs convAttrs(std::vector<int64_t> strides, const std::string& padding) {
  Attrs a;
  a.set("strides", std::move(strides));
  a.set("padding", padding);
  return a;
}

// Im2Col's output shape [n, oh, ow, kh * kw * c], by TensorFlow's padding rules.
Shape columnsShape(const Shape& x, const std::vector<int64_t>& ks, const std::vector<int64_t>& strides, bool same) {
  int64_t sh = strides[0], sw = strides.size() > 1 ? strides[1] : strides[0];
  int64_t oh = same ? (x[1] + sh - 1) / sh : (x[1] - ks[0]) / sh + 1;
  int64_t ow = same ? (x[2] + sw - 1) / sw : (x[2] - ks[1]) / sw + 1;
  return {x[0], oh, ow, ks[0] * ks[1] * x[3]};
}

}  // namespace

TFE_CUDA_CASE(matmul_odd_shapes) {
  const std::pair<Shape, Shape> shapes[] = {
      {{1, 1}, {1, 1}},       {{3, 5}, {5, 7}},       {{129, 257}, {257, 65}}, {{33, 17}, {17, 65}},
      {{64, 64}, {64, 64}},   {{100, 70}, {70, 130}}, {{1, 300}, {300, 200}},  {{257, 16}, {16, 1}},
      {{2, 1000}, {1000, 3}}, {{47, 31}, {31, 95}}};
  for (auto& s : shapes)
    if (!matmulAllImpls(s.first, s.second)) return false;
  return true;
}

TFE_CUDA_CASE(matmul_batched_and_broadcast) {
  const std::pair<Shape, Shape> shapes[] = {
      {{4, 33, 17}, {4, 17, 40}},  // batch on both sides
      {{2, 3, 10, 12}, {12, 9}},   // a matrix broadcast over the other's batch
      {{10, 12}, {2, 3, 12, 9}},
      {{5, 1, 7}, {5, 7, 1}},
      {{3, 70, 40}, {40, 66}},
      {{70000, 2, 3}, {70000, 3, 2}}};  // more batch entries than a grid dimension holds
  for (auto& s : shapes)
    if (!matmulAllImpls(s.first, s.second)) return false;
  return true;
}

TFE_CUDA_CASE(matmul_empty_dims) {
  const std::pair<Shape, Shape> shapes[] = {
      {{0, 5}, {5, 7}}, {{3, 5}, {5, 0}}, {{3, 0}, {0, 4}} /* k = 0: zeros */, {{0, 3, 4}, {0, 4, 5}}, {{2, 6, 0}, {0, 3}}};
  for (auto& s : shapes)
    if (!matmulAllImpls(s.first, s.second)) return false;
  return true;
}

// Inner dimensions past the int8 chunk (2^14) and 2^16, and past the fp64 chunk (2^19): the
// kernels split K into launches that add into C.
TFE_CUDA_CASE(matmul_long_inner_dimension) {
  return matmulAllImpls({8, 65536}, {65536, 8}) && matmulAllImpls({4, 100000}, {100000, 3}) &&
         matmulAllImpls({2, 600000}, {600000, 3}) && matmulAllImpls({2, 40, 20000}, {20000, 33});
}

// All ones: every limb at its maximum, the worst case for the exact diagonal sums.
TFE_CUDA_CASE(matmul_worst_case_values) {
  for (int64_t k : {int64_t(16384), int64_t(16385), int64_t(70000)}) {
    Tensor a = allocTensor({33, k}, DType::Ring64), b = allocTensor({k, 65}, DType::Ring64);
    for (int64_t i = 0; i < a.size(); ++i) a.ptr<uint64_t>()[i] = ~uint64_t(0);
    for (int64_t i = 0; i < b.size(); ++i) b.ptr<uint64_t>()[i] = i % 7 ? ~uint64_t(0) : nextRandom();
    for (const char* impl : kImpls) {
      Attrs dev = implAttrs(impl);
      if (!compareKernel("MatMul", {a, b}, Attrs(), &dev)) return false;
    }
  }
  return true;
}

TFE_CUDA_CASE(matmul_refusals) {
  auto r = [](const Shape& s) { return randomHost(s, DType::Ring64); };
  return expectBothThrow("MatMul", {r({3, 4}), r({5, 6})}) &&          // inner dims differ
         expectBothThrow("MatMul", {r({4}), r({4, 3})}) &&             // rank 1
         expectBothThrow("MatMul", {r({2, 3, 4}), r({3, 4, 5})}) &&    // batch dims differ
         expectBothThrow("MatMul", {randomHost({3, 4}, DType::Bit), r({4, 5})}) &&
         expectBothThrow("MatMul", {r({3, 4}), r({4, 5})}, implAttrs("bogus"));  // unknown impl
}

TFE_CUDA_CASE(im2col_col2im) {
  struct G {
    Shape x;
    std::vector<int64_t> ks, strides;
    const char* pad;
  };
  const G gs[] = {{{1, 5, 5, 1}, {3, 3}, {1}, "VALID"},     {{2, 7, 6, 3}, {3, 2}, {2, 1}, "SAME"},
                  {{1, 8, 8, 16}, {3, 3}, {2}, "SAME"},     {{3, 4, 9, 2}, {1, 4}, {1, 3}, "VALID"},
                  {{1, 6, 6, 5}, {5, 5}, {1}, "SAME"},      {{2, 3, 3, 4}, {3, 3}, {3}, "VALID"},
                  {{1, 10, 7, 3}, {2, 2}, {2, 2}, "SAME"}};
  for (const G& g : gs) {
    Attrs at = convAttrs(g.strides, g.pad);
    at.set("kernelSize", g.ks);
    if (!compareKernel("Im2Col", {randomHost(g.x, DType::Ring64)}, at)) return false;
    at.set("inputShape", g.x);
    Shape cols = columnsShape(g.x, g.ks, g.strides, std::string(g.pad) == "SAME");
    if (!compareKernel("Col2Im", {randomHost(cols, DType::Ring64)}, at)) return false;
  }
  Attrs bad = convAttrs({1}, "VALID");
  bad.set("kernelSize", std::vector<int64_t>{3, 3});
  bad.set("inputShape", std::vector<int64_t>{1, 5, 5, 1});
  return expectBothThrow("Col2Im", {randomHost({1, 3, 3, 8}, DType::Ring64)}, bad) &&  // wrong column shape
         expectBothThrow("Im2Col", {randomHost({1, 2, 2, 1}, DType::Ring64)}, bad);     // kernel larger than input
}

TFE_CUDA_CASE(conv2d) {
  struct G {
    Shape x, f;
    std::vector<int64_t> strides;
    const char* pad;
  };
  const G gs[] = {{{1, 5, 5, 1}, {3, 3, 1, 1}, {1}, "VALID"},  {{2, 9, 8, 3}, {3, 3, 3, 8}, {1}, "SAME"},
                  {{2, 9, 8, 3}, {3, 3, 3, 8}, {2}, "SAME"},   {{1, 12, 12, 16}, {5, 5, 16, 32}, {2, 1}, "VALID"},
                  {{3, 6, 6, 4}, {1, 1, 4, 7}, {1}, "SAME"},   {{1, 7, 7, 4}, {1, 1, 4, 5}, {2}, "VALID"},
                  {{1, 16, 16, 8}, {3, 3, 8, 64}, {1}, "SAME"}, {{4, 3, 3, 2}, {3, 3, 2, 3}, {1}, "VALID"}};
  for (const G& g : gs) {
    Tensor x = randomHost(g.x, DType::Ring64), f = randomHost(g.f, DType::Ring64);
    Attrs at = convAttrs(g.strides, g.pad);
    for (const char* impl : kImpls) {
      Attrs dev = convAttrs(g.strides, g.pad);
      dev.set("impl", std::string(impl));
      if (!compareKernel("Conv2D", {x, f}, at, &dev)) {
        std::printf("  Conv2D %s * %s with impl '%s'\n", shapeStr(g.x).c_str(), shapeStr(g.f).c_str(), impl);
        return false;
      }
    }
  }
  auto r = [](const Shape& s) { return randomHost(s, DType::Ring64); };
  return expectBothThrow("Conv2D", {r({1, 5, 5, 3}), r({3, 3, 4, 2})}, convAttrs({1}, "SAME")) &&  // channels differ
         expectBothThrow("Conv2D", {r({1, 2, 2, 3}), r({3, 3, 3, 2})}, convAttrs({1}, "VALID")) &&  // kernel too large
         expectBothThrow("Conv2D", {r({1, 5, 5, 3}), r({3, 3, 3, 2})}, convAttrs({1}, "FULL")) &&   // padding
         expectBothThrow("Conv2D", {r({1, 5, 5, 3}), r({3, 3, 3, 2})}, convAttrs({0}, "SAME")) &&   // strides
         expectBothThrow("Conv2D", {r({1, 4, 5, 0}), r({2, 2, 0, 3})}, convAttrs({1}, "SAME")) &&   // no channels
         expectBothThrow("Conv2D", {r({5, 5, 3}), r({3, 3, 3, 2})}, convAttrs({1}, "SAME"));        // not NHWC
}

TFE_CUDA_CASE(depthwise_conv2d) {
  struct G {
    Shape x, f;
    std::vector<int64_t> strides;
    const char* pad;
  };
  const G gs[] = {{{1, 5, 5, 1}, {3, 3, 1, 1}, {1}, "VALID"}, {{2, 9, 8, 3}, {3, 3, 3, 2}, {1}, "SAME"},
                  {{2, 9, 8, 3}, {3, 3, 3, 1}, {2}, "SAME"},  {{1, 12, 12, 16}, {5, 5, 16, 1}, {2, 1}, "VALID"},
                  {{3, 6, 6, 4}, {1, 1, 4, 3}, {1}, "SAME"},  {{1, 16, 16, 32}, {7, 7, 32, 1}, {1}, "SAME"}};
  for (const G& g : gs)
    if (!compareKernel("DepthwiseConv2D", {randomHost(g.x, DType::Ring64), randomHost(g.f, DType::Ring64)}, convAttrs(g.strides, g.pad))) {
      std::printf("  DepthwiseConv2D %s * %s\n", shapeStr(g.x).c_str(), shapeStr(g.f).c_str());
      return false;
    }
  auto r = [](const Shape& s) { return randomHost(s, DType::Ring64); };
  return expectBothThrow("DepthwiseConv2D", {r({1, 5, 5, 3}), r({3, 3, 4, 1})}, convAttrs({1}, "SAME")) &&  // channels differ
         expectBothThrow("DepthwiseConv2D", {r({1, 2, 2, 3}), r({3, 3, 3, 1})}, convAttrs({1}, "VALID")) &&  // kernel too large
         expectBothThrow("DepthwiseConv2D", {r({5, 5, 3}), r({3, 3, 3, 1})}, convAttrs({1}, "SAME"));        // not NHWC
}

}  // namespace cudatest
}  // namespace tfe
