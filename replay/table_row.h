// procreg::replay: StoredRow, one row of a table as the projection keeps it.
//
// Thread safety: none; the owning Table's synchronisation applies.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>

#include "procreg/types.h"

namespace procreg::replay {

struct StoredRow {
  StoredRow(Entry e, std::optional<std::int64_t> expires_at_ms, std::uint64_t revision)
      : entry(std::move(e)), seq(revision) {
    set_expiry(expires_at_ms);
  }

  Entry entry;
  std::uint64_t seq = 0;  // revision: the sequence of the event that last wrote the row
  // Index positions, maintained by Table only.
  mutable std::uint32_t index_pos = kNoPos;
  mutable std::uint32_t local_pos = kNoPos;
  static constexpr std::uint32_t kNoPos = 0xffffffffu;

  const ChildId& id() const { return entry.spec.id; }
  bool bound() const { return !entry.node_pids.empty(); }
  bool has_ttl() const { return expiry_ != kNoExpiry; }
  // The absolute expiry (writer time, ms), or none for a permanent row.
  std::optional<std::int64_t> expires_at_ms() const {
    return has_ttl() ? std::optional<std::int64_t>(expiry_) : std::nullopt;
  }
  void set_expiry(std::optional<std::int64_t> expires_at_ms) {
    expiry_ = expires_at_ms.value_or(kNoExpiry);
  }

 private:
  // Stored without std::optional's flag (8 bytes a row): no writer clock reads INT64_MIN.
  static constexpr std::int64_t kNoExpiry = INT64_MIN;
  std::int64_t expiry_ = kNoExpiry;
};

}  // namespace procreg::replay
