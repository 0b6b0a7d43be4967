// procreg::replay: the projection, the registry state as fold(apply, events).
//
// The projection is a set of tables (ProcessHub's :table streams of one hub) changed only by
// apply(event) — the same function the writer, a replay and (later) a replica use. apply() is
// deterministic (no clock, no randomness) and all-or-nothing: an event that does not fit the
// state (wrong hub, epoch or sequence; a bulk_delete naming a row that is not there) is
// refused with an error and changes nothing.
//
// Thread safety: none. The Registry guards its projection with a reader/writer lock; a
// projection built by replay is owned by one thread until handed over.
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "procreg/event.h"
#include "procreg/hooks.h"
#include "procreg/status.h"
#include "state/table.h"

namespace procreg::replay {

class Projection {
 public:
  // `hub` names the hub (and its default table); `local_node` serves the local_* queries.
  Projection(std::string hub, std::string local_node);
  Projection(const Projection&) = delete;
  Projection& operator=(const Projection&) = delete;

  const std::string& hub() const { return hub_; }
  const std::string& local_node() const { return local_node_; }
  std::uint64_t last_seq() const { return last_seq_; }
  std::uint64_t epoch() const { return epoch_; }  // 0 until the first event
  // The latest writer time of the events applied (a prefix's: time travel by writer time can
  // start from a snapshot only if no event up to it is later). INT64_MIN before any event.
  std::int64_t max_time_ms() const { return max_time_ms_; }

  // Applies `event`; requires event.hub == hub(), event.seq == last_seq() + 1 and, after the
  // first event, the same epoch. Errors: kInvalidArgument (hub, epoch, sequence) and
  // kCorruption (the event contradicts the state); either way nothing changed.
  // The rvalue form moves the rows out of `event` (replay's fast path).
  Status apply(Event&& event);
  Status apply(const Event& event);
  // The writer's form: `encoded` is the event's encoding and `rows` where events::encode put
  // its rows (events/codec.h), and the rows are kept as those bytes instead of being encoded a
  // second time. kInvalidArgument also if `rows` does not have one place per row of the event.
  Status apply(Event&& event, std::string_view encoded, std::span<const events::EntryPartsAt> rows);
  // An insert event read from its bytes without decoding them (events/row_scan.h): the same
  // checks and the same state as apply() of the decoded event (replay's fast path).
  Status apply(const events::ScannedInsert& event);

  // The table named `name` (empty = the default table), or nullptr if no event wrote there.
  const Table* table(std::string_view name) const;
  // Names of the tables that hold rows, in name order.
  std::vector<std::string> table_names() const;
  // Every row of every table (for equality checks across replicas, replays, reopens).
  std::map<std::string, Dump> dump_all_tables() const;
  // Calls f(table_name, const Table&) for every table, in name order.
  template <typename F>
  void for_each_table(F&& f) const {
    for (const auto& [name, t] : tables_) f(name, *t);
  }

  // The chain heads the bus needs (docs/PROTOCOL.md): the seq of the last event of each table
  // (Table::last_seq) and of the last event that fired hook events of each kind (0: none).
  std::uint64_t hook_head(HookTopic kind) const {
    return kind == HookTopic::kChildRegistered ? registered_head_ : unregistered_head_;
  }

  // Replaces the whole state by a snapshot's: the rows of each table (as a replica receives
  // them from the replay service), at sequence `seq` of log `epoch`. The caller streams rows
  // in with load_row() after reset_to(). Chain heads are unknown in a snapshot and read 0.
  void reset_to(std::uint64_t epoch, std::uint64_t seq);
  // Exchanges the whole state with `other` (of the same hub and local node): a state built
  // aside, unseen by readers, goes live in O(1), and the old one can be freed outside a lock.
  void swap(Projection& other) noexcept;
  void load_row(const std::string& table, const Row& row, std::uint64_t revision);
  // The same from a row's scanned bytes (events/row_scan.h): no decode, no second encoding.
  void load_row(std::string_view table, const events::ScannedRow& row, std::uint64_t revision);
  // Makes room in `table` for `rows` rows about to be loaded.
  void reserve_rows(std::string_view table, std::size_t rows);
  // Gives back what reserve_rows reserved beyond the rows loaded (RowSet::shrink_to_fit).
  void shrink_tables();
  // What a snapshot file records besides the rows (a writer restarting from it publishes the
  // same chains as before): a table's last_seq (creating the table), the hook heads and the
  // latest writer time.
  void restore_table_head(const std::string& table, std::uint64_t last_seq);
  void restore_heads(std::uint64_t registered_head, std::uint64_t unregistered_head,
                     std::int64_t max_time_ms);

 private:
  Table& table_for_write(std::string_view name);
  // The checks of every event's envelope (apply's kInvalidArgument errors).
  Status check_envelope(std::string_view hub, std::uint64_t seq, std::uint64_t epoch,
                        std::string_view table) const;
  // What every event does last: the table's and the projection's positions and times.
  void advance(Table& table, std::uint64_t seq, std::uint64_t epoch, std::int64_t time_ms);
  // apply() with the rows' bytes, or without them (`rows` null).
  Status apply_event(Event&& event, std::string_view encoded,
                     const std::span<const events::EntryPartsAt>* rows);
  Status check_bulk_delete(const Table* table, const events::BulkDelete& body) const;

  std::string hub_;
  std::string local_node_;
  std::uint64_t last_seq_ = 0;
  std::uint64_t epoch_ = 0;
  std::uint64_t registered_head_ = 0;
  std::uint64_t unregistered_head_ = 0;
  std::int64_t max_time_ms_ = INT64_MIN;
  std::map<std::string, std::unique_ptr<Table>, std::less<>> tables_;
  Table* default_table_ = nullptr;  // tables_[hub_], which always exists
};

}  // namespace procreg::replay
