// procreg: Standby, a durable copy of a hub's log on another disk, byte for byte.
//
// A standby asks the writer's replay service which files its log directory holds (segments
// and snapshot files) and copies the bytes it lacks, in chunks (docs/PROTOCOL.md, "Copying
// the log"). A segment is copied up to the writer's head, so only committed (durable) records
// reach the copy. Every chunk is checked by the log format's rules (docs/LOG_FORMAT.md,
// section 7: CRC, framing, sequence, the header against the log) before it counts; bytes that
// fail them are cut off again and fetched anew, and counted. Each file is fdatasynced once its
// new bytes are checked; a snapshot file is written aside, checked whole, synced and renamed
// into place. Segments and snapshot files the writer removed (compaction) are removed from the
// copy. The copy is therefore a log directory a writer can open (docs/LOG_FORMAT.md), the same
// bytes as the writer's up to copied_seq().
//
// On start the copy is checked as the writer's recovery would check it: a torn tail (a copy
// cut off by a crash) or damage is cut off at the last good record, later segments are removed,
// and what is missing is fetched again (stats().repairs). A copy that holds what the writer
// does not (a different epoch, or more bytes of a segment than the writer has: a writer
// restarted on a shorter history) is never changed: the standby stops copying and status()
// says why.
//
// Each listing request carries the standby's name and the highest seq its copy holds on disk:
// a writer with synchronous replication (RegistryOptions::sync_standbys) acknowledges a write
// only once enough standbys said so. Once caught up, the standby's request waits at the writer
// (up to poll_interval) until the writer's disk holds more, so a record is copied within a
// round trip of being durable there.
//
// Thread safety: every accessor from any thread; the standby's own thread copies. start() and
// stop() from one thread. The zmq::context_t must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "procreg/security.h"
#include "procreg/status.h"

namespace procreg {

struct StandbyOptions {
  std::string hub;
  // The copy: created (mkdir -p) if missing. One standby or writer per directory (flock).
  std::string dir;
  std::string replay_endpoint;  // the writer's replay service
  // The name the writer knows this standby by: each listing request carries it with the
  // highest seq the copy holds on disk, the standby's acknowledgement (synchronous
  // replication, RegistryOptions::sync_standbys). "" = the host name, ':' and `dir`.
  std::string name;
  // Once the copy holds everything, a listing request waits at the writer up to this long for
  // new records (a long poll: the writer answers as soon as its disk holds more), at most
  // half of request_timeout.
  std::chrono::milliseconds poll_interval{500};
  // A request unanswered for this long fails the round; the standby tries again.
  std::chrono::milliseconds request_timeout{2'000};
  std::uint32_t chunk_bytes = 1u << 20;  // bytes per file request, 1 .. 16 MiB
  // CURVE: the replay socket is a client of curve.server_key (a key of the reader role).
  CurveOptions curve;
};

struct StandbyStats {
  std::uint64_t rounds = 0;           // listings of the writer's files that were answered
  std::uint64_t bytes_copied = 0;     // checked and synced
  std::uint64_t files_completed = 0;  // sealed segments and snapshot files copied whole
  std::uint64_t files_removed = 0;    // gone from the writer (compaction), removed here too
  std::uint64_t chunks_refused = 0;   // bytes that failed the checks: cut off, fetched again
  std::uint64_t repairs = 0;          // torn or damaged files found in the copy at start
  // Records copied ahead of the writer's disk that a restarted writer no longer had: cut off
  // (docs/PROTOCOL.md, "Copying ahead"). Counted once per restart.
  std::uint64_t unsynced_cut = 0;
  std::uint64_t request_failures = 0;  // requests that failed or timed out
  std::uint64_t epoch = 0;             // the log's (0 before the first listing)
  // The highest writer term the copy holds or a writer said (docs/PROTOCOL.md, "Terms and
  // histories"): a writer promoted from this copy takes term + 1.
  std::uint64_t term = 0;
  std::uint64_t copied_seq = 0;  // the copy holds every record up to it, synced
  // The term of the writer that wrote record copied_seq (0: none, or a log format before terms).
  // Of two copies of one log, the more complete is the one of the higher last_term, then of the
  // higher copied_seq: a copy of an older term's tail may hold more seqs and still lack the
  // writes a newer term acknowledged.
  std::uint64_t last_term = 0;
  std::uint64_t head = 0;        // the writer's head at the last listing
  std::uint64_t lag_events = 0;  // head - copied_seq
  std::uint64_t lag_bytes = 0;   // bytes of the last listing the copy lacked
  // Since the writer last answered a listing (-1: never). A live writer answers at least
  // every poll_interval (its long poll), so a much longer silence says it is gone.
  std::int64_t since_answer_ms = -1;
};

class Standby {
 public:
  // Checks the copy (see above), then starts copying in the background. Errors:
  // kInvalidArgument (missing hub, dir or endpoint; chunk_bytes out of range), kUnavailable
  // (the directory is held by another standby or writer, or the endpoint is malformed),
  // kIoError, kUnsupported (the copy holds a segment of a newer format).
  static Result<std::unique_ptr<Standby>> start(zmq::context_t& context,
                                                const StandbyOptions& options);
  ~Standby();  // stop()
  Standby(const Standby&) = delete;
  Standby& operator=(const Standby&) = delete;

  std::uint64_t copied_seq() const;
  // Blocks until copied_seq() >= seq (ok), the standby stopped copying (its reason), or
  // `timeout` passes (kTimeout).
  Status wait_for(std::uint64_t seq, std::chrono::milliseconds timeout) const;
  // ok while copying; kConflict once the copy and the writer's log disagree (the copy is kept
  // as it is, and nothing more is copied).
  Status status() const;
  StandbyStats stats() const;
  // Stops copying and releases the directory, which stays a valid log directory (a writer
  // may open it). Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Standby(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
