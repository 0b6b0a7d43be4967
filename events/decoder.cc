#include "events/decoder.h"

#include <array>
#include <cstdio>

namespace procreg::events {

namespace {

std::string_view family_name(const Head& head) {
  switch (head.family) {
    case Family::kNil:
      return "nil";
    case Family::kBool:
      return "bool";
    case Family::kUint:
      return "uint";
    case Family::kInt:
      return "int";
    case Family::kFloat:
      return head.format == 0xca ? "float32" : "float64";
    case Family::kStr:
      return "str";
    case Family::kBin:
      return "bin";
    case Family::kArray:
      return "array";
    case Family::kMap:
      return "map";
    case Family::kExt:
      return "ext";
    case Family::kInvalid:
      return "0xc1";
  }
  return "?";
}

// A path part as written: schema keys and ordinary user keys plainly, anything else (control
// bytes, dots, a 4 MiB key) quoted and cut.
void append_key(std::string_view key, std::string* out) {
  constexpr std::size_t kMaxPlain = 64;
  const bool plain = !key.empty() && key.size() <= kMaxPlain &&
                     key.find_first_not_of(
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789_-") == std::string_view::npos;
  *out += plain ? std::string(key) : quote(key);
}

}  // namespace

std::string quote(std::string_view s) {
  constexpr std::size_t kMaxQuoted = 64;
  std::string out = "\"";
  for (const char c : s.substr(0, kMaxQuoted)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      std::array<char, 8> buf;
      std::snprintf(buf.data(), buf.size(), "\\x%02x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf.data();
    } else {
      out += c;
    }
  }
  out += '"';
  if (s.size() > kMaxQuoted) out += "...";
  return out;
}

bool Decoder::fail(Code code, std::string_view detail, bool at_item) {
  std::string message(root_);
  for (std::size_t i = 0; i < path_size_; ++i) {
    if (path_[i].index >= 0) {
      message += '[' + std::to_string(path_[i].index) + ']';
    } else {
      message += '.';
      append_key(path_[i].key, &message);
    }
  }
  message += ": ";
  message += detail;
  if (at_item) message += " at byte " + std::to_string(item_pos_);
  error_ = Status(code, std::move(message));
  return false;
}

bool Decoder::fail_missing_key(std::string_view key) {
  return fail(Code::kCorruption, "missing key " + quote(key), false);
}

bool Decoder::fail_duplicate_key(std::string_view key) {
  return fail(Code::kCorruption, "duplicate key " + quote(key));
}

bool Decoder::check_size(std::size_t size) {
  if (size <= limits_.max_bytes) return true;
  return fail(Code::kResourceExhausted,
              "input of " + std::to_string(size) + " bytes exceeds max_bytes " +
                  std::to_string(limits_.max_bytes),
              false);
}

bool Decoder::finish() {
  if (cursor_.remaining() == 0) return true;
  item_pos_ = cursor_.position();
  return fail(Code::kCorruption, std::to_string(cursor_.remaining()) + " trailing bytes");
}

bool Decoder::fail_head(bool complete) {
  if (!complete) return fail(Code::kCorruption, "truncated: input ends in an item");
  return fail(Code::kCorruption, "invalid format byte 0xc1");
}

bool Decoder::fail_type(const Head& head, std::string_view expected) {
  return fail(Code::kCorruption,
              "expected " + std::string(expected) + ", found " + std::string(family_name(head)));
}

bool Decoder::fail_container(const Head& head) {
  const std::string what = std::string(head.family == Family::kMap ? "map of " : "array of ") +
                           std::to_string(head.n) +
                           (head.family == Family::kMap ? " pairs" : " elements");
  if (head.n > limits_.max_container) {
    return fail(Code::kResourceExhausted,
                what + " exceeds max_container " + std::to_string(limits_.max_container));
  }
  return fail(Code::kCorruption, "truncated: " + what + " cannot fit in the " +
                                     std::to_string(cursor_.remaining()) + " bytes left");
}

bool Decoder::fail_payload(const Head& head) {
  const std::string what = std::string(family_name(head)) + " of " + std::to_string(head.n);
  if (head.n > limits_.max_string) {
    return fail(Code::kResourceExhausted,
                what + " bytes exceeds max_string " + std::to_string(limits_.max_string));
  }
  return fail(Code::kCorruption, "truncated: " + what + " bytes has only " +
                                     std::to_string(cursor_.remaining()) + " bytes left");
}

bool Decoder::fail_key(const Head& head) {
  return fail(Code::kCorruption,
              "map key is not a string (found " + std::string(family_name(head)) + ")");
}

bool Decoder::fail_int_range(std::uint64_t n) {
  return fail(Code::kCorruption, "integer " + std::to_string(n) + " exceeds int64");
}

bool Decoder::read_non_empty_string(std::string* out) {
  if (!read_string(out)) return false;
  return !out->empty() || fail(Code::kCorruption, "empty string");
}

bool Decoder::read_tuple_head(std::uint32_t count) {
  std::uint32_t actual = 0;
  if (!read_array_head(&actual)) return false;
  if (actual == count) return true;
  return fail(Code::kCorruption, "expected an array of " + std::to_string(count) +
                                     " elements, found " + std::to_string(actual));
}

bool Decoder::check_required(std::uint32_t seen, std::uint32_t required,
                             const std::string_view* keys, std::size_t n) {
  const std::uint32_t missing = required & ~seen;
  if (missing == 0) return true;
  for (std::size_t i = 0; i < n; ++i) {
    if ((missing >> i) & 1u) return fail_missing_key(keys[i]);
  }
  return true;
}

bool Decoder::next_is_nil() {
  const std::size_t start = cursor_.position();
  Head head;
  const bool nil = cursor_.read_head(&head) && head.family == Family::kNil;
  cursor_.seek(start);
  return nil;
}

bool Decoder::read_raw(std::string_view* out) {
  const std::size_t start = cursor_.position();
  if (!skip()) return false;
  *out = cursor_.since(start);
  return true;
}

bool Decoder::skip() {
  // Items still to skip; a container adds its elements. No recursion, so no depth to bound.
  std::uint64_t pending = 1;
  while (pending > 0) {
    --pending;
    Head head;
    if (!next_head(&head)) return false;
    std::string_view payload;
    switch (head.family) {
      case Family::kStr:
      case Family::kBin:
      case Family::kExt:
        if (!read_payload(head, &payload)) return false;
        break;
      case Family::kArray:
        if (!check_container(head, 1)) return false;
        pending += head.n;
        break;
      case Family::kMap:
        if (!check_container(head, 2)) return false;
        pending += 2 * head.n;
        break;
      default:
        break;
    }
  }
  return true;
}

bool Decoder::read_version(std::string_view noun, std::uint32_t newest, std::uint32_t* out) {
  std::uint64_t version = 0;
  if (!read_uint(&version)) return false;
  if (version == 0) return fail(Code::kCorruption, std::string(noun) + " 0 is invalid");
  if (version > newest) {
    return fail(Code::kUnsupported, std::string(noun) + " " + std::to_string(version) +
                                        " is newer than this build's " + std::to_string(newest));
  }
  *out = static_cast<std::uint32_t>(version);
  return true;
}

bool Decoder::check_version(std::string_view key, std::string_view noun, std::uint32_t newest) {
  const std::size_t start = position();
  std::uint32_t count = 0;
  if (!read_map_head(&count)) return false;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view k;
    if (!read_key(&k)) return false;
    if (k == key) {
      Scope scope(this, key);
      std::uint32_t version = 0;
      if (!read_version(noun, newest, &version)) return false;
      seek(start);
      return true;
    }
    if (!skip()) return false;
  }
  return fail_missing_key(key);
}

}  // namespace procreg::events
