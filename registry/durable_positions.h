// procreg::replay: the positions of durable hook subscribers, which compaction respects
// (docs/LOG_FORMAT.md 12.4, docs/PROTOCOL.md "Durable hook subscribers").
//
// A durable subscriber has a name and reports the seq up to which it has handled every event
// (its position). Compaction then keeps the segments holding the events after the lowest
// position, unless that position is more than SnapshotOptions::durable_max_events behind the
// head: such a subscriber is cut off (counted; its position stays, so that it learns at its next
// start that the events after it are gone, but it holds nothing back until it reports a new
// position), so that one stalled subscriber cannot hold the disk for ever.
//
// The positions live in the log directory's file `durable-positions`, one line per name,
// "SEQ NAME\n" (" cut" before the newline for a name cut off), replaced atomically (write a
// temporary file, fsync, rename, fsync the directory) at most once a second, and when the registry
// closes. A crash can lose the last second of reports: a position read back is then older than the
// one reported, which keeps more of the log, never less.
//
// Thread safety: every method from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "procreg/status.h"

namespace procreg::replay {

inline constexpr std::string_view kDurablePositionsFile = "durable-positions";
inline constexpr std::size_t kMaxDurableNameBytes = 128;
inline constexpr std::size_t kMaxDurableNames = 1024;

// A name is 1 to 128 bytes of [A-Za-z0-9._-]: kInvalidArgument otherwise, saying so.
Status check_durable_name(std::string_view name);

class DurablePositions {
 public:
  // Reads `dir`'s file (none: no names). kCorruption for a line that is not "SEQ NAME".
  static Result<std::unique_ptr<DurablePositions>> open(const std::string& dir);

  // Records `name` at `seq`, adding the name (at most kMaxDurableNames: kResourceExhausted).
  // Persists when the last write is a second old or more.
  Status set(std::string_view name, std::uint64_t seq);
  // The position of `name`, or 0 when it is unknown.
  std::uint64_t get(std::string_view name) const;
  std::map<std::string, std::uint64_t, std::less<>> all() const;
  std::size_t size() const;  // names held, cut off ones too
  // How far behind `head` the furthest name not cut off is (0: none).
  std::uint64_t max_lag(std::uint64_t head) const;

  // The lowest position compaction must keep after (every event after it stays), given the
  // head and the bound: names more than max_behind behind the head are cut off first. UINT64_MAX
  // when no name holds anything back.
  std::uint64_t floor(std::uint64_t head, std::uint64_t max_behind);
  std::uint64_t cut_off() const;  // names cut off so far

  // Writes the file now if anything changed since it was written.
  Status flush();

 private:
  explicit DurablePositions(std::string dir) : dir_(std::move(dir)) {}
  Status write_locked();  // REQUIRES: mu_

  const std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t, std::less<>> positions_;
  std::set<std::string, std::less<>> cut_;  // names cut off
  bool dirty_ = false;
  std::chrono::steady_clock::time_point written_{};
  std::uint64_t cut_off_ = 0;
};

}  // namespace procreg::replay
