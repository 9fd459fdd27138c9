// Whether the installed NVIDIA driver can run this build's CUDA runtime (host code, checked by
// tfe_cuda_host_check). Versions as cudaDriverGetVersion reports them: 1000 * major + 10 * minor.
//
// Since CUDA 11, a driver of the same major version as the toolkit runs its binaries even when
// its minor version is older ("minor version compatibility"), as long as no PTX has to be
// compiled by the driver for a newer PTX version than it knows; the build ships machine code
// for its target GPUs, and the device's context is created before the device is called usable,
// which is where an incompatibility would fail. So only an older major version is refused.
#pragma once
#include <string>

namespace tfe {
namespace cuda {

inline std::string cudaVersionText(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// Empty when the driver can run the runtime; otherwise why not.
inline std::string driverMismatch(int driverVersion, int runtimeVersion) {
  if (driverVersion / 1000 >= runtimeVersion / 1000) return "";
  return "the NVIDIA driver supports CUDA " + cudaVersionText(driverVersion) + " but this build needs " +
         cudaVersionText(runtimeVersion) + " (a driver of CUDA " + std::to_string(runtimeVersion / 1000) +
         ".x or later: minor versions are compatible, major ones are not)";
}

// Whether the driver is older than the runtime within one major version (allowed; said in `tfe info`).
inline bool minorCompat(int driverVersion, int runtimeVersion) {
  return driverVersion < runtimeVersion && driverVersion / 1000 == runtimeVersion / 1000;
}

}  // namespace cuda
}  // namespace tfe
