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
// One writer per directory: open() holds an exclusive flock on the directory until close(), so
// a second Log on the same directory (in any process) fails with kUnavailable.
//
// Thread safety: append(), sync(), close(), last_seq() and segments() need external
// serialisation (the Registry's writer lock); durable_seq() and wait_durable() may be called
// from any thread concurrently with them; epoch(), hub() and recovery() never change after
// open(). LogReader instances are independent of the Log and of each other; each is used by one
// thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/options.h"
#include "procreg/status.h"

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

class Log {
 public:
  // Opens the log in `dir` (creating the directory and a new epoch if it holds no segment).
  // `hub` (1 to 65505 bytes) must match the hub recorded in existing segments (else
  // kInvalidArgument). Errors: kCorruption (see above), kUnsupported (a segment of a newer
  // format version), kUnavailable (another Log has the directory open), kIoError.
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

  // Appends the record (seq, payload). seq must be last_seq() + 1 and the payload non-empty
  // (else kInvalidArgument); a payload over max_record_bytes is kResourceExhausted. Nothing is
  // written in those cases. Rolls to a new segment first when the active one holds a record
  // and is at least segment_bytes long. On a write error (or, under kSyncEach, a sync error)
  // the partial record is cut off again, the log is poisoned and kIoError is returned. After
  // close(): kUnavailable.
  Status append(std::uint64_t seq, std::string_view payload);
  // Appends payloads[i] as record first_seq + i, for every i, with as few writes as the
  // segments allow: one write(2) (and under kSyncEach one fdatasync) for the records that go to
  // one segment, up to about 4 MiB per write. The checks of append() are made on every payload
  // before anything is written (an empty span is kInvalidArgument). Rolls where append() would. A
  // write or sync error cuts off the failing segment's part, poisons the log and returns kIoError;
  // records of the batch written to an earlier segment before a roll stay (last_seq() says where
  // the log ends), and the poisoned log accepts nothing more.
  Status append_many(std::uint64_t first_seq, std::span<const std::string_view> payloads);

  // Compaction, in three steps so that the slow part runs without the writer's lock:
  // compactable() names the segments whose every record is at or before `covered_seq` (a
  // snapshot holds their state), oldest first, never the active segment nor the newest one
  // holding a record (so the log keeps its epoch and last_seq); remove_segments() (below, no
  // lock) removes or archives those files; forget_oldest(n) then drops the n oldest from
  // segments(). compactable() and forget_oldest() need the same serialisation as append.
  std::vector<std::string> compactable(std::uint64_t covered_seq) const;
  void forget_oldest(std::size_t n);

  // fdatasync the active segment now (any policy); advances durable_seq().
  Status sync();
  // Highest sequence known durable under the policy.
  std::uint64_t durable_seq() const;
  // The syncs so far (none under kNone). Any thread.
  SyncStats sync_stats() const;
  // Blocks until durable_seq() >= seq (ok), the deadline passes (kTimeout), or the log fails or
  // is closed (its error / kUnavailable) before that. Under kNone and kSyncEach an appended
  // record is already durable, so this returns at once for it.
  Status wait_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline);

  // Syncs, stops the group-commit thread, closes files and releases the directory. Returns the
  // poison status of a failed log, or the final sync's error. Idempotent: a second call returns
  // the first one's result.
  Status close();

 private:
  struct Impl;
  explicit Log(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Removes the named segment files of the log in `dir`, in order, each removal made durable (the
// directory fsynced) before the next; with a non-empty `archive_dir` (created if missing, on the
// same file system) moves them there instead. Returns how many it removed before an error.
// Safe while the log's writer appends (it never touches the active segment) and while readers
// read (an open file outlives its name).
Result<std::size_t> remove_segments(const std::string& dir, const std::vector<std::string>& names,
                                    const std::string& archive_dir = "");

// One record as read back.
struct LogRecord {
  std::uint64_t seq = 0;
  std::string payload;
  std::string segment;       // file name it came from
  std::uint64_t offset = 0;  // byte offset of the record header in that file
};

// Reads a log directory in sequence order, without modifying it (safe on a live log: it stops
// at the last complete record it sees, and a later next() picks up records appended since,
// across segment rolls).
class LogReader {
 public:
  // Fails with kNotFound if `dir` holds no segment, kCompacted if the log's first record comes
  // after from_seq (that history was compacted away); kInvalidArgument if from_seq is 0. Payloads
  // over max_record_bytes are corruption, so pass the writer's limit if it is not the default.
  static Result<std::unique_ptr<LogReader>> open(
      const std::string& dir, std::uint64_t from_seq = 1,
      std::uint32_t max_record_bytes = LogOptions{}.max_record_bytes);
  ~LogReader();
  std::uint64_t epoch() const;
  const std::string& hub() const;

  // Reads the next record with seq >= from_seq into *out (its payload's capacity is reused).
  // Returns true for a record, false at the clean end of the log (including a torn tail, which
  // is reported by tail_bytes_ignored()), or an error: kCorruption with segment name, offset
  // and the last good sequence, kUnsupported, kIoError. After an error, every later call
  // returns it again.
  Result<bool> next(LogRecord* out);
  // The torn tail's size at the last clean end next() reported (0 if it ended on a record).
  std::uint64_t tail_bytes_ignored() const;

 private:
  struct Impl;
  explicit LogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg::replay
