// procreg::replay: the small value types of the log, shared by the writer (log/log.h), the
// reader (log/log_reader.h), recovery and the durability tracker.
#pragma once

#include <cstdint>
#include <string>

namespace procreg::replay {

// What open() found and did.
struct RecoveryReport {
  bool created = false;                  // the directory held no log; a new epoch was made
  std::uint64_t last_seq = 0;            // last good sequence (0 = empty log)
  bool truncated_tail = false;           // a torn tail was cut off
  bool removed_tail_segment = false;     // ... and it was a whole last segment with a torn header
  std::string tail_segment;              // which file (name only), if truncated_tail
  std::uint64_t tail_offset = 0;         // where the cut was made (bytes into that file)
  std::uint64_t tail_bytes_dropped = 0;  // how many bytes were removed
  // The last segment's zero fill (docs/LOG_FORMAT.md section 7.3), cut off: nothing lost. A
  // writer that stopped without closing the log leaves it.
  std::string zero_fill_segment;
  std::uint64_t zero_fill_bytes_cut = 0;
  std::string to_string() const;
};

// The syncs that made records durable (kGroupCommit's groups; kSyncEach's one record each).
struct SyncStats {
  std::uint64_t syncs = 0;          // fdatasyncs that made at least one record durable
  std::uint64_t records = 0;        // records they made durable
  std::uint64_t largest_group = 0;  // the most records one sync covered
  void note(std::uint64_t group) {
    ++syncs;
    records += group;
    if (group > largest_group) largest_group = group;
  }
};

struct SegmentInfo {
  std::string name;             // file name inside the log directory
  std::uint64_t first_seq = 0;  // sequence of its first record (the header says so)
  std::uint64_t last_seq = 0;   // 0 if it holds no record
  std::uint64_t bytes = 0;
};

// One record as read back.
struct LogRecord {
  std::uint64_t seq = 0;
  std::string payload;
  std::string segment;       // file name it came from
  std::uint64_t offset = 0;  // byte offset of the record header in that file
};

}  // namespace procreg::replay
