// procreg::replay: the hub's durable, append-only event log.
//
// A log is a directory of segment files; each record holds one encoded event with its sequence
// number, CRC-32C-checked. The byte layout is in docs/LOG_FORMAT.md and log/log_format.h.
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
// covered; kNone treats written as durable. A failed fdatasync poisons the log: every later
// append returns the same io_error (the kernel may have dropped the pages, so the failure cannot
// be retried safely: reopening recovers from what the disk holds). A failed write(2) (a full
// disk) whose partial record was cut off again, before anything of the call reached the log,
// fails that call only: the log takes writes again once there is room (docs/LOG_FORMAT.md,
// "A full disk").
//
// One writer per directory: open() holds an exclusive flock on the directory until close(), so
// a second Log on the same directory (in any process) fails with kUnavailable.
//
// Thread safety: append(), sync(), close(), last_seq() and segments() need external
// serialisation (the Registry's writer lock); durable_seq() and wait_durable() may be called
// from any thread concurrently with them; epoch(), hub() and recovery() never change after
// open().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "log/log_types.h"
#include "procreg/options.h"
#include "procreg/status.h"

namespace procreg::replay {

class Log {
 public:
  // Opens the log in `dir` (creating the directory and a new epoch if it holds no segment).
  // `hub` (1 to 65485 bytes) must match the hub recorded in existing segments (else
  // kInvalidArgument); options.max_record_bytes must be 1 to 1 GiB. Every segment header
  // records the limit of the writer that created it, and recovery reads each segment with its
  // own (a segment of format version 1 with options.max_record_bytes). Each open is a new
  // incarnation that appends only to segments it created, whose headers record its term,
  // incarnation and limit: its first append rolls to a new segment, or, if the last segment
  // holds no record, replaces its header (written under "<name>.tmp" and renamed over it).
  // Opening changes nothing but a torn tail's cut.
  // Errors: kCorruption (see above), kUnsupported (a segment of a newer format version),
  // kConflict (options.term below the log's term: fenced), kUnavailable (another Log has the
  // directory open), kIoError.
  static Result<std::unique_ptr<Log>> open(const std::string& dir, const std::string& hub,
                                           const LogOptions& options);
  ~Log();  // close()
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  std::uint64_t epoch() const;
  // This writer's term, its incarnation (random, nonzero, new at each open), the first seq it
  // appends (last_seq() + 1 at open) and the incarnation of the record before that (0 if
  // none, or written before segments recorded incarnations). docs/LOG_FORMAT.md section 3.
  std::uint64_t term() const;
  std::uint64_t incarnation() const;
  std::uint64_t start_seq() const;
  std::uint64_t prev_incarnation() const;
  const std::string& hub() const;
  std::uint64_t last_seq() const;  // last appended
  const RecoveryReport& recovery() const;
  std::vector<SegmentInfo> segments() const;

  // Appends the record (seq, payload). seq must be last_seq() + 1 and the payload non-empty
  // (else kInvalidArgument); a payload over max_record_bytes is kResourceExhausted. Nothing is
  // written in those cases. Rolls to a new segment first when the active one holds a record
  // and is at least segment_bytes long. On a write error the partial record is cut off again
  // and kIoError is returned; the log is poisoned too unless the cut succeeded (a segment that
  // could not be created is removed again likewise). A sync error (kSyncEach, or the sync a
  // roll makes) poisons it. After close(): kUnavailable.
  Status append(std::uint64_t seq, std::string_view payload);
  // Appends payloads[i] as record first_seq + i, for every i, with as few writes as the
  // segments allow: one write(2) (and under kSyncEach one fdatasync) for the records that go to
  // one segment, up to about 4 MiB per write. The checks of append() are made on every payload
  // before anything is written (an empty span is kInvalidArgument). Rolls where append() would. A
  // write or sync error cuts off the failing segment's part and returns kIoError, refusing the
  // call only as append() does when nothing of it reached the log; otherwise it poisons the log:
  // records of the batch written to an earlier segment before a roll stay (last_seq() says where
  // the log ends), and the poisoned log accepts nothing more.
  // With `sync_follows` (kGroupCommit) the caller calls sync_if_idle() next: the syncer thread
  // is not woken for these records unless that finds it must sync them.
  Status append_many(std::uint64_t first_seq, std::span<const std::string_view> payloads,
                     bool sync_follows = false);

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
  // Under kGroupCommit with group_commit_interval 0: if the syncer thread is idle, fdatasyncs
  // what was written on this thread instead (true: all of it is durable); false if the syncer
  // has it, or under another policy, or on a sync error (the log is then failed).
  bool sync_if_idle();
  // sync_if_idle() in two steps: claim_inline_sync() takes the next sync from the syncer (true:
  // the syncer stays away from the records written so far until sync_claimed(), which the
  // caller must then call; false: the syncer has them, and is woken if idle); sync_claimed()
  // fdatasyncs them on this thread and ends the claim (false on a sync error: the log failed).
  bool claim_inline_sync();
  bool sync_claimed();
  // Calls `listener` (on the thread that made the change: the group-commit thread, or the
  // writer) whenever durable_seq() advances or the log fails. Set once, before the first
  // append; it must not call into the Log.
  void on_durable(std::function<void()> listener);
  // Highest sequence known durable under the policy (and, once gate_replication() was
  // called, replicated: see below).
  std::uint64_t durable_seq() const;
  // Synchronous replication. After gate_replication(), a record counts as durable (for
  // durable_seq(), wait_durable() and the listener) only once it is durable here and
  // replicated() was called with its seq or a later one; the gate starts at the durable
  // sequence. local_durable_seq() is what this disk holds, whatever the gate says (what a
  // standby may copy). Any thread.
  void gate_replication();
  void replicated(std::uint64_t seq);
  // Leadership (RegistryOptions::lease). After gate_permit(), durable_seq() advances only
  // while `held()` answers true when it is read: records written meanwhile stay undurable
  // until a read finds it true again. permit_changed() makes waiters and the listener look
  // again (after a renewal, or once the permit is lost for good).
  void gate_permit(std::function<bool()> held);
  void permit_changed();
  std::uint64_t local_durable_seq() const;
  // The last record written to the OS, durable or not (any thread; last_seq() is the writer's).
  std::uint64_t written_seq() const;
  // An eventfd made readable once after each arm_local_wake() when local_durable_seq()
  // advances or the log fails (DurabilityTracker::wake_fd): for one thread that waits in a
  // poll set. Arm, then read local_durable_seq(), then poll. Any thread.
  int local_wake_fd();
  void arm_local_wake();
  // The syncs so far (none under kNone). Any thread.
  SyncStats sync_stats() const;
  // The poison status (ok while the log takes writes), and the calls refused with the files
  // left as they were (a full disk). Any thread.
  Status failure() const;
  std::uint64_t write_failures() const;
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

}  // namespace procreg::replay
