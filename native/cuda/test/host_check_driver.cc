// Host check of driver_compat.h: a driver of the build's major CUDA version runs it even when its
// minor version is older (CUDA's minor version compatibility: it was refused); an older major
// version is refused, naming both versions.
#include <cstdio>

#include "cuda/driver_compat.h"
#include "cuda/test/host_check.h"

TFE_HOST_CHECK(driver_minor_versions_compatible_major_refused) {
  using tfe::cuda::driverMismatch;
  using tfe::cuda::minorCompat;
  bool ok = true;
  auto expect = [&](bool c, const char* what) {
    if (!c) std::printf("  driver compat: %s\n", what);
    ok &= c;
  };
  expect(driverMismatch(13000, 13000).empty(), "the same version runs");
  expect(driverMismatch(13020, 13000).empty(), "a newer driver runs");
  expect(driverMismatch(13000, 13010).empty() && minorCompat(13000, 13010), "an older minor version runs (minor version compatibility)");
  expect(driverMismatch(14000, 13010).empty() && !minorCompat(14000, 13010), "a newer major version runs");
  const std::string old = driverMismatch(12080, 13000);
  expect(old.find("supports CUDA 12.8 but this build needs 13.0") != std::string::npos, "an older major version is refused, naming both");
  expect(!driverMismatch(0, 13000).empty(), "no driver (version 0) is refused");
  return ok;
}
