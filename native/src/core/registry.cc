#include "core/registry.h"

#include <map>

namespace tfe {

// Function-local static: registration runs from other translation units' static initialisers.
static std::map<std::string, KernelInfo>& table() {
  static std::map<std::string, KernelInfo> t;
  return t;
}

void registerKernel(const std::string& name, int arity, KernelFn fn) { table()[name] = KernelInfo{std::move(fn), arity}; }

const KernelInfo* findKernel(const std::string& name) {
  auto it = table().find(name);
  return it == table().end() ? nullptr : &it->second;
}

std::vector<std::string> kernelNames() {
  std::vector<std::string> names;
  for (auto& kv : table()) names.push_back(kv.first);
  return names;
}

}  // namespace tfe
