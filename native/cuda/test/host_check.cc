// Main of tfe_cuda_host_check (see host_check.h): exit 0 when every check passes.
#include "cuda/test/host_check.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace tfe {
namespace hostcheck {
static std::vector<std::pair<std::string, std::function<bool()>>>& checks() {
  static std::vector<std::pair<std::string, std::function<bool()>>> c;
  return c;
}
Registrar::Registrar(const char* name, std::function<bool()> fn) { checks().emplace_back(name, std::move(fn)); }

std::mt19937_64& rng() {
  static std::mt19937_64 r = [] {
    uint64_t seed = std::random_device{}();
    if (const char* e = std::getenv("TFE_TEST_SEED")) seed = std::strtoull(e, nullptr, 10);
    std::printf("host checks: seed %llu (TFE_TEST_SEED replays it)\n", static_cast<unsigned long long>(seed));
    return std::mt19937_64(seed);
  }();
  return r;
}
}  // namespace hostcheck
}  // namespace tfe

int main() {
  int failed = 0;
  for (auto& c : tfe::hostcheck::checks()) {
    bool ok = false;
    try {
      ok = c.second();
    } catch (const std::exception& e) {
      std::printf("  %s threw: %s\n", c.first.c_str(), e.what());
    }
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.first.c_str());
    failed += !ok;
  }
  std::printf("%zu checks, %d failed\n", tfe::hostcheck::checks().size(), failed);
  return failed ? 1 : 0;
}
