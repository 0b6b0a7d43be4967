// procreg::plugin::wire internal: the one way a message body is read and written.
//
// A body is a MessagePack map with string keys whose first key is "v" (the wire version). Each
// message describes its body once, as a table (Body): the keys after "v", in the order procreg
// writes them, each with the member it holds, how that value is read and written (its Codec,
// chosen by the member's C++ type unless named) and whether it is required. read_body walks
// the map with that table: readers accept any order, skip unknown keys, and refuse duplicate
// keys, missing required keys and wrong types (kCorruption, naming the key's path and offset).
// encode_body writes "v" and then the keys the message has, in table order.
//
// Only the codec's .cc files include this header; callers use plugin/wire.h.
//
// Thread safety: constant tables and free functions over values.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "events/decoder.h"
#include "events/encoder.h"
#include "plugin/wire.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::plugin::wire::detail {

using events::bits;
using events::DecodeLimits;
using events::Decoder;
using events::Encoder;

// The key every body starts with, and what its value is called in errors.
inline constexpr std::string_view kV = "v";
inline constexpr std::string_view kVersionNoun = "wire version";

// ---- codecs: how one value is read and written ----------------------------------------------

// By the value's C++ type. A uint32 refuses a larger integer; a Status is the map
// { "code": str code_name, "message": str } (a code this build does not know reads as
// kInternal, keeping the code's name in the message); an optional is written only when set.
struct Plain {
  static bool read(Decoder& d, std::uint64_t* v) { return d.read_uint(v); }
  static void write(Encoder& e, std::uint64_t v) { e.uint(v); }
  static bool read(Decoder& d, std::uint32_t* v);
  static void write(Encoder& e, std::uint32_t v) { e.uint(v); }
  static bool read(Decoder& d, std::int64_t* v) { return d.read_int(v); }
  static void write(Encoder& e, std::int64_t v) { e.int64(v); }
  static bool read(Decoder& d, std::optional<std::int64_t>* v);
  static void write(Encoder& e, const std::optional<std::int64_t>& v) { e.int64(*v); }
  static bool read(Decoder& d, bool* v) { return d.read_bool(v); }
  static void write(Encoder& e, bool v) { e.boolean(v); }
  static bool read(Decoder& d, std::string* v) { return d.read_string(v); }
  static void write(Encoder& e, const std::string& v) { e.str(v); }
  static bool read(Decoder& d, Status* v);
  static void write(Encoder& e, const Status& v);
  static bool read(Decoder& d, NodePids* v);
  static void write(Encoder& e, const NodePids& v) { e.node_pids(v); }
  static bool read(Decoder& d, ChildSpec* v);
  static void write(Encoder& e, const ChildSpec& v);
  static bool read(Decoder& d, Metadata* v) { return d.read_value_map(v); }
  static void write(Encoder& e, const Metadata& v) { e.value_map(v); }
  static bool read(Decoder& d, Entry* v);
  static void write(Encoder& e, const Entry& v);
};

// A string that must not be empty ("hub", and the "tbl" of a HookPayload).
struct NonEmpty {
  static bool read(Decoder& d, std::string* v) { return d.read_non_empty_string(v); }
  static void write(Encoder& e, const std::string& v) { e.str(v); }
};

// An op: the name at the enum's value in `Names`; another name is kUnsupported.
template <const auto& Names>
struct Op {
  template <typename Enum>
  static bool read(Decoder& d, Enum* v) {
    std::string_view name;
    if (!d.read_str(&name)) return false;
    for (std::size_t i = 0; i < Names.size(); ++i) {
      if (Names[i] == name) {
        *v = static_cast<Enum>(i);
        return true;
      }
    }
    return d.fail(Code::kUnsupported, "unknown op " + events::quote(name));
  }
  template <typename Enum>
  static void write(Encoder& e, Enum v) {
    e.str(Names[static_cast<std::size_t>(v)]);
  }
};

// ---- the table of a body ------------------------------------------------------------------

// What reading a body learned besides the message, for a Body's check.
struct ReadState {
  std::uint32_t version = 0;  // the value of "v"
  std::uint32_t seen = 0;     // bit i: keys[i] was present ("v" is key 0)
  std::size_t deferred = 0;   // where the value of the body's deferred() key starts
};

// One key after "v": its name, whether it is required, and how its value is read and written.
template <typename T>
struct Field {
  std::string_view key;
  bool required = true;
  bool (*read)(Decoder& d, T* m, ReadState* state) = nullptr;
  void (*write)(Encoder& e, const T& m) = nullptr;
};

inline constexpr bool kRequired = true;
inline constexpr bool kOptional = false;

template <typename Member>
struct MemberOf;
template <typename C, typename V>
struct MemberOf<V C::*> {
  using Class = C;
};

