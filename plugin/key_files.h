// procreg::plugin internal: reading ZeroMQ certificate files (ZPL text, ZeroMQ RFC 4).
//
// A certificate is what czmq's zcert and pyzmq's zmq.auth write:
//   metadata
//       name = "value"
//   curve
//       public-key = "<40 Z85 characters>"
//       secret-key = "<40 Z85 characters>"     (secret files only)
// Comments start with '#'; children are indented four spaces; a value may be quoted with "
// or ' or bare. Only the `curve` and `metadata` sections are read; others are ignored.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "procreg/status.h"

namespace procreg::plugin {

struct Certificate {
  std::string public_key;
  std::string secret_key;
  std::map<std::string, std::string> metadata;
};

// Parses certificate text; `name` (the file) names the failure. kInvalidArgument on a line
// that is not ZPL.
Result<Certificate> parse_certificate(std::string_view text, const std::string& name);
// Reads and parses a file of at most 64 KiB. kNotFound, kIoError, kInvalidArgument.
Result<Certificate> parse_certificate_file(const std::string& path);

}  // namespace procreg::plugin
