// procreg: Value, the dynamic MessagePack-compatible value used for child_spec args, extra
// child_spec fields and metadata.
//
// A Value is one of: nil, bool, int (signed 64-bit), uint (unsigned 64-bit), float (double),
// string (UTF-8 by convention, not checked), binary, array, or map. Maps are keyed by strings
// (procreg's choice, docs/SEMANTICS.md "Terms") and ordered by key, so equal maps encode to equal
// bytes. Integers are normalised: a non-negative signed integer is stored as uint, exactly as
// MessagePack encodes it, so a Value survives an encode/decode round trip unchanged and
// Value(1) == Value(1u).
//
// Thread safety: a value type; concurrent const access is safe.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace procreg {

class Value {
 public:
  using Array = std::vector<Value>;
  using Map = std::map<std::string, Value, std::less<>>;
  struct Binary {
    std::vector<std::uint8_t> bytes;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the 0 of the generated <=>.
    auto operator<=>(const Binary&) const = default;
  };
  enum class Type { kNil, kBool, kInt, kUint, kFloat, kString, kBinary, kArray, kMap };

  Value() = default;                                        // nil
  Value(std::nullptr_t) {}                                  // NOLINT(google-explicit-constructor)
  Value(bool b) : v_(b) {}                                  // NOLINT(google-explicit-constructor)
  Value(int i) { set_signed(i); }                           // NOLINT(google-explicit-constructor)
  Value(long i) { set_signed(i); }                          // NOLINT(google-explicit-constructor)
  Value(long long i) { set_signed(i); }                     // NOLINT(google-explicit-constructor)
  Value(unsigned u) : v_(static_cast<std::uint64_t>(u)) {}  // NOLINT
  Value(unsigned long u) : v_(static_cast<std::uint64_t>(u)) {}       // NOLINT
  Value(unsigned long long u) : v_(static_cast<std::uint64_t>(u)) {}  // NOLINT
  Value(double d) : v_(d) {}                         // NOLINT(google-explicit-constructor)
  Value(const char* s) : v_(std::string(s)) {}       // NOLINT(google-explicit-constructor)
  Value(std::string s) : v_(std::move(s)) {}         // NOLINT(google-explicit-constructor)
  Value(std::string_view s) : v_(std::string(s)) {}  // NOLINT(google-explicit-constructor)
  Value(Binary b) : v_(std::move(b)) {}              // NOLINT(google-explicit-constructor)
  Value(Array a) : v_(std::move(a)) {}               // NOLINT(google-explicit-constructor)
  Value(Map m) : v_(std::move(m)) {}                 // NOLINT(google-explicit-constructor)

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_nil() const { return type() == Type::kNil; }
  bool is_string() const { return type() == Type::kString; }

  // Accessors; calling the wrong one is a bug (asserts via std::get).
  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  std::uint64_t as_uint() const { return std::get<std::uint64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Binary& as_binary() const { return std::get<Binary>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  const Map& as_map() const { return std::get<Map>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  Map& as_map() { return std::get<Map>(v_); }

  // Exact term equality: types must match (a string never equals a binary, 1 never equals 1.0).
  bool operator==(const Value& other) const { return v_ == other.v_; }
  // A total order (by type, then value) so Values can key ordered containers.
  std::partial_ordering operator<=>(const Value& other) const;

  // A compact human-readable rendering for messages and examples (JSON-like; not a format).
  std::string debug_string() const;

 private:
  void set_signed(long long i) {
    if (i >= 0) {
      v_ = static_cast<std::uint64_t>(i);
    } else {
      v_ = static_cast<std::int64_t>(i);
    }
  }

  std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Binary,
               Array, Map>
      v_;
};

}  // namespace procreg
