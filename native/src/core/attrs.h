// Kernel attributes: a small typed map parsed from the JS attrs object on the main thread,
// so that kernels running on worker threads never touch JS values.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace tfe {

using AttrValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, uint64_t /*bigint*/,
                               std::vector<uint8_t> /*bytes*/>;

class Attrs {
 public:
  void set(const std::string& k, AttrValue v) { values_[k] = std::move(v); }
  bool has(const std::string& k) const { return values_.count(k) != 0; }

  int64_t getInt(const std::string& k) const;
  int64_t getInt(const std::string& k, int64_t dflt) const { return has(k) ? getInt(k) : dflt; }
  double getDouble(const std::string& k) const;
  bool getBool(const std::string& k, bool dflt) const;
  std::string getString(const std::string& k) const;
  std::string getString(const std::string& k, const std::string& dflt) const { return has(k) ? getString(k) : dflt; }
  std::vector<int64_t> getInts(const std::string& k) const;
  // A ring element: accepts a bigint (exact) or a safe integer number (negative wraps mod 2^64).
  uint64_t getRing(const std::string& k) const;
  uint64_t getRing(const std::string& k, uint64_t dflt) const { return has(k) ? getRing(k) : dflt; }
  std::vector<uint8_t> getBytes(const std::string& k) const;

 private:
  const AttrValue& at(const std::string& k) const;
  std::map<std::string, AttrValue> values_;
};

}  // namespace tfe
