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
#include <vector>

#include "procreg/event.h"
#include "procreg/status.h"
#include "procreg/value.h"

namespace procreg::events {

// The deepest Value nesting the format allows (docs/EVENT_FORMAT.md, "Depth"); writers refuse
// deeper Values so that what they write can always be read back.
inline constexpr std::uint32_t kMaxValueDepth = 32;

struct DecodeLimits {
  std::size_t max_bytes = 16u << 20;         // the whole input
  std::uint32_t max_depth = kMaxValueDepth;  // nesting of arrays/maps inside Values
  std::uint32_t max_container = 1u << 20;    // elements of one array or map
  std::uint32_t max_string = 4u << 20;       // bytes of one string or binary
};

// The limits for a record of at most record_bytes bytes: only the depth is bounded apart from
// the size, so every event a writer could append is read back (a string or container cannot be
// larger than its record, and the decoder checks counts against the bytes left). A reader of
// the log passes the record's own length: its segment's limit already bounded it.
DecodeLimits record_limits(std::uint32_t record_bytes);

// True if the depth of `value` (an array or map of values: 1 + the largest element's) is at
// most max_depth. Stops descending past max_depth, so any Value is safe to check.
bool within_depth(const Value& value, std::uint32_t max_depth);
bool within_depth(const Value::Array& array, std::uint32_t max_depth);
bool within_depth(const Value::Map& map, std::uint32_t max_depth);

struct EntryPartsAt;  // events/row_codec.h

// Appends the encoding of `event` to *out. Deterministic: equal events give equal bytes.
void encode(const Event& event, std::string* out);
std::string encode(const Event& event);
// The same, also recording in *rows (cleared first) where each row of the body went, as
// offsets into *out: insert and update have one row, bulk_insert one per item in item order,
// the other kinds none. A projection keeps the rows as these bytes (Projection::apply with the
// event's encoding) instead of encoding them a second time.
void encode(const Event& event, std::string* out, std::vector<EntryPartsAt>* rows);

// Decodes exactly one event occupying all of `bytes`.
// Errors: kCorruption (malformed, truncated, trailing bytes, wrong types, missing keys),
// kResourceExhausted (a limit exceeded), kUnsupported (schema_version > kEventSchemaVersion).
Result<Event> decode(std::string_view bytes, const DecodeLimits& limits = {});

// The same for a lone Value (used by snapshots and the wire protocol).
void encode_value(const Value& value, std::string* out);
Result<Value> decode_value(std::string_view bytes, const DecodeLimits& limits = {});

}  // namespace procreg::events
