// Test helper: a seeded generator of events and Values covering the encoding's corners
// (integer format boundaries, unicode and embedded NULs, str 8/16 lengths, empty containers,
// nested Values, every event kind, optional keys present and absent).
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "procreg/event.h"
#include "procreg/value.h"

namespace procreg::test {

class RandomEvents {
 public:
  explicit RandomEvents(std::uint64_t seed) : rng_(seed) {}

  Event event();
  // A Value with at most `depth` levels of containers.
  Value value(int depth);
  std::string string();
  // Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }
  bool one_in(std::uint64_t n) { return below(n) == 0; }
  Row row();

 private:
  std::int64_t integer();
  std::string non_empty_string();
  NodePids node_pids();
  Value::Map value_map(int depth);
  EventBody body();

  std::mt19937_64 rng_;
};

}  // namespace procreg::test
