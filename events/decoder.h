// procreg::events internal: typed reads of MessagePack under DecodeLimits, with located errors.
//
// A Decoder reads items from a MsgpackCursor as procreg types (strings, integers, Values, maps
// of known keys) and enforces DecodeLimits before it allocates: a str/bin length is checked
// against max_string and the bytes left, an array/map count against max_container and the bytes
// left (every element takes at least one byte), Value nesting against max_depth. It knows
// nothing of the event schema (events/codec.cc, events/event_decoder.cc).
//
// Errors: every read_* returns false after recording an error Status (error()) that names the
// path being read ("event.b.items[2].np") and the byte offset of the offending item:
// kCorruption for malformed or truncated input, kResourceExhausted for a limit. After a false
// return the Decoder must not be read further. Value reads recurse once per nesting level, so
// max_depth also bounds their stack use.
//
// Thread safety: a Decoder belongs to one thread; the input must outlive it.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "events/codec.h"
#include "events/msgpack_cursor.h"
#include "procreg/status.h"
#include "procreg/value.h"

namespace procreg::events {

// How many elements of a container to reserve before any is decoded: one allocation for the
// usual small container, while a count that the input does not back with elements (the count is
// only checked against the bytes left) reserves almost nothing. Larger containers grow as their
// elements are decoded, so allocation follows what the input actually holds.
inline std::size_t initial_capacity(std::uint32_t count) {
  constexpr std::uint32_t kMaxReservedAhead = 16;
  return count < kMaxReservedAhead ? count : kMaxReservedAhead;
}

// `s` in double quotes for an error message, control bytes escaped, cut after 64 bytes.
std::string quote(std::string_view s);

// A mask with the bits of `indexes` set: the required keys of a Fields.
template <typename... Index>
constexpr std::uint32_t bits(Index... indexes) {
  return ((std::uint32_t{1} << indexes) | ... | 0u);
}

// The keys a map of the schema may hold; bit i of `required` set means keys[i] must be present.
template <std::size_t N>
struct Fields {
  std::array<std::string_view, N> keys;
  std::uint32_t required;

  // The index of `key`, or N if unknown. `hint` is the index the key has when written in schema
  // order, tried first so that canonical input takes one comparison per key.
  std::size_t find(std::string_view key, std::size_t hint) const {
    if (hint < N && keys[hint] == key) return hint;
    for (std::size_t i = 0; i < N; ++i) {
      if (keys[i] == key) return i;
    }
    return N;
  }
};

class Decoder {
 public:
  // `root` names the whole input in error paths ("event", "value").
  Decoder(std::string_view bytes, const DecodeLimits& limits, std::string_view root)
      : cursor_(bytes), limits_(limits), root_(root) {}
  // The Decoder keeps a reference to `limits`: a temporary would dangle.
  Decoder(std::string_view bytes, const DecodeLimits&& limits, std::string_view root) = delete;

  // Checks the input size against limits.max_bytes (kResourceExhausted).
  bool check_size(std::size_t size);
  // Checks that the input has been read to its end (trailing bytes are kCorruption).
  bool finish();

  // The error recorded by the last false return.
  Status error() && { return std::move(error_); }

  std::size_t position() const { return cursor_.position(); }
  void seek(std::size_t pos) { cursor_.seek(pos); }

  // Scalars of the given MessagePack type; any integer width is accepted.
  bool read_str(std::string_view* out);  // a view into the input
  bool read_bin(std::string_view* out);  // a view into the input
  bool read_string(std::string* out);
  bool read_non_empty_string(std::string* out);
  bool read_bool(bool* out);
  bool read_uint(std::uint64_t* out);
  bool read_int(std::int64_t* out);
  // A map key, which must be a str ("map key is not a string" otherwise).
  bool read_key(std::string_view* out);
  // Array and map heads (count checked against the limits and the bytes left).
  bool read_array_head(std::uint32_t* count);
  bool read_map_head(std::uint32_t* count);
  // An array of exactly `count` elements.
  bool read_tuple_head(std::uint32_t count);

  // A Value. read_value_array and read_value_map read a container that is itself a Value at
  // nesting level 1 (child_spec args, metadata).
  bool read_value(Value* out) { return read_value_at(out, 0); }
  bool read_value_array(Value::Array* out);
  bool read_value_map(Value::Map* out);

