// procreg::replay: one registry table (a stream of rows keyed by child id) and its indexes.
//
// Rows live in a RowSet, where a row's address is stable until it is removed; the indexes
// hold pointers to rows and each row knows its position in them, which makes every index
// update O(1):
//   - by tag: permanent rows whose metadata "tag" is a string (what match_tag reads);
//   - TTL rows: rows with an expiry (what the janitor scans);
//   - local: rows whose node_pids contain the local node (the local_* queries).
// A row is in the tag index or the TTL index, never both, so one position field serves both.
//
// Thread safety: none; the Projection's owner synchronises (one writer, or readers only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "procreg/types.h"
#include "state/row_set.h"
#include "state/table_row.h"

namespace procreg::replay {

class Table {
 public:
  explicit Table(std::string local_node) : local_node_(std::move(local_node)) {}
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  const StoredRow* find(std::string_view id) const;
  std::size_t size() const { return rows_.size(); }
  // The seq of the last event applied to this table (0: none since the projection began).
  std::uint64_t last_seq() const { return last_seq_; }
  void set_last_seq(std::uint64_t seq) { last_seq_ = seq; }
  bool empty() const { return rows_.empty(); }

  // Inserts or replaces the row keyed by entry.spec.id.
  void put(const Entry& entry, std::optional<std::int64_t> expires_at_ms, std::uint64_t seq);
  // The same with a row already built (from a scanned row's bytes).
  void put(StoredRow&& row);
  // The same from a scanned row's bytes. A new row is allocated before its body, as put(Entry)
  // does, so a lookup finds the id in the memory right after the row.
  void put(const events::ScannedRow& row, std::uint64_t seq);
  // Changes node_pids and expiry of the row `id`, keeping spec and metadata; false if absent.
  bool set_nodes(std::string_view id, const NodePids& node_pids,
                 std::optional<std::int64_t> expires_at_ms, std::uint64_t seq);
  bool remove(std::string_view id);
  void clear();
  void reserve(std::size_t rows) { rows_.reserve(rows); }
  void shrink_to_fit() { rows_.shrink_to_fit(); }

  template <typename F>
  void for_each(F&& f) const {
    rows_.for_each(std::forward<F>(f));
  }
  // The rows in page order (state/row_set.h, "Page order").
  const RowSet& rows() const { return rows_; }
  // Permanent rows tagged `tag` (a string tag); empty if none.
  const std::vector<const StoredRow*>& tagged(std::string_view tag) const;
  const std::vector<const StoredRow*>& local_rows() const { return local_; }
  const std::vector<const StoredRow*>& ttl_rows() const { return ttl_; }

 private:
  using Index = std::vector<const StoredRow*>;

  static std::optional<std::string_view> tag_of(const StoredRow& row);
  bool is_local(const NodePids& node_pids) const;
  void link(const StoredRow& row, bool local);
  void unlink(const StoredRow& row);
  static void index_add(Index& index, const StoredRow& row, std::uint32_t StoredRow::*pos);
  static void index_remove(Index& index, const StoredRow& row, std::uint32_t StoredRow::*pos);

  std::string local_node_;
  RowSet rows_;
  // Keyed by tag, with lookups by string_view (no copy of the tag per lookup).
  struct TagHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Index, TagHash, std::equal_to<>> by_tag_;
  Index ttl_;
  Index local_;
  std::uint64_t last_seq_ = 0;
};

}  // namespace procreg::replay
