#include "procreg/status.h"

#include <ostream>

namespace procreg {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not_found";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kCorruption:
      return "corruption";
    case Code::kTimeout:
      return "timeout";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kIoError:
      return "io_error";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kInternal:
      return "internal";
    case Code::kConflict:
      return "conflict";
    case Code::kCompacted:
      return "compacted";
    case Code::kPermissionDenied:
      return "permission_denied";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s(code_name(code_));
  s += ": ";
  s += message_;
  return s;
}

std::ostream& operator<<(std::ostream& os, Code code) { return os << code_name(code); }
std::ostream& operator<<(std::ostream& os, const Status& status) {
  return os << status.to_string();
}

}  // namespace procreg
