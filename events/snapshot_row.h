// procreg::events: one row of a snapshot, the layout shared by snapshot files
// (docs/LOG_FORMAT.md, "Snapshot files") and the replay service's snapshot replies
// (docs/PROTOCOL.md, "SnapshotRow"):
//
//   SnapshotRow = map { "v": 1, "tbl": str table (not empty), "row": row, "rev": uint revision }
//
// row is the event format's (events/row_codec.h). The revision is the seq of the event that last
// wrote the row; TTL expiry events name it. Writers write the keys in the order shown; readers
// accept any order and skip unknown keys. A "v" above 1 is kUnsupported.
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/codec.h"
#include "events/row_codec.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::events {

inline constexpr std::uint32_t kSnapshotRowVersion = 1;

struct SnapshotRow {
  std::string table;
  Row row;
  std::uint64_t revision = 0;
  bool operator==(const SnapshotRow&) const = default;
};

// Appends the bytes of SnapshotRow{table, Row{entry, expires_at_ms}, revision} to *out, from a
// row held as its parts (rows are encoded without copying them). Precondition: table not empty.
void encode_snapshot_row(std::string_view table, const Entry& entry,
                         const std::optional<std::int64_t>& expires_at_ms, std::uint64_t revision,
                         std::string* out);
// The same from a row held as its encoded parts (the projection's rows, state/table_row.h).
void encode_snapshot_row(std::string_view table, const EncodedEntry& entry,
                         const std::optional<std::int64_t>& expires_at_ms, std::uint64_t revision,
                         std::string* out);
// Reads exactly one SnapshotRow occupying all of `bytes`; errors name "snapshot_row.<field>".
Result<SnapshotRow> decode_snapshot_row(std::string_view bytes, const DecodeLimits& limits = {});

}  // namespace procreg::events
