// procreg::etcd internal: base64 (RFC 4648, standard alphabet, '=' padding), the encoding of
// every bytes field (keys, values, election names) in etcd's JSON gateway.
//
// Written here rather than shared: the only other copy is the procreg command's
// (tools/procreg/json_convert.cc), which a library layer may not include (CONTRIBUTING.md,
// "Layering"), and libcurl and nlohmann/json have none.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace procreg::etcd {

// Any bytes, padded to a multiple of 4 characters.
std::string base64_encode(std::string_view bytes);

// The bytes of padded or unpadded base64; nullopt on a character outside the alphabet, on
// misplaced padding, on a length no encoder produces (1 mod 4), or on non-zero trailing bits.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace procreg::etcd