  // Skips one item of any type, including ext; sizes are checked, nesting is not (no recursion).
  bool skip();
  // True if the next item is nil; reads nothing.
  bool next_is_nil();
  // Skips one item and returns its bytes (a view into the input).
  bool read_raw(std::string_view* out);

  // A version number (a uint): 0 is kCorruption ("<noun> 0 is invalid"), above `newest`
  // kUnsupported ("<noun> 2 is newer than this build's 1").
  bool read_version(std::string_view noun, std::uint32_t newest, std::uint32_t* out);
  // Finds the key `key` in the map at the current position and checks its value with
  // read_version before anything else of the map is interpreted (a missing key is kCorruption),
  // then returns to the map's start. Writers put the version first, so this usually reads just
  // the map head, the key and the number; other pairs before it are skipped.
  bool check_version(std::string_view key, std::string_view noun, std::uint32_t newest);

  // Reads a map whose known keys are `fields`: calls field(i) to read the value of keys[i] (the
  // path then ends in that key) and other(key) for any other key. Duplicate known keys and
  // missing required keys are kCorruption. Callables return false after recording an error.
  template <std::size_t N, typename Field, typename Other>
  bool read_fields(const Fields<N>& fields, Field&& field, Other&& other);
  // The same, skipping unknown keys (a newer writer's additions); duplicates among them are
  // still kCorruption.
  template <std::size_t N, typename Field>
  bool read_fields(const Fields<N>& fields, Field&& field);

  // Extends the error path with a key or an index while it lives.
  class Scope {
   public:
    Scope(Decoder* decoder, std::string_view key) : decoder_(decoder) { decoder->push(key, -1); }
    Scope(Decoder* decoder, std::uint32_t index) : decoder_(decoder) { decoder->push({}, index); }
    ~Scope() { --decoder_->path_size_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Decoder* decoder_;
  };

  // Records an error at the current path and returns false. `at_item` adds the offset of the
  // item read last ("at byte N").
  bool fail(Code code, std::string_view detail, bool at_item = true);
  bool fail_missing_key(std::string_view key);
  bool fail_duplicate_key(std::string_view key);

 private:
  struct PathPart {
    std::string_view key;
    std::int64_t index;  // >= 0 for an array element, else the part is `key`
  };
  // The schema nests at most 7 levels below the root (event.b.items[i].row.spec.start[2]).
  static constexpr std::size_t kMaxPath = 12;

  void push(std::string_view key, std::int64_t index) {
    assert(path_size_ < kMaxPath && "the schema nests deeper than kMaxPath");
    path_[path_size_++] = PathPart{key, index};
  }
  // The reads below are inline, their failures (which build messages) out of line.
  bool next_head(Head* head);
  bool expect(const Head& head, Family family, std::string_view name) {
    return head.family == family || fail_type(head, name);
  }
  // A container's count against max_container and the bytes left (each element takes at
  // least `min_bytes_per_element`).
  bool check_container(const Head& head, std::uint64_t min_bytes_per_element) {
    return (head.n <= limits_.max_container &&
            head.n * min_bytes_per_element <= cursor_.remaining()) ||
           fail_container(head);
  }
  // A str, bin or ext payload, checked against max_string and the bytes left.
  bool read_payload(const Head& head, std::string_view* out) {
    return (head.n <= limits_.max_string && cursor_.read_payload(head.n, out)) ||
           fail_payload(head);
  }
  bool fail_head(bool complete);
  bool fail_type(const Head& head, std::string_view expected);
  bool fail_container(const Head& head);
  bool fail_payload(const Head& head);
  bool fail_key(const Head& head);
  bool fail_int_range(std::uint64_t n);
  bool read_value_at(Value* out, std::uint32_t depth);
  bool read_container(const Head& head, Value* out, std::uint32_t level);
  bool read_array_body(std::uint32_t count, Value::Array* out, std::uint32_t depth);
  bool read_map_body(std::uint32_t count, Value::Map* out, std::uint32_t depth);
  bool check_depth(std::uint32_t depth);
  bool check_required(std::uint32_t seen, std::uint32_t required, const std::string_view* keys,
                      std::size_t n);

