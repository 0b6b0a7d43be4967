// procreg: the one error currency of the public API.
//
// A Status is either ok or an error with a Code a caller can branch on and a human-readable
// message. Result<T> is a T or an error Status. Both are cheap to move; an ok Status holds no
// allocation. Errors from cppzmq and msgpack are caught at the module boundary and become a
// Status; programming errors (broken invariants) are asserts, never a Status.
//
// Thread safety: values; no shared state.
#pragma once

#include <cassert>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace procreg {

enum class Code {
  kOk = 0,
  kNotFound,           // the thing named does not exist (update on a missing row, a missing log)
  kInvalidArgument,    // the caller's arguments (or an update function's result) are not valid
  kCorruption,         // stored or received bytes fail a check (CRC, sequence, format)
  kTimeout,            // an operation's deadline passed; nothing was applied half-way
  kUnavailable,        // the component is closed or not reachable
  kIoError,            // the operating system refused a file operation
  kUnsupported,        // a format or schema version this build does not understand
  kResourceExhausted,  // a size limit was exceeded (oversized record, message, value)
  kInternal,          // an unexpected failure in user code run by procreg (e.g. an update fn threw)
  kConflict,          // the state changed under a conditional write (a remote update's row)
  kCompacted,         // the history asked for was compacted away: resync from a snapshot
  kPermissionDenied,  // the peer's key does not hold the role the request needs, or a secret
                      // key file is readable by others (include/procreg/security.h)
};

// Returns a stable lower_snake name for `code` ("not_found", "corruption", ...).
std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status io_error(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status resource_exhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status compacted(std::string m) { return {Code::kCompacted, std::move(m)}; }
  static Status permission_denied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code_name>: <message>".
  std::string to_string() const;

  bool operator==(const Status&) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value of type T or an error Status (never an ok Status without a value).
// Writes code_name(code) / status.to_string() (for logs and test output).
std::ostream& operator<<(std::ostream& os, Code code);
std::ostream& operator<<(std::ostream& os, const Status& status);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Status error) : v_(std::move(error)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "a Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  // The error, or an ok Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace procreg
