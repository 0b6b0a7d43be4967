#include "procreg/value.h"

#include <cstdio>

namespace procreg {

std::partial_ordering Value::operator<=>(const Value& other) const {
  if (v_.index() != other.v_.index()) return v_.index() <=> other.v_.index();
  return std::visit(
      [&](const auto& a) -> std::partial_ordering {
        using T = std::decay_t<decltype(a)>;
        const auto& b = std::get<T>(other.v_);
        if constexpr (std::is_same_v<T, std::monostate>) {
          return std::partial_ordering::equivalent;
        } else if constexpr (std::is_same_v<T, Array> || std::is_same_v<T, Map>) {
          return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
        } else {
          return a <=> b;
        }
      },
      v_);
}

namespace {

void append_quoted(const std::string& s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out->append(buf);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void render(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kNil:
      out->append("nil");
      break;
    case Value::Type::kBool:
      out->append(v.as_bool() ? "true" : "false");
      break;
    case Value::Type::kInt:
      out->append(std::to_string(v.as_int()));
      break;
    case Value::Type::kUint:
      out->append(std::to_string(v.as_uint()));
      break;
    case Value::Type::kFloat: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.as_float());
      out->append(buf);
      break;
    }
    case Value::Type::kString:
      append_quoted(v.as_string(), out);
      break;
    case Value::Type::kBinary:
      out->append("<<" + std::to_string(v.as_binary().bytes.size()) + " bytes>>");
      break;
    case Value::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out->push_back(',');
        first = false;
        render(e, out);
      }
      out->push_back(']');
      break;
    }
    case Value::Type::kMap: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.as_map()) {
        if (!first) out->push_back(',');
        first = false;
        append_quoted(k, out);
        out->push_back(':');
        render(e, out);
      }
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

std::string Value::debug_string() const {
  std::string out;
  render(*this, &out);
  return out;
}

}  // namespace procreg
