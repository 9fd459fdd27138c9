// Harness main and helpers (see harness.h). Exit codes: 0 all cases passed, 1 a case failed,
// 77 no usable CUDA device (ctest reports SKIP).
#include "cuda/test/harness.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>

#include "binding/backend.h"
#include "core/registry.h"
#include "cuda/device.h"

namespace tfe {
namespace cudatest {
namespace {

struct Case {
  std::string name;
  CaseFn fn;
  bool bench;
};
std::vector<Case>& cases() {
  static std::vector<Case> c;
  return c;
}

uint64_t& rngState() {
  static uint64_t s = [] {
    uint64_t seed;
    if (const char* e = std::getenv("TFE_TEST_SEED")) seed = std::strtoull(e, nullptr, 10);
    else seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    std::printf("test seed %llu (TFE_TEST_SEED=%llu replays it)\n", (unsigned long long)seed, (unsigned long long)seed);
    return seed;
  }();
  return s;
}

}  // namespace

CaseRegistrar::CaseRegistrar(const char* name, CaseFn fn, bool bench) { cases().push_back({name, std::move(fn), bench}); }

uint64_t nextRandom() {  // splitmix64
  uint64_t z = (rngState() += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Tensor randomHost(const Shape& shape, DType dtype, uint32_t modulus) {
  Tensor t = allocTensor(shape, dtype, modulus);
  int64_t n = t.size();
  if (dtype == DType::Ring64) {
    uint64_t* p = t.ptr<uint64_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = nextRandom();
    const uint64_t edges[] = {0, 1, (uint64_t(1) << 63) - 1, uint64_t(1) << 63, ~uint64_t(0)};
    for (uint64_t e : edges)
      if (n > 0) p[nextRandom() % n] = e;
  } else if (dtype == DType::F64) {
    double* p = t.ptr<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = (double(nextRandom() >> 11) / double(uint64_t(1) << 53) - 0.5) * 2000.0;
  } else {
    uint32_t m = dtype == DType::Field ? modulus : 2;
    uint8_t* p = t.ptr<uint8_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(nextRandom() % m);
  }
  return t;
}

Tensor toDevice(const Tensor& host) {
  Tensor d = newTensor(host.shape, host.dtype, host.modulus, 0);
  copyFromHost(d, host.storage->data(), host.storage->bytes(), 0);
  return d;
}

Tensor toHost(const Tensor& device) {
  Tensor h = allocTensor(device.shape, device.dtype, device.modulus);
  copyToHost(device, h.storage->data(), static_cast<size_t>(h.size()) * elemSize(h.dtype), 0);
  return h;
}

bool compareKernel(const std::string& kernel, const std::vector<Tensor>& hostInputs, const Attrs& attrs,
                   const Attrs* deviceAttrs) {
  const KernelInfo* ref = findKernel(kernel, KernelDevice::Host);
  const KernelInfo* dev = resolveKernel(kernel);
  if (!ref || !findKernel(kernel, KernelDevice::Cuda)) {
    std::printf("  %s: no %s kernel\n", kernel.c_str(), ref ? "CUDA" : "host");
    return false;
  }
  Outputs want = ref->fn(hostInputs, attrs);
  std::vector<Tensor> devIn;
  for (const Tensor& t : hostInputs) devIn.push_back(toDevice(t));
  Outputs got = dev->fn(devIn, deviceAttrs ? *deviceAttrs : attrs);
  if (got.size() != want.size()) {
    std::printf("  %s: %zu outputs, expected %zu\n", kernel.c_str(), got.size(), want.size());
    return false;
  }
  for (size_t o = 0; o < want.size(); ++o) {
    if (got[o].shape != want[o].shape || got[o].dtype != want[o].dtype || got[o].modulus != want[o].modulus) {
      std::printf("  %s: output %zu is %s %s, expected %s %s\n", kernel.c_str(), o, got[o].dtypeName().c_str(),
                  shapeStr(got[o].shape).c_str(), want[o].dtypeName().c_str(), shapeStr(want[o].shape).c_str());
      return false;
    }
    Tensor h = toHost(got[o]);
    size_t es = elemSize(h.dtype), n = static_cast<size_t>(h.size());
    const uint8_t* a = static_cast<const uint8_t*>(h.storage->data());
    const uint8_t* b = static_cast<const uint8_t*>(want[o].storage->data());
    for (size_t i = 0; i < n; ++i) {
      if (std::memcmp(a + i * es, b + i * es, es) != 0) {
        uint64_t x = 0, y = 0;
        std::memcpy(&x, a + i * es, es);
        std::memcpy(&y, b + i * es, es);
        std::printf("  %s: output %zu element %zu of %s is %llu on the GPU, %llu on the CPU\n", kernel.c_str(), o, i,
                    shapeStr(h.shape).c_str(), (unsigned long long)x, (unsigned long long)y);
        return false;
      }
    }
  }
  return true;
}

bool expectBothThrow(const std::string& kernel, const std::vector<Tensor>& hostInputs, const Attrs& attrs) {
  bool hostThrew = false, devThrew = false;
  try {
    findKernel(kernel, KernelDevice::Host)->fn(hostInputs, attrs);
  } catch (const std::exception&) {
    hostThrew = true;
  }
  try {
    std::vector<Tensor> devIn;
    for (const Tensor& t : hostInputs) devIn.push_back(toDevice(t));
    resolveKernel(kernel)->fn(devIn, attrs);
  } catch (const std::exception&) {
    devThrew = true;
  }
  if (!hostThrew || !devThrew)
    std::printf("  %s: host %s, device %s (both should refuse)\n", kernel.c_str(), hostThrew ? "threw" : "did not throw",
                devThrew ? "threw" : "did not throw");
  return hostThrew && devThrew;
}

bool sameError(const std::string& kernel, const std::vector<Tensor>& hostInputs, const Attrs& attrs) {
  std::string want, got;
  try {
    findKernel(kernel, KernelDevice::Host)->fn(hostInputs, attrs);
  } catch (const std::exception& e) {
    want = e.what();
  }
  try {
    std::vector<Tensor> devIn;
    for (const Tensor& t : hostInputs) devIn.push_back(toDevice(t));
    resolveKernel(kernel)->fn(devIn, attrs);
  } catch (const std::exception& e) {
    got = e.what();
  }
  bool ok = !want.empty() && got.find(want) != std::string::npos;
  if (!ok) std::printf("  %s: CPU says \"%s\", device says \"%s\"\n", kernel.c_str(), want.c_str(), got.c_str());
  return ok;
}

}  // namespace cudatest
}  // namespace tfe

int main(int argc, char** argv) {
  using namespace tfe;
  // Line-buffered even into a log file: a case that crashes the process must leave the names of
  // the cases before it (a fully buffered log of a segfault is empty).
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  bool bench = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  const char* only = nullptr;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--only=", 7) == 0) only = argv[i] + 7;
  const cuda::DeviceStatus& st = cuda::deviceStatus();
  if (!st.available) {
    std::printf("SKIP: %s\n", st.reason.c_str());
    return 77;
  }
  std::printf("device %d: %s, compute %d.%d, %zu MiB, %d SMs\n", st.device, st.name.c_str(), st.computeMajor,
              st.computeMinor, st.totalMemory >> 20, st.multiprocessors);
  int failed = 0, ran = 0;
  for (auto& c : cudatest::cases()) {
    if (c.bench != bench) continue;
    if (only && c.name.find(only) == std::string::npos) continue;
    ++ran;
    bool ok = false;
    try {
      ok = c.fn();
    } catch (const std::exception& e) {
      std::printf("  %s threw: %s\n", c.name.c_str(), e.what());
    }
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name.c_str());
    if (!ok) ++failed;
  }
  std::printf("%d of %d %s passed\n", ran - failed, ran, bench ? "benchmarks" : "cases");
  return failed ? 1 : 0;
}
