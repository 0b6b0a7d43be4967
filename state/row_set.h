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
  std::size_t capacity() const { return capacity_; }  // slots (0 or a power of two)

  StoredRow* find(std::string_view id) const;
  // Adds `row`, whose id must not be present; returns it.
  StoredRow* insert(std::unique_ptr<StoredRow> row);

  // Find-or-insert with one hash and one probe: locate() finds the slot of `id` (its row, or
  // the empty slot it would take), row_at() reads it, and insert_at() fills it with a row of
  // that id, which must be absent (growing first if the set is full, then probing again). A
  // place is valid until the set next changes.
  struct Place {
    std::size_t slot = 0;
    std::uint64_t hash = 0;
  };
  Place locate(std::string_view id) const {
    const std::uint64_t hash = hash_of(id);
    return {capacity_ == 0 ? 0 : probe(id, hash), hash};
  }
  StoredRow* row_at(Place place) const { return capacity_ == 0 ? nullptr : slots_[place.slot].row; }
  StoredRow* insert_at(Place place, std::unique_ptr<StoredRow> row);
  // Removes and destroys the row `id`; false if absent.
  bool erase(std::string_view id);
  void clear();
  // Makes room for `rows` rows without growing again (a snapshot's known row count).
  void reserve(std::size_t rows);
  // Gives back slots a reserve() beyond the rows present left unused: the capacity becomes
  // what inserting the rows one by one would have left.
  void shrink_to_fit();
  // The mean distance of a row from its home slot (0 when empty): a measure of clustering,
  // for tests and diagnostics. About 1.5 at most for a well-spread set at 3/4 load.
  double mean_probe_distance() const;

  // Page order (state/pages.h): rows by page_key(id), then by id. The key is the hash mixed with
  // this set's seed, whose top bits are a row's home slot, so the order is this set's own (and
  // survives growth): page_token() names it, and a set built anew has another.
  std::uint64_t page_key(std::string_view id) const { return mix(hash_of(id)); }
  std::uint64_t page_token() const { return seed_; }
  // Calls f(row, key) for the rows whose key is at least `from`: the slots from from's home to
  // the end (and the rows that wrapped past it to the start). After `budget` rows it stops at
  // the next empty slot i instead, sets *resume to the least key whose home is i and returns
  // false: every row with a key in [from, *resume) was visited. true: every row from `from` on.
  template <typename F>
  bool scan_from(std::uint64_t from, std::size_t budget, F&& f, std::uint64_t* resume) const {
    if (capacity_ == 0) return true;
    const auto start = static_cast<std::size_t>(from >> shift_);
    std::size_t visited = 0;
    for (std::size_t i = start; i < capacity_; ++i) {
      const Slot& s = slots_[i];
      if (s.row == nullptr) {
        if (visited >= budget) {
          *resume = static_cast<std::uint64_t>(i) << shift_;
          return false;
        }
        continue;
      }
      ++visited;
      const std::uint64_t key = mix(s.hash);
      if (key >= from) f(static_cast<const StoredRow&>(*s.row), key);
    }
    // The last cluster may wrap to the start: its rows there have the largest keys.
    for (std::size_t i = 0; i < start && slots_[i].row != nullptr; ++i) {
      const std::uint64_t key = mix(slots_[i].hash);
      if (key >= from) f(static_cast<const StoredRow&>(*slots_[i].row), key);
    }
    return true;
  }

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
  std::uint64_t mix(std::uint64_t hash) const { return (hash ^ seed_) * 0x9E3779B97F4A7C15ull; }
  std::size_t home(std::uint64_t hash) const {
    return static_cast<std::size_t>(mix(hash) >> shift_);
  }
  std::size_t probe(std::string_view id, std::uint64_t hash) const;  // its slot or an empty one
  void grow() { rehash(capacity_ == 0 ? kMinCapacity : capacity_ * 2); }
  void rehash(std::size_t capacity);
  static constexpr std::size_t kMinCapacity = 16;

  std::unique_ptr<Slot[]> slots_;
  std::size_t capacity_ = 0;  // 0 or a power of two
  int shift_ = 64;            // 64 - log2(capacity): home() takes the hash's top bits
  std::size_t size_ = 0;
  std::uint64_t seed_ = next_seed();
  static std::uint64_t next_seed();
};

}  // namespace procreg::replay
