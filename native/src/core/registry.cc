#include "core/registry.h"

#include <map>

namespace tfe {

// Function-local static: registration runs from other translation units' static initialisers.
static std::map<std::string, KernelInfo>& table(KernelDevice d) {
  static std::map<std::string, KernelInfo> host, cuda;
  return d == KernelDevice::Cuda ? cuda : host;
}

void registerKernel(const std::string& name, int arity, KernelFn fn, KernelDevice device) {
  table(device)[name] = KernelInfo{std::move(fn), arity};
}

const KernelInfo* findKernel(const std::string& name, KernelDevice device) {
  auto& t = table(device);
  auto it = t.find(name);
  return it == t.end() ? nullptr : &it->second;
}

std::vector<std::string> kernelNames(KernelDevice device) {
  std::vector<std::string> names;
  for (auto& kv : table(device)) names.push_back(kv.first);
  return names;
}

}  // namespace tfe
