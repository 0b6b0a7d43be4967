// procreg: the events. Every registry mutation is one event; state = fold(apply, events).
//
// Events are resolved facts, not commands: the writer validates a call against its current
// state and writes what the call did (the merged node list of a bulk_insert, the tombstone a
// bulk_delete left, the hook diff). apply() is then a plain, deterministic assignment that reads
// no clock, and a client in another language can rebuild the registry without re-implementing
// ProcessHub's merge rules. The MessagePack encoding is specified in docs/EVENT_FORMAT.md.
//
// Thread safety: value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "procreg/types.h"

namespace procreg {

// The event schema version this build writes and the newest it reads.
inline constexpr std::uint32_t kEventSchemaVersion = 1;

// A stored row: the entry plus its lifecycle. expires_at_ms is an absolute writer time
// (docs/SEMANTICS.md, "TTL and expiry"); empty = a permanent row.
struct Row {
  Entry entry;
  std::optional<std::int64_t> expires_at_ms;
  bool operator==(const Row&) const = default;
};

namespace events {

// insert: the row at row.entry.spec.id is replaced whole.
// Hook (if the event has hooks): child_registered {child_id, row's node_pids}.
struct Insert {
  Row row;
  bool operator==(const Insert&) const = default;
};

// One row a bulk_insert wrote. `diff` is the hook payload (new or changed pairs, in ProcessHub's
// reverse incoming order); an empty diff fires no hook.
struct BulkInsertItem {
  Row row;
  NodePids diff;
  bool operator==(const BulkInsertItem&) const = default;
};
struct BulkInsert {
  std::vector<BulkInsertItem> items;
  bool operator==(const BulkInsert&) const = default;
};

// delete: removes the row if present. Hook: child_unregistered {child_id}, present or not.
struct Delete {
  ChildId child_id;
  bool operator==(const Delete&) const = default;
};

// One item of a bulk_delete. If `changed`, the row's node_pids and expiry become `node_pids`
// and `expires_at_ms` (spec and metadata stay); an empty node_pids with an expiry is a
// tombstone. Unchanged items exist only to carry their hook: child_unregistered {child_id}.
struct BulkDeleteItem {
  ChildId child_id;
  bool changed = false;
  NodePids node_pids;
  std::optional<std::int64_t> expires_at_ms;
  bool operator==(const BulkDeleteItem&) const = default;
};
struct BulkDelete {
  std::vector<BulkDeleteItem> items;
  bool operator==(const BulkDelete&) const = default;
};

// update: writes `row` at row.entry.spec.id (a permanent row). If that id differs from
// child_id, the old row stays (ProcessHub's behaviour; docs/SEMANTICS.md, "update"). No hooks.
struct Update {
  ChildId child_id;
  Row row;
  bool operator==(const Update&) const = default;
};

// clear_all: removes every row of the event's table. No hooks.
struct Clear {
  bool operator==(const Clear&) const = default;
};

// TTL expiry, written by the writer's janitor: removes each row whose revision (the sequence
// of the event that last wrote it) is still row_seq, so a row re-registered after the janitor
// looked is never removed (docs/SEMANTICS.md, "TTL and expiry"). No hooks.
struct ExpireItem {
  ChildId child_id;
  std::uint64_t row_seq = 0;
  bool operator==(const ExpireItem&) const = default;
};
struct Expire {
  std::vector<ExpireItem> items;
  bool operator==(const Expire&) const = default;
};

}  // namespace events

enum class EventKind : std::uint8_t {
  kInsert = 0,
  kBulkInsert,
  kDelete,
  kBulkDelete,
  kUpdate,
  kClear,
  kExpire,
};
// "insert", "bulk_insert", "delete", "bulk_delete", "update", "clear", "expire".
std::string_view event_kind_name(EventKind kind);

using EventBody = std::variant<events::Insert, events::BulkInsert, events::Delete,
                               events::BulkDelete, events::Update, events::Clear, events::Expire>;

// The envelope every event travels in.
struct Event {
  std::uint32_t schema_version = kEventSchemaVersion;
  std::string hub;
  std::string table;                // the registry stream (ProcessHub's :table); never empty
  std::uint64_t seq = 0;            // per-hub, gapless, from 1
  std::uint64_t epoch = 0;          // the log's identity; changes when a log is recreated
  std::int64_t writer_time_ms = 0;  // the writer's clock when the event was written
  bool hooks = false;               // written with hooks on: its hook events reach the hook topics
  EventBody body;

  EventKind kind() const { return static_cast<EventKind>(body.index()); }
  bool operator==(const Event&) const = default;
};

}  // namespace procreg
