#include "state/row_set.h"

#include <atomic>
#include <cassert>
#include <utility>

#include "log/crc32c.h"

namespace procreg::replay {

RowSet::~RowSet() { clear(); }

std::uint64_t RowSet::next_seed() {
  static std::atomic<std::uint64_t> counter{0x2545F4914F6CDD1Dull};
  // Successive seeds differ in every bit position (a multiplicative sequence).
  return counter.fetch_add(0xD1B54A32D192ED03ull) * 0xBF58476D1CE4E5B9ull;
}

std::uint64_t RowSet::hash_of(std::string_view id) {
  // CRC-32C is one instruction per 8 bytes; the multiply (Fibonacci hashing) spreads it over
  // the top bits that home() uses. The length goes in so ids that differ only by trailing NULs
  // still differ.
  const std::uint64_t crc = crc32c::value(id.data(), id.size());
  return ((crc << 32) ^ id.size() ^ crc) * 0x9E3779B97F4A7C15ull;
}

std::size_t RowSet::probe(std::string_view id, std::uint64_t hash) const {
  const std::size_t mask = capacity_ - 1;
  for (std::size_t i = home(hash);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.row == nullptr || (s.hash == hash && s.row->id() == id)) return i;
  }
}

StoredRow* RowSet::find(std::string_view id) const {
  if (size_ == 0) return nullptr;
  return slots_[probe(id, hash_of(id))].row;
}

StoredRow* RowSet::insert(std::unique_ptr<StoredRow> row) {
  const Place place = locate(row->id());
  return insert_at(place, std::move(row));
}

StoredRow* RowSet::insert_at(Place place, std::unique_ptr<StoredRow> row) {
  if ((size_ + 1) * 4 > capacity_ * 3) {
    grow();
    place.slot = probe(row->id(), place.hash);
  }
  Slot& s = slots_[place.slot];
  assert(s.row == nullptr && "RowSet::insert_at of an id already present");
  s = Slot{place.hash, row.release()};
  ++size_;
  return s.row;
}

bool RowSet::erase(std::string_view id) {
  if (size_ == 0) return false;
  const std::size_t mask = capacity_ - 1;
  std::size_t hole = probe(id, hash_of(id));
  if (slots_[hole].row == nullptr) return false;
  delete slots_[hole].row;
  --size_;
  // Backward shift: pull later members of the probe run into the hole when the hole lies
  // between their home and their slot, so every remaining row stays reachable from its home.
  for (std::size_t j = (hole + 1) & mask; slots_[j].row != nullptr; j = (j + 1) & mask) {
    const std::size_t h = home(slots_[j].hash);
    if (((j - h) & mask) >= ((j - hole) & mask)) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Slot{};
  return true;
}

void RowSet::clear() {
  for (std::size_t i = 0; i < capacity_; ++i) {
    delete slots_[i].row;
    slots_[i] = Slot{};
  }
  size_ = 0;
}

double RowSet::mean_probe_distance() const {
  if (size_ == 0) return 0;
  const std::size_t mask = capacity_ - 1;
  std::size_t total = 0;
  for (std::size_t i = 0; i < capacity_; ++i) {
    if (slots_[i].row != nullptr) total += (i - home(slots_[i].hash)) & mask;
  }
  return static_cast<double>(total) / static_cast<double>(size_);
}

void RowSet::reserve(std::size_t rows) {
  while (rows * 4 > capacity_ * 3) grow();
}

void RowSet::shrink_to_fit() {
  // The capacity growth one insert at a time leaves: the least that holds size_ rows at 3/4.
  std::size_t capacity = size_ == 0 ? 0 : kMinCapacity;
  while (size_ * 4 > capacity * 3) capacity *= 2;
  if (capacity < capacity_ && capacity != 0) rehash(capacity);
}

void RowSet::rehash(std::size_t capacity) {
  std::unique_ptr<Slot[]> old = std::exchange(slots_, std::make_unique<Slot[]>(capacity));
  const std::size_t old_capacity = std::exchange(capacity_, capacity);
  shift_ = 64 - __builtin_ctzll(capacity);
  const std::size_t mask = capacity - 1;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (old[i].row == nullptr) continue;
    std::size_t j = home(old[i].hash);
    while (slots_[j].row != nullptr) j = (j + 1) & mask;
    slots_[j] = old[i];
  }
}

}  // namespace procreg::replay
