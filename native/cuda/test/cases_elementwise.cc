// Harness cases for the elementwise, shift and bit kernels (elementwise.cu, bits.cu).
#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

// Shapes that cover same-shape, scalar, row/column broadcasting, rank 5 and empty tensors.
const std::vector<std::pair<Shape, Shape>> kPairs = {
    {{1000}, {1000}}, {{7, 13}, {13}}, {{7, 13}, {7, 1}}, {{}, {5, 3}}, {{2, 1, 3, 1, 5}, {4, 1, 6, 5}}, {{0, 4}, {4}}, {{3, 257}, {3, 257}}};

bool binaryAll(const std::string& kernel, DType d, uint32_t p = 0) {
  for (auto& s : kPairs)
    if (!compareKernel(kernel, {randomHost(s.first, d, p), randomHost(s.second, d, p)})) return false;
  return true;
}

}  // namespace

TFE_CUDA_CASE(ring_add_sub_mul) {
  return binaryAll("Add", DType::Ring64) && binaryAll("Sub", DType::Ring64) && binaryAll("Mul", DType::Ring64);
}

TFE_CUDA_CASE(field_add_sub_mul) {
  for (uint32_t p : {3u, 67u, 251u})
    if (!binaryAll("Add", DType::Field, p) || !binaryAll("Sub", DType::Field, p) || !binaryAll("Mul", DType::Field, p)) return false;
  return true;
}

TFE_CUDA_CASE(bit_ops) {
  return binaryAll("Add", DType::Bit) && binaryAll("Mul", DType::Bit) && binaryAll("Xor", DType::Bit) && binaryAll("And", DType::Bit);
}

TFE_CUDA_CASE(neg_and_scalars) {
  const char* ops[] = {"AddScalar", "SubScalar", "ScalarSub", "MulScalar"};
  for (auto [d, p] : std::vector<std::pair<DType, uint32_t>>{{DType::Ring64, 0}, {DType::Field, 67}, {DType::Bit, 0}}) {
    Tensor x = randomHost({33, 17}, d, p);
    if (!compareKernel("Neg", {x})) return false;
    for (const char* op : ops)
      for (uint64_t s : {uint64_t(0), uint64_t(1), ~uint64_t(0), nextRandom()})
        if (!compareKernel(op, {x}, attrsWith("scalar", AttrValue(s)))) return false;
  }
  return true;
}

TFE_CUDA_CASE(shifts) {
  Tensor x = randomHost({4097}, DType::Ring64);
  for (int64_t k : {0, 1, 13, 63}) {
    Attrs a = attrsWith("bits", AttrValue(k));
    if (!compareKernel("ShiftRightLogical", {x}, a) || !compareKernel("ShiftLeft", {x}, a) || !compareKernel("ShiftRightArithmetic", {x}, a))
      return false;
    a.set("negate", true);
    if (!compareKernel("ShiftRightArithmetic", {x}, a)) return false;
  }
  return expectBothThrow("ShiftLeft", {x}, attrsWith("bits", AttrValue(int64_t(64))));
}

TFE_CUDA_CASE(add_n) {
  std::vector<Tensor> xs;
  for (int i = 0; i < 5; ++i) xs.push_back(randomHost({19, 23}, DType::Ring64));
  for (size_t n = 1; n <= xs.size(); ++n)
    if (!compareKernel("AddN", std::vector<Tensor>(xs.begin(), xs.begin() + n))) return false;
  return expectBothThrow("AddN", {xs[0], randomHost({23, 19}, DType::Ring64)});
}

TFE_CUDA_CASE(bits_and_casts) {
  Tensor x = randomHost({301}, DType::Ring64);
  for (int64_t b : {0, 31, 63})
    if (!compareKernel("BitExtract", {x}, attrsWith("bit", AttrValue(b)))) return false;
  if (!compareKernel("BitDecompose", {x}) || !compareKernel("BitDecompose", {randomHost({0, 3}, DType::Ring64)})) return false;
  Tensor bits = randomHost({301}, DType::Bit), field = randomHost({301}, DType::Field, 67);
  return compareKernel("Cast", {bits}, attrsWith("dtype", AttrValue(std::string("ring64")))) &&
         compareKernel("Cast", {bits}, attrsWith("dtype", AttrValue(std::string("z67")))) &&
         compareKernel("Cast", {field}, attrsWith("dtype", AttrValue(std::string("ring64")))) &&
         compareKernel("Cast", {x}, attrsWith("dtype", AttrValue(std::string("z67")))) &&
         compareKernel("Cast", {x}, attrsWith("dtype", AttrValue(std::string("bit")))) &&
         expectBothThrow("Cast", {field}, attrsWith("dtype", AttrValue(std::string("bit"))));
}

TFE_CUDA_CASE(refuses_bad_shapes) {
  return expectBothThrow("Add", {randomHost({3, 4}, DType::Ring64), randomHost({5}, DType::Ring64)}) &&
         expectBothThrow("Add", {randomHost({3}, DType::Ring64), randomHost({3}, DType::Field, 67)});
}

}  // namespace cudatest
}  // namespace tfe
