// procreg::replay: the hub's durable, append-only event log.
//
// A log is a directory of segment files; each record holds one encoded event with its sequence
// number, CRC-32C-checked. The byte layout is in docs/LOG_FORMAT.md and replay/log_format.h.
//
// Opening recovers: a torn tail (a last record cut short by a crash, or zero bytes after the
// last record) is truncated and described in recovery(); any other damage (a CRC mismatch on a
// complete record, a sequence gap, a missing segment, a bad header) is corruption: open()
// returns Code::kCorruption naming the file, the byte offset and the last good sequence, and
// nothing is truncated or skipped.
//
// Durability (LogOptions::durability): append() returns once the record is written to the OS.
// kSyncEach then fdatasyncs before append returns; kGroupCommit lets a background thread
// fdatasync at most every group_commit_interval, and wait_durable() blocks until the record is
// covered; kNone treats written as durable. A failed write or sync poisons the log: every later
// append returns the same io_error (a sync failure cannot be retried safely).
//
// Thread safety: append(), sync() and close() need external serialisation (the Registry's
// writer lock); durable_seq() and wait_durable() may be called from any thread concurrently
// with them. LogReader instances are independent of the Log and of each other.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/options.h"
#include "procreg/status.h"

namespace procreg::replay {

// What open() found and did.
struct RecoveryReport {
  bool created = false;                 // the directory held no log; a new epoch was made
  std::uint64_t last_seq = 0;           // last good sequence (0 = empty log)
  bool truncated_tail = false;          // a torn tail was cut off
  std::string tail_segment;             // which file (name only), if truncated_tail
  std::uint64_t tail_offset = 0;        // where the cut was made (bytes into that file)
  std::uint64_t tail_bytes_dropped = 0; // how many bytes were removed
  std::string to_string() const;
};

struct SegmentInfo {
  std::string name;            // file name inside the log directory
  std::uint64_t first_seq = 0; // sequence of its first record (the header says so)
  std::uint64_t last_seq = 0;  // 0 if it holds no record
  std::uint64_t bytes = 0;
};

class Log {
 public:
  // Opens the log in `dir` (creating the directory and a new epoch if it holds no segment).
  // `hub` must match the hub recorded in existing segments (else kInvalidArgument).
  static Result<std::unique_ptr<Log>> open(const std::string& dir, const std::string& hub,
                                           const LogOptions& options);
  ~Log();  // close()
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  std::uint64_t epoch() const;
  const std::string& hub() const;
  std::uint64_t last_seq() const;  // last appended
  const RecoveryReport& recovery() const;
  std::vector<SegmentInfo> segments() const;

  // Appends the record (seq, payload). seq must be last_seq() + 1 (else kInvalidArgument);
  // a payload over max_record_bytes is kResourceExhausted. Rolls to a new segment first when
  // the active one is past segment_bytes. On a write error the partial record is cut off
  // again, the log is poisoned and kIoError is returned.
  Status append(std::uint64_t seq, std::string_view payload);

  // fdatasync the active segment now (any policy); advances durable_seq().
  Status sync();
  // Highest sequence known durable under the policy.
  std::uint64_t durable_seq() const;
  // Blocks until durable_seq() >= seq, the deadline passes (kTimeout), or the log fails or is
  // closed (its error / kUnavailable). Returns at once under kNone and kSyncEach.
  Status wait_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline);

  // Syncs, stops the group-commit thread, closes files. Idempotent.
  Status close();

 private:
  struct Impl;
  explicit Log(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One record as read back.
struct LogRecord {
  std::uint64_t seq = 0;
  std::string payload;
  std::string segment;   // file name it came from
  std::uint64_t offset = 0;  // byte offset of the record header in that file
};

// Reads a log directory in sequence order, without modifying it (safe on a live log: it stops
// at the last complete record it sees).
class LogReader {
 public:
  // Fails with kNotFound if `dir` holds no segment.
  static Result<std::unique_ptr<LogReader>> open(const std::string& dir,
                                                 std::uint64_t from_seq = 1);
  ~LogReader();
  std::uint64_t epoch() const;
  const std::string& hub() const;

  // Reads the next record into *out. Returns true for a record, false at the clean end of the
  // log (including a torn tail, which is reported by tail_bytes_ignored()), or an error:
  // kCorruption with segment name, offset and the last good sequence.
  Result<bool> next(LogRecord* out);
  std::uint64_t tail_bytes_ignored() const;

 private:
  struct Impl;
  explicit LogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg::replay
