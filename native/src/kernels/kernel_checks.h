// Shape rules and attribute checks that a kernel's CPU and CUDA versions share, so that both
// accept exactly the same inputs and refuse the rest with the same message. Defined next to the
// CPU kernels (matmul.cc, conv.cc, fixed_point.cc, securenn.cc, elementwise.cc).
#pragma once
#include <cstdint>
#include <string>

#include "core/attrs.h"
#include "core/hd.h"
#include "core/registry.h"

namespace tfe {

// MatMul: [.., m, k] x [.., k, n] -> [.., m, n]; batch dims equal, or one side a plain matrix.
struct MatMulPlan {
  Shape out;
  int64_t m, k, n, batch;
  int64_t strideA, strideB;  // elements between batch items (0: broadcast)
};
MatMulPlan planMatMul(const Tensor& a, const Tensor& b);

// Conv2D / Im2Col / Col2Im geometry: NHWC input, TensorFlow's SAME/VALID padding.
struct ConvGeom {
  int64_t n, h, w, c, kh, kw, sh, sw, oh, ow, padTop, padLeft;
  TFE_HD int64_t patch() const { return kh * kw * c; }
};
ConvGeom convGeometry(const std::string& op, const Shape& x, int64_t kh, int64_t kw, const Attrs& at);
// A convolution's checks and geometry: ring64 input and filter, the filter rank 4 (its layout
// named in the error), its third axis the input's channels.
ConvGeom filterGeometry(const char* op, const char* layout, const Inputs& in, const Attrs& at);
// Conv2D's checks: a ring64 NHWC input, a ring64 [kh, kw, c, out] filter, strides and padding.
ConvGeom conv2dGeometry(const Inputs& in, const Attrs& at);
// DepthwiseConv2D's checks: a ring64 NHWC input, a ring64 [kh, kw, c, multiplier] filter, strides and padding.
ConvGeom depthwiseGeometry(const Inputs& in, const Attrs& at);
// Im2Col's checks: a ring64 NHWC image and attrs kernelSize [kh, kw], strides, padding.
ConvGeom im2colGeometry(const Inputs& in, const Attrs& at);
// Col2Im's checks: columns [n, oh, ow, kh*kw*c] for the image shape in attr inputShape.
ConvGeom col2imGeometry(const Inputs& in, const Attrs& at);

// EncodeFixedPoint / DecodeFixedPoint: the fracBits attribute, and how a bad value is printed.
int fixedPointFracBits(const std::string& op, const Attrs& at);
std::string shortestDouble(double v);  // as JavaScript prints it

// PrivateCompareShares: checks its six inputs; returns n, and the party (0 or 1) in *party.
int64_t checkPrivateCompareShares(const Inputs& in, const Attrs& at, int64_t* party);

// AddN: at least one input, one dtype and one shape, ring64.
void checkAddN(const Inputs& in);

}  // namespace tfe
