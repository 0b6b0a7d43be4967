// procreg::events: the MessagePack codec of events (and of the Values inside them).
//
// The byte layout is specified in docs/EVENT_FORMAT.md: map-based, so a reader skips keys it
// does not know and a newer writer can add optional keys without a version bump; a schema
// version newer than kEventSchemaVersion is refused with Code::kUnsupported.
//
// Decoding takes untrusted bytes: every size is bounded by DecodeLimits before anything is
// allocated, and malformed, truncated, oversized or unknown-version input returns an error
// Status (never throws, never crashes, never returns a half-filled event).
//
// Thread safety: free functions over values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "procreg/event.h"
#include "procreg/status.h"
#include "procreg/value.h"

namespace procreg::events {

struct DecodeLimits {
  std::size_t max_bytes = 16u << 20;      // the whole input
  std::uint32_t max_depth = 32;           // nesting of arrays/maps inside Values
  std::uint32_t max_container = 1u << 20; // elements of one array or map
  std::uint32_t max_string = 4u << 20;    // bytes of one string or binary
};

// Appends the encoding of `event` to *out. Deterministic: equal events give equal bytes.
void encode(const Event& event, std::string* out);
std::string encode(const Event& event);

// Decodes exactly one event occupying all of `bytes`.
// Errors: kCorruption (malformed, truncated, trailing bytes, wrong types, missing keys),
// kResourceExhausted (a limit exceeded), kUnsupported (schema_version > kEventSchemaVersion).
Result<Event> decode(std::string_view bytes, const DecodeLimits& limits = {});

// The same for a lone Value (used by snapshots and the wire protocol).
void encode_value(const Value& value, std::string* out);
Result<Value> decode_value(std::string_view bytes, const DecodeLimits& limits = {});

}  // namespace procreg::events
