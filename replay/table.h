// procreg::replay: one registry table (a stream of rows keyed by child id) and its indexes.
//
// Rows live in node-based storage, so a row's address is stable until it is removed; the
// indexes hold pointers to rows and each row knows its position in them, which makes every
// index update O(1):
//   - by tag: permanent rows whose metadata "tag" is a string (what match_tag reads);
//   - TTL rows: rows with an expiry (what the janitor scans);
//   - local: rows whose node_pids contain the local node (the local_* queries).
// A row is in the tag index or the TTL index, never both, so one position field serves both.
//
// Thread safety: none; the Projection's owner synchronises (one writer, or readers only).
#pragma once

#include <cstdint>
#include <climits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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

class Table {
 public:
  explicit Table(std::string local_node) : local_node_(std::move(local_node)) {}
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  const StoredRow* find(std::string_view id) const;
  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }

  // Inserts or replaces the row keyed by entry.spec.id.
  void put(Entry entry, std::optional<std::int64_t> expires_at_ms, std::uint64_t seq);
  // Changes node_pids and expiry of an existing row, keeping spec and metadata.
  void set_nodes(const StoredRow& row, NodePids node_pids,
                 std::optional<std::int64_t> expires_at_ms, std::uint64_t seq);
  bool remove(std::string_view id);
  void clear();

  template <typename F>
  void for_each(F&& f) const {
    for (const auto& row : rows_) f(row);
  }
  // Permanent rows tagged `tag` (a string tag); empty if none.
  const std::vector<const StoredRow*>& tagged(std::string_view tag) const;
  const std::vector<const StoredRow*>& local_rows() const { return local_; }
  const std::vector<const StoredRow*>& ttl_rows() const { return ttl_; }

 private:
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
    std::size_t operator()(const StoredRow& r) const { return (*this)(std::string_view(r.id())); }
  };
  struct IdEq {
    using is_transparent = void;
    static std::string_view key(std::string_view s) { return s; }
    static std::string_view key(const StoredRow& r) { return r.id(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const { return key(a) == key(b); }
  };
  using Index = std::vector<const StoredRow*>;

  static const std::string* tag_of(const StoredRow& row);
  bool is_local(const StoredRow& row) const;
  void link(const StoredRow& row);
  void unlink(const StoredRow& row);
  static void index_add(Index& index, const StoredRow& row, std::uint32_t StoredRow::*pos);
  static void index_remove(Index& index, const StoredRow& row, std::uint32_t StoredRow::*pos);

  std::string local_node_;
  std::unordered_set<StoredRow, IdHash, IdEq> rows_;
  std::unordered_map<std::string, Index> by_tag_;
  Index ttl_;
  Index local_;
};

}  // namespace procreg::replay
