// procreg::replay: rebuilding a projection from a log directory's newest usable snapshot and the
// log after it (what opening a writer, a replay as of a seq or a time, and the background
// snapshotter all do).
//
// Snapshots are tried newest first. One is skipped, with the reason recorded, when it is past
// the point asked for (upto_seq, or a writer time later than upto_time_ms), ahead of the log's
// last record, of another epoch than the log, when the log no longer holds the events right
// after it, or when it fails any check (a damaged file falls back to an older snapshot, or to
// the full log). Without a usable snapshot the whole log is replayed; if the log's first
// segments are gone too, that is kCompacted naming every snapshot skipped and why.
//
// Thread safety: the projection must not be shared meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "procreg/options.h"
#include "procreg/status.h"
#include "replay/snapshot.h"
#include "state/projection.h"

namespace procreg::replay {

struct RestoreOptions {
  std::uint64_t upto_seq = 0;  // 0 = to the end of the log
  std::optional<std::int64_t> upto_time_ms;
  // The record limit of log segments of format version 1, which do not record it (a version 2
  // segment is read with its header's; snapshots need none).
  std::uint32_t v1_max_record_bytes = LogOptions{}.max_record_bytes;
  bool use_snapshots = true;
  std::function<void(const std::string& segment, std::uint64_t offset, std::uint64_t seq)>
      progress = nullptr;  // replay_log's (ReplayProgressFn: by events and bytes)
};

struct RestoreReport {
  std::optional<SnapshotFile> snapshot;  // the one the projection started from
  std::vector<std::string> skipped;      // "<file>: <why>" for each newer one not used
  std::uint64_t events_replayed = 0;
  // One line for people: "" when no snapshot exists and the full log was replayed.
  std::string to_string() const;
};

// `projection` must be empty (seq 0). On error it holds whatever was applied before the error.
Result<RestoreReport> restore(const std::string& dir, Projection* projection,
                              const RestoreOptions& options);

}  // namespace procreg::replay
