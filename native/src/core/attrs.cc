#include "core/attrs.h"

namespace tfe {

const AttrValue& Attrs::at(const std::string& k) const {
  auto it = values_.find(k);
  if (it == values_.end()) throw KernelError("missing attribute '" + k + "'");
  return it->second;
}

int64_t Attrs::getInt(const std::string& k) const {
  const AttrValue& v = at(k);
  if (auto p = std::get_if<int64_t>(&v)) return *p;
  if (auto p = std::get_if<uint64_t>(&v)) return static_cast<int64_t>(*p);
  throw KernelError("attribute '" + k + "' must be an integer");
}

double Attrs::getDouble(const std::string& k) const {
  const AttrValue& v = at(k);
  if (auto p = std::get_if<double>(&v)) return *p;
  if (auto p = std::get_if<int64_t>(&v)) return static_cast<double>(*p);
  throw KernelError("attribute '" + k + "' must be a number");
}

bool Attrs::getBool(const std::string& k, bool dflt) const {
  if (!has(k)) return dflt;
  if (auto p = std::get_if<bool>(&at(k))) return *p;
  throw KernelError("attribute '" + k + "' must be a boolean");
}

std::string Attrs::getString(const std::string& k) const {
  if (auto p = std::get_if<std::string>(&at(k))) return *p;
  throw KernelError("attribute '" + k + "' must be a string");
}

std::vector<int64_t> Attrs::getInts(const std::string& k) const {
  const AttrValue& v = at(k);
  if (auto p = std::get_if<std::vector<int64_t>>(&v)) return *p;
  if (auto p = std::get_if<int64_t>(&v)) return {*p};
  throw KernelError("attribute '" + k + "' must be an array of integers");
}

uint64_t Attrs::getRing(const std::string& k) const {
  const AttrValue& v = at(k);
  if (auto p = std::get_if<uint64_t>(&v)) return *p;
  if (auto p = std::get_if<int64_t>(&v)) return static_cast<uint64_t>(*p);
  throw KernelError("attribute '" + k + "' must be a bigint or an integer");
}

std::vector<uint8_t> Attrs::getBytes(const std::string& k) const {
  if (auto p = std::get_if<std::vector<uint8_t>>(&at(k))) return *p;
  throw KernelError("attribute '" + k + "' must be a Uint8Array");
}

}  // namespace tfe
