#include "core/tensor.h"

#include <cstdlib>

#include "core/host_allocator.h"
#include <sstream>

namespace tfe {

namespace {
std::atomic<int64_t> g_liveStorages{0};
std::atomic<int64_t> g_liveBytes{0};
}  // namespace

std::string shapeStr(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << ']';
  return o.str();
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw KernelError("negative dimension in shape " + shapeStr(s));
    if (d != 0 && n > (int64_t(1) << 56) / d) throw KernelError("shape " + shapeStr(s) + " is too large");
    n *= d;
  }
  return n;
}

Storage::Storage(size_t bytes) : bytes_(bytes) {
  data_ = hostAlloc(bytes);
  g_liveStorages.fetch_add(1);
  g_liveBytes.fetch_add(static_cast<int64_t>(bytes));
}

Storage::Storage(void* data, size_t bytes, MemSpace space, StorageDeleter deleter)
    : data_(data), bytes_(bytes), space_(space), deleter_(deleter) {
  g_liveStorages.fetch_add(1);
  g_liveBytes.fetch_add(static_cast<int64_t>(bytes));
}

Storage::~Storage() {
  if (deleter_.fn)
    deleter_.fn(data_, bytes_, deleter_.ctx);
  else
    hostFree(data_, bytes_);
  g_liveStorages.fetch_sub(1);
  g_liveBytes.fetch_sub(static_cast<int64_t>(bytes_));
}

int64_t Storage::liveCount() { return g_liveStorages.load(); }
int64_t Storage::liveBytes() { return g_liveBytes.load(); }

std::string Tensor::dtypeName() const { return dtypeToString(dtype, modulus); }

Tensor allocTensor(const Shape& shape, DType dtype, uint32_t modulus) {
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.modulus = modulus;
  t.storage = std::make_shared<Storage>(static_cast<size_t>(numel(shape)) * elemSize(dtype));
  return t;
}

Tensor viewAs(const Tensor& t, const Shape& shape) {
  if (numel(shape) != t.size())
    throw KernelError("cannot reshape " + shapeStr(t.shape) + " (" + std::to_string(t.size()) +
                      " elements) to " + shapeStr(shape) + " (" + std::to_string(numel(shape)) + " elements)");
  Tensor v = t;
  v.shape = shape;
  return v;
}

std::string dtypeToString(DType d, uint32_t modulus) {
  switch (d) {
    case DType::Ring64: return "ring64";
    case DType::Bit: return "bit";
    case DType::F64: return "f64";
    case DType::Field: return "z" + std::to_string(modulus);
  }
  return "?";
}

static bool isPrime(uint32_t p) {
  if (p < 2) return false;
  for (uint32_t q = 2; q * q <= p; ++q)
    if (p % q == 0) return false;
  return true;
}

void parseDType(const std::string& s, DType* d, uint32_t* modulus) {
  *modulus = 0;
  if (s == "ring64") { *d = DType::Ring64; return; }
  if (s == "bit") { *d = DType::Bit; return; }
  if (s == "f64") { *d = DType::F64; return; }
  if (s.size() > 1 && s[0] == 'z') {
    char* end = nullptr;
    unsigned long p = std::strtoul(s.c_str() + 1, &end, 10);
    if (*end == '\0' && p > 2 && p < 256 && isPrime(static_cast<uint32_t>(p))) {
      *d = DType::Field;
      *modulus = static_cast<uint32_t>(p);
      return;
    }
  }
  throw KernelError("unknown dtype '" + s + "' (expected ring64, bit, f64 or z<p> for a prime 2 < p < 256)");
}

}  // namespace tfe