// The key holding the member `Member`, read and written by Codec.
template <auto Member, typename Codec = Plain>
constexpr Field<typename MemberOf<decltype(Member)>::Class> field(std::string_view key,
                                                                  bool required = kRequired) {
  using T = typename MemberOf<decltype(Member)>::Class;
  return {key, required, [](Decoder& d, T* m, ReadState*) { return Codec::read(d, &(m->*Member)); },
          [](Encoder& e, const T& m) { Codec::write(e, m.*Member); }};
}

// A key whose value is interpreted after the whole map has been read (by the Body's check,
// which then knows "v"): its value is skipped, and where it starts is kept in ReadState.
template <typename T>
constexpr Field<T> deferred(std::string_view key, void (*write)(Encoder& e, const T& m)) {
  return {key, kOptional,
          [](Decoder& d, T*, ReadState* state) {
            state->deferred = d.position();
            return d.skip();
          },
          write};
}

// What sets a body apart besides its keys; every member is optional.
template <typename T>
struct BodyRules {
  std::uint32_t newest = kWireVersion;             // the newest "v" read
  std::uint32_t (*version)(const T& m) = nullptr;  // the "v" written; null: kWireVersion
  std::uint32_t (*written)(const T& m) = nullptr;  // the keys written (bit i: keys[i]); null: all
  bool (*check)(Decoder& d, T* m, const ReadState& state) = nullptr;  // after the last key
};

template <typename T, std::size_t N>
struct Body {
  static_assert(N < 32, "the keys of a body are bits of a 32-bit mask, \"v\" included");
  std::string_view root;           // names the body in error paths
  std::array<Field<T>, N> fields;  // the keys after "v"
  BodyRules<T> rules;
  events::Fields<N + 1> keys;  // "v", then the fields' keys
};

// A Body of `root` with the keys `fields` after "v".
template <typename T, std::size_t N>
constexpr Body<T, N> make_body(std::string_view root, const std::array<Field<T>, N>& fields,
                               BodyRules<T> rules = {}) {
  Body<T, N> body{root, {}, rules, {{kV}, 1}};
  for (std::size_t i = 0; i < N; ++i) {
    body.fields[i] = fields[i];
    body.keys.keys[i + 1] = fields[i].key;
    if (fields[i].required) body.keys.required |= std::uint32_t{1} << (i + 1);
  }
  return body;
}

// The Body of a request: the keys every request starts with, "id": uint (echoed in the reply,
// and found by read_request_id), "hub": str (not empty) and "op": a name in `Ops`, then `rest`.
template <typename T, const auto& Ops, std::size_t N>
constexpr Body<T, N + 3> make_request_body(std::string_view root,
                                           const std::array<Field<T>, N>& rest,
                                           BodyRules<T> rules = {}) {
  std::array<Field<T>, N + 3> fields = {field<&T::id>("id"), field<&T::hub, NonEmpty>("hub"),
                                        field<&T::op, Op<Ops>>("op")};
  for (std::size_t i = 0; i < N; ++i) fields[i + 3] = rest[i];
  return make_body(root, fields, rules);
}

// Reads the map of `body` into *m (the version has been checked), then runs its check.
template <typename T, std::size_t N>
bool read_body(Decoder& d, const Body<T, N>& body, T* m) {
  ReadState state;
  const bool ok = d.read_fields(body.keys, [&](std::size_t index) {
    state.seen |= std::uint32_t{1} << index;
    if (index == 0) return d.read_version(kVersionNoun, body.rules.newest, &state.version);
    return body.fields[index - 1].read(d, m, &state);
  });
  return ok && (body.rules.check == nullptr || body.rules.check(d, m, state));
}

// Decodes one body occupying all of `bytes`: the size, then "v" before anything else, then
// the keys, then no trailing bytes.
template <typename T, std::size_t N>
Result<T> decode_body(const Body<T, N>& body, std::string_view bytes,
                      const DecodeLimits& limits = {}) {
  return events::decode_without_throwing<T>([&]() -> Result<T> {
    Decoder d(bytes, limits, body.root);
    Result<T> result = T();
    if (!d.check_size(bytes.size()) || !d.check_version(kV, kVersionNoun, body.rules.newest) ||
        !read_body(d, body, &*result) || !d.finish()) {
      result = std::move(d).error();
    }
    return result;
  });
}

// Appends the body of *m: "v" first, then the keys it has in table order.
template <typename T, std::size_t N>
void encode_body(const Body<T, N>& body, const T& m, std::string* out) {
  constexpr std::uint32_t kAll = ~std::uint32_t{0} >> (31 - N);  // "v" and the N fields
  const std::uint32_t written = body.rules.written ? (body.rules.written(m) | 1u) & kAll : kAll;
  Encoder enc(out);
  enc.map(static_cast<std::size_t>(std::popcount(written)));
  enc.str(kV);
  enc.uint(body.rules.version ? body.rules.version(m) : kWireVersion);
  for (std::size_t i = 0; i < N; ++i) {
    if (((written >> (i + 1)) & 1u) == 0) continue;
    enc.str(body.fields[i].key);
    body.fields[i].write(enc, m);
  }
}

}  // namespace procreg::plugin::wire::detail
