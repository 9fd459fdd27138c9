// Device-agnostic tensor descriptors shared by every kernel and by the N-API binding.
// Kernels know nothing of parties or protocols: they see storages, shapes and dtypes.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tfe {

using Shape = std::vector<int64_t>;

// ring64: Z_2^64 in uint64. bit: {0,1} in uint8. field: Z_p in uint8 (p <= 255).
// f64: host-side staging for fixed-point encode/decode only. i64: public indices.
enum class DType : uint8_t { Ring64, Bit, Field, F64 };

inline size_t elemSize(DType d) {
  switch (d) {
    case DType::Ring64: case DType::F64: return 8;
    default: return 1;
  }
}

// Thrown by kernels; the binding turns it into a JS Error prefixed with the kernel name.
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string shapeStr(const Shape& s);
int64_t numel(const Shape& s);  // throws on negative dims or overflow

// Where a storage's bytes live. Host kernels dereference Host storages only; the CUDA backend's
// kernels take Cuda storages (device memory), and only the binding moves bytes between the two.
enum class MemSpace : uint8_t { Host, Cuda };

// Returns adopted (non-host-allocator) memory to whoever allocated it, e.g. the CUDA caching
// allocator; ctx is that allocator's per-block record.
struct StorageDeleter {
  void (*fn)(void* data, size_t bytes, void* ctx) = nullptr;
  void* ctx = nullptr;
};

// Owning buffer: 64-byte aligned host memory, or adopted device memory with its deleter.
// Live counters let tests prove nothing leaks.
class Storage {
 public:
  explicit Storage(size_t bytes);
  Storage(void* data, size_t bytes, MemSpace space, StorageDeleter deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  MemSpace space() const { return space_; }
  void* deleterContext() const { return deleter_.ctx; }
  static int64_t liveCount();
  static int64_t liveBytes();

 private:
  void* data_;
  size_t bytes_;
  MemSpace space_ = MemSpace::Host;
  StorageDeleter deleter_;
};

struct Tensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::Ring64;
  uint32_t modulus = 0;  // the prime p when dtype == Field

  int64_t size() const { return numel(shape); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  template <typename T> T* ptr() const { return static_cast<T*>(storage->data()); }
  std::string dtypeName() const;
};

// Allocates an uninitialised tensor of the given shape and dtype.
Tensor allocTensor(const Shape& shape, DType dtype, uint32_t modulus = 0);
// A new tensor sharing storage with `t` (reshape is free: tensors are immutable).
Tensor viewAs(const Tensor& t, const Shape& shape);

std::string dtypeToString(DType d, uint32_t modulus);
// Parses "ring64", "bit", "f64" or "z<p>" (a prime 2 < p < 256).
void parseDType(const std::string& s, DType* d, uint32_t* modulus);

}  // namespace tfe
