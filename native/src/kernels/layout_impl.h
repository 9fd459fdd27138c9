// Layout kernels, generic over element size and over where memory lives: reshape, transpose,
// slice, concat, pad, gather. The shape logic and every check are written once here; a memory
// policy supplies alloc, stridedCopy, fill and gatherRows (HostMem in layout.cc, the CUDA one in
// native/cuda/layout.cu).
#pragma once
#include <cstdint>
#include <vector>

#include "core/registry.h"
#include "core/strided.h"
#include "kernels/check.h"

namespace tfe {

// v, read as a signed 64-bit value, reduced into [0, modulus).
inline uint64_t fieldOf(uint64_t v, uint64_t modulus) {
  const int64_t m = static_cast<int64_t>(modulus), r = static_cast<int64_t>(v) % m;
  return static_cast<uint64_t>(r < 0 ? r + m : r);
}
namespace layout {

inline char* bytePtr(const Tensor& t) { return static_cast<char*>(t.storage->data()); }

inline Outputs reshape(const Inputs& in, const Attrs& at) { return {viewAs(in[0], at.getInts("shape"))}; }

template <typename Mem>
Outputs transpose(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  std::vector<int64_t> perm = at.getInts("perm");
  int64_t r = a.rank();
  if (static_cast<int64_t>(perm.size()) != r)
    throw KernelError("Transpose: permutation of length " + std::to_string(perm.size()) + " for shape " + shapeStr(a.shape));
  std::vector<bool> seen(r, false);
  Shape outShape(r);
  std::vector<int64_t> inStrides = contiguousStrides(a.shape), srcStrides(r);
  for (int64_t i = 0; i < r; ++i) {
    int64_t p = perm[i];
    if (p < 0 || p >= r || seen[p]) throw KernelError("Transpose: " + shapeStr(perm) + " is not a permutation of rank " + std::to_string(r));
    seen[p] = true;
    outShape[i] = a.shape[p];
    srcStrides[i] = inStrides[p];
  }
  Tensor out = Mem::alloc(outShape, a.dtype, a.modulus);
  Mem::stridedCopy(outShape, elemSize(a.dtype), {a.storage->data(), srcStrides}, {out.storage->data(), contiguousStrides(outShape)});
  return {out};
}

template <typename Mem>
Outputs slice(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  std::vector<int64_t> begin = at.getInts("begin"), size = at.getInts("size");
  int64_t r = a.rank();
  if (static_cast<int64_t>(begin.size()) != r || static_cast<int64_t>(size.size()) != r)
    throw KernelError("Slice: begin " + shapeStr(begin) + " and size " + shapeStr(size) + " must both have rank " + std::to_string(r));
  Shape outShape(r);
  std::vector<int64_t> strides = contiguousStrides(a.shape);
  int64_t offset = 0;
  for (int64_t i = 0; i < r; ++i) {
    int64_t b = begin[i], s = size[i] < 0 ? a.shape[i] - b : size[i];
    if (b < 0 || s < 0 || b + s > a.shape[i])
      throw KernelError("Slice: begin " + shapeStr(begin) + " size " + shapeStr(size) + " is out of bounds for shape " + shapeStr(a.shape));
    outShape[i] = s;
    offset += b * strides[i];
  }
  Tensor out = Mem::alloc(outShape, a.dtype, a.modulus);
  size_t es = elemSize(a.dtype);
  Mem::stridedCopy(outShape, es, {bytePtr(a) + offset * es, strides}, {out.storage->data(), contiguousStrides(outShape)});
  return {out};
}

template <typename Mem>
Outputs concat(const Inputs& in, const Attrs& at) {
  if (in.empty()) throw KernelError("Concat: needs at least one input");
  const Tensor& first = in[0];
  int64_t r = first.rank();
  if (r == 0) throw KernelError("Concat: cannot concatenate scalars (shape [])");
  int64_t axis = normAxis("Concat", at.getInt("axis"), r);
  Shape outShape = first.shape;
  outShape[axis] = 0;
  for (const Tensor& t : in) {
    if (t.dtype != first.dtype || t.modulus != first.modulus)
      throw KernelError("Concat: dtypes " + first.dtypeName() + " and " + t.dtypeName() + " differ");
    bool ok = t.rank() == r;
    for (int64_t i = 0; ok && i < r; ++i) ok = i == axis || t.shape[i] == first.shape[i];
    if (!ok) throw KernelError("Concat: shapes " + shapeStr(first.shape) + " and " + shapeStr(t.shape) + " differ outside axis " + std::to_string(axis));
    outShape[axis] += t.shape[axis];
  }
  Tensor out = Mem::alloc(outShape, first.dtype, first.modulus);
  std::vector<int64_t> ds = contiguousStrides(outShape);
  size_t es = elemSize(first.dtype);
  int64_t at_ = 0;
  for (const Tensor& t : in) {
    Mem::stridedCopy(t.shape, es, {t.storage->data(), contiguousStrides(t.shape)}, {bytePtr(out) + at_ * ds[axis] * es, ds});
    at_ += t.shape[axis];
  }
  return {out};
}

template <typename Mem>
Outputs pad(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  std::vector<int64_t> pads = at.getInts("paddings");
  int64_t r = a.rank();
  if (static_cast<int64_t>(pads.size()) != 2 * r)
    throw KernelError("Pad: paddings must hold [before, after] for each of the " + std::to_string(r) + " dims of " + shapeStr(a.shape));
  Shape outShape(r);
  for (int64_t i = 0; i < r; ++i) {
    if (pads[2 * i] < 0 || pads[2 * i + 1] < 0) throw KernelError("Pad: negative padding in " + shapeStr(pads));
    outShape[i] = a.shape[i] + pads[2 * i] + pads[2 * i + 1];
  }
  Tensor out = Mem::alloc(outShape, a.dtype, a.modulus);
  uint64_t v = at.getRing("value", 0);
  if (elemSize(a.dtype) == 8) Mem::fill64(out, v);
  // A field's fill value is reduced as the signed value it stands for (-1 is p - 1), as scalar ops do.
  else Mem::fill8(out, static_cast<uint8_t>(a.dtype == DType::Field ? fieldOf(v, a.modulus) : a.dtype == DType::Bit ? v & 1 : v));
  std::vector<int64_t> ds = contiguousStrides(outShape);
  int64_t offset = 0;
  for (int64_t i = 0; i < r; ++i) offset += pads[2 * i] * ds[i];
  size_t es = elemSize(a.dtype);
  Mem::stridedCopy(a.shape, es, {a.storage->data(), contiguousStrides(a.shape)}, {bytePtr(out) + offset * es, ds});
  return {out};
}

template <typename Mem>
Outputs gather(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  if (a.rank() == 0) throw KernelError("Gather: cannot gather from a scalar (shape [])");
  int64_t axis = normAxis("Gather", at.getInt("axis", 0), a.rank());
  std::vector<int64_t> idx = at.getInts("indices");
  int64_t dim = a.shape[axis];
  for (size_t j = 0; j < idx.size(); ++j)
    if (idx[j] < 0 || idx[j] >= dim)
      throw KernelError("Gather: index " + std::to_string(idx[j]) + " at position " + std::to_string(j) +
                        " is out of range [0, " + std::to_string(dim) + ") for axis " + std::to_string(axis) + " of " + shapeStr(a.shape));
  Shape outShape = a.shape;
  outShape[axis] = static_cast<int64_t>(idx.size());
  Tensor out = Mem::alloc(outShape, a.dtype, a.modulus);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= a.shape[i];
  for (int64_t i = axis + 1; i < a.rank(); ++i) inner *= a.shape[i];
  Mem::gatherRows(a, out, outer, dim, inner, idx);
  return {out};
}

}  // namespace layout
}  // namespace tfe