  MsgpackCursor cursor_;
  const DecodeLimits& limits_;
  std::string_view root_;
  std::size_t item_pos_ = 0;  // where the item read last starts
  std::array<PathPart, kMaxPath> path_{};
  std::size_t path_size_ = 0;
  Status error_;
};

inline bool Decoder::next_head(Head* head) {
  item_pos_ = cursor_.position();
  const bool complete = cursor_.read_head(head);
  return (complete && head->family != Family::kInvalid) || fail_head(complete);
}

inline bool Decoder::read_str(std::string_view* out) {
  Head head;
  return next_head(&head) && expect(head, Family::kStr, "str") && read_payload(head, out);
}

inline bool Decoder::read_bin(std::string_view* out) {
  Head head;
  return next_head(&head) && expect(head, Family::kBin, "bin") && read_payload(head, out);
}

inline bool Decoder::read_string(std::string* out) {
  std::string_view s;
  if (!read_str(&s)) return false;
  out->assign(s);
  return true;
}

inline bool Decoder::read_key(std::string_view* out) {
  Head head;
  if (!next_head(&head)) return false;
  return (head.family == Family::kStr || fail_key(head)) && read_payload(head, out);
}

inline bool Decoder::read_bool(bool* out) {
  Head head;
  if (!next_head(&head) || !expect(head, Family::kBool, "bool")) return false;
  *out = head.n != 0;
  return true;
}

inline bool Decoder::read_uint(std::uint64_t* out) {
  Head head;
  if (!next_head(&head) || !expect(head, Family::kUint, "uint")) return false;
  *out = head.n;
  return true;
}

inline bool Decoder::read_int(std::int64_t* out) {
  Head head;
  if (!next_head(&head)) return false;
  if (head.family == Family::kUint) {
    if (head.n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail_int_range(head.n);
    }
  } else if (!expect(head, Family::kInt, "int")) {
    return false;
  }
  *out = static_cast<std::int64_t>(head.n);
  return true;
}

inline bool Decoder::read_array_head(std::uint32_t* count) {
  Head head;
  if (!next_head(&head) || !expect(head, Family::kArray, "array") || !check_container(head, 1)) {
    return false;
  }
  *count = static_cast<std::uint32_t>(head.n);
  return true;
}

inline bool Decoder::read_map_head(std::uint32_t* count) {
  Head head;
  if (!next_head(&head) || !expect(head, Family::kMap, "map") || !check_container(head, 2)) {
    return false;
  }
  *count = static_cast<std::uint32_t>(head.n);
  return true;
}

template <std::size_t N, typename Field, typename Other>
bool Decoder::read_fields(const Fields<N>& fields, Field&& field, Other&& other) {
  static_assert(N <= 32, "the seen-set is a 32-bit mask");
  std::uint32_t count = 0;
  if (!read_map_head(&count)) return false;
  std::uint32_t seen = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view key;
    if (!read_key(&key)) return false;
    const std::size_t index = fields.find(key, i);
    if (index == N) {
      if (!other(key)) return false;
      continue;
    }
    const std::uint32_t bit = std::uint32_t{1} << index;
    if ((seen & bit) != 0) return fail_duplicate_key(key);
    seen |= bit;
    Scope scope(this, key);
    if (!field(index)) return false;
  }
  return check_required(seen, fields.required, fields.keys.data(), N);
}

template <std::size_t N, typename Field>
bool Decoder::read_fields(const Fields<N>& fields, Field&& field) {
  std::set<std::string_view> unknown;  // allocates only when a newer writer added keys
  return read_fields(fields, std::forward<Field>(field), [&](std::string_view key) {
    if (!unknown.insert(key).second) return fail_duplicate_key(key);
    Scope scope(this, key);
    return skip();
  });
}

// Runs decode_fn (returning Result<T>) so that no exception leaves the codec: the decoder's
// allocations are bounded by the input and the limits, so std::bad_alloc means the process is
// out of memory, reported as kResourceExhausted.
template <typename T, typename DecodeFn>
Result<T> decode_without_throwing(DecodeFn&& decode_fn) {
  try {
    return decode_fn();
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory while decoding");
  }
}

}  // namespace procreg::events
