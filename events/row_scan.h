// procreg::events internal: reading a row without decoding it, when its bytes are exactly
// what procreg writes.
//
// A projection keeps a row as its encoded parts (state/table_row.h). Decoding a received row
// into an Entry only to encode it again costs most of a replica's catch-up: every string of the
// row becomes an allocation, then is copied back into bytes. A scan instead checks that the
// bytes are the canonical encoding (exactly what procreg's Encoder writes, events/encoder.h:
// the smallest head of every integer, string, binary, array and map, float 64, map keys in
// ascending byte order, a row's and a spec's keys in the order events/row_codec.h gives) and
// returns views of the parts, without allocating.
//
// The rule that keeps this safe: a scan succeeds only for bytes that the decoder accepts under
// the same limits and that encode back to themselves. Anything else (another writer's valid
// but non-canonical bytes, damaged bytes, a limit reached) makes the scan return false, and the
// caller decodes: every error and every accepted form stays the decoder's alone. So a row
// loaded from a scan is byte for byte the row loaded from a decode (tests/events/row_scan_test.cc
// checks both directions on random rows and on every single-byte change of them).
//
// The same holds for a whole insert event (scan_insert_event): replay and the log's other
// readers take the row of a canonical insert event as its bytes, and decode anything else.
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "events/codec.h"
#include "events/row_codec.h"

namespace procreg::events {

// A row's parts as views of the scanned bytes.
struct ScannedRow {
  EncodedEntry parts;
  std::string_view id;                  // the spec's "id"
  std::optional<std::string_view> tag;  // the metadata's "tag", when it is a string
  std::uint32_t node_count = 0;         // pairs in node_pids
  std::optional<std::int64_t> expires_at_ms;
};

struct ScannedSnapshotRow {
  std::string_view table;
  ScannedRow row;
  std::uint64_t revision = 0;
};

// An insert event's envelope and row as views of the scanned bytes (schema version 1).
struct ScannedInsert {
  std::string_view hub;
  std::string_view table;
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::int64_t writer_time_ms = 0;
  bool hooks = false;
  ScannedRow row;
};

// True, with *out filled, if `bytes` are exactly what events::encode writes for an insert
// event that events::decode(bytes, limits) accepts. False says nothing about the bytes (another
// kind, another writer's form, damage): decode them.
bool scan_insert_event(std::string_view bytes, const DecodeLimits& limits, ScannedInsert* out);

// True, with *out filled, if `bytes` are exactly what encode_snapshot_row writes for a row that
// decode_snapshot_row(bytes, limits) accepts. False says nothing about the bytes: decode them.
bool scan_snapshot_row(std::string_view bytes, const DecodeLimits& limits, ScannedSnapshotRow* out);

}  // namespace procreg::events
