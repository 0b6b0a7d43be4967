// Hex dumps for the golden-byte tests: "84a176" <-> "\x84\xa1\x76".
//
// Thread safety: free functions.
#pragma once

#include <array>
#include <cassert>
#include <cstdio>
#include <string>
#include <string_view>

namespace procreg::testing {

// Spaces and newlines are ignored; anything else must be lower-case hex digits.
inline std::string from_hex(std::string_view hex) {
  std::string out;
  int high = -1;
  for (const char c : hex) {
    if (c == ' ' || c == '\n') continue;
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    assert(digit >= 0 && "not a lower-case hex digit");
    if (high < 0) {
      high = digit;
    } else {
      out.push_back(static_cast<char>(high * 16 + digit));
      high = -1;
    }
  }
  assert(high < 0 && "odd number of hex digits");
  return out;
}

inline std::string to_hex(std::string_view bytes) {
  std::string out;
  std::array<char, 3> buf;
  for (const char c : bytes) {
    std::snprintf(buf.data(), buf.size(), "%02x",
                  static_cast<unsigned>(static_cast<unsigned char>(c)));
    out += buf.data();
  }
  return out;
}

}  // namespace procreg::testing
