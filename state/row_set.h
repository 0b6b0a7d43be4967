// procreg::replay: RowSet, the rows of one table keyed by child id.
//
// An open-addressing hash set of row pointers: linear probing over a power-of-two array of
// {hash, row} slots, at most 3/4 full, with backward-shift deletion (no tombstones). Each row is
// its own allocation, so a row never moves while it exists and the table's indexes may point
// at it. A successful lookup costs three memory reads — the slot, the row, the id's bytes —
// where std::unordered_set costs four (bucket, previous node, node, id): on a large registry,
// where each read misses the cache, that is the difference that matters (docs/PERFORMANCE.md).
// Hand-written because no Debian-packaged library offers this layout without a fourth read.
//
// Thread safety: none; the owner synchronises.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "state/table_row.h"

namespace procreg::replay {

class RowSet {
 public:
  RowSet() = default;
  ~RowSet();
  RowSet(const RowSet&) = delete;
  RowSet& operator=(const RowSet&) = delete;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  StoredRow* find(std::string_view id) const;
  // Adds `row`, whose id must not be present; returns it.
  StoredRow* insert(std::unique_ptr<StoredRow> row);
  // Removes and destroys the row `id`; false if absent.
  bool erase(std::string_view id);
  void clear();
  // Makes room for `rows` rows without growing again (a snapshot's known row count).
  void reserve(std::size_t rows);
  // The mean distance of a row from its home slot (0 when empty): a measure of clustering,
  // for tests and diagnostics. About 1.5 at most for a well-spread set at 3/4 load.
  double mean_probe_distance() const;

  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].row != nullptr) f(static_cast<const StoredRow&>(*slots_[i].row));
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    StoredRow* row = nullptr;  // nullptr: empty
  };
  static std::uint64_t hash_of(std::string_view id);
  // The hash's top bits after mixing in this set's seed: two sets place the same ids in
  // unrelated orders. Without it, filling a set in another set's slot order (a snapshot loaded
  // row by row) gives every early row nearly the same home: one cluster, quadratic probing.
  std::size_t home(std::uint64_t hash) const {
    return static_cast<std::size_t>(((hash ^ seed_) * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::size_t probe(std::string_view id, std::uint64_t hash) const;  // its slot or an empty one
  void grow();

  std::unique_ptr<Slot[]> slots_;
  std::size_t capacity_ = 0;  // 0 or a power of two
  int shift_ = 64;            // 64 - log2(capacity): home() takes the hash's top bits
  std::size_t size_ = 0;
  std::uint64_t seed_ = next_seed();
  static std::uint64_t next_seed();
};

}  // namespace procreg::replay
