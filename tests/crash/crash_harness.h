// The crash harness: crash_writer (tests/crash/writer/) started as a process on one log,
// killed with SIGKILL at a chosen moment, and the log checked after every kill:
//   - the log opens, as a writer (Registry::open) and read-only (Registry::open_replay), and
//     both hold the same state up to the same last sequence: the last complete record;
//   - the writer's recovery report describes the torn tail the reader saw, byte for byte, and
//     the file is cut there; a second open finds nothing to cut and the same state;
//   - every acknowledged write is there: its seq is in the log, the rows it reported are the
//     state at that seq (sampled, open_replay with upto_seq), and the state at the end agrees
//     with a model built from all acknowledgements (rows written by a call the kill
//     interrupted may hold either outcome, and the recovered one is carried on);
//   - with a replica (HubServer in the writer, Replica here), the replica never holds an
//     event the log lost, and converges to each restarted writer's state;
//   - with snapshots (the writer snapshotting in the background, and compacting), kills land
//     while snapshot files are written and segments removed: no snapshot's .tmp file survives
//     Registry::open, no snapshot is skipped (a kill cannot damage a renamed snapshot), and the
//     state opened from snapshots equals the state replayed from the log's first record
//     (open_replay with use_snapshots = false) while the log is not compacted; once it is, the
//     model above is what it is compared with.
// A failed check fails the test (BOOST_REQUIRE), so a soak run stops at the first violation.
//
// Thread safety: a harness belongs to its test's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include <zmq.hpp>

#include "procreg/replica.h"
#include "temp_dir.h"

namespace procreg::crash {

struct HarnessOptions {
  std::uint64_t seed = 1;  // the writers' workload; the kill moments come from the caller
  int threads = 2;         // writer threads
  std::uint64_t segment_bytes = 8192;
  bool replica = false;  // run a HubServer in the writer and a Replica in the test
  // The writer's snapshot policy (SnapshotOptions): every this many events (0: no snapshots),
  // keeping this many files, compacting the segments they cover.
  std::uint64_t snapshot_every_events = 0;
  std::uint64_t snapshot_keep = 2;
  bool compact = false;
};

// Totals over a harness's life, for progress lines and the end of a test.
struct HarnessTotals {
  std::uint64_t kills = 0;
  std::uint64_t kills_before_ready = 0;  // the writer was still opening its log
  std::uint64_t acks = 0;                // acknowledged writes checked
  std::uint64_t in_flight = 0;           // calls the kill interrupted
  std::uint64_t torn_tails = 0;          // torn tails found by a reader after a kill
  std::uint64_t simulated_tails = 0;     // of which the test appended
  std::uint64_t replica_checks = 0;      // restarts at which the replica was compared
  std::uint64_t snapshot_temps = 0;      // snapshot .tmp files a kill left (open removed them)
  std::uint64_t snapshot_opens = 0;      // checks where the writer opened from a snapshot
  std::uint64_t full_replay_checks = 0;  // snapshot state compared with a full replay
  std::uint64_t compacted_checks = 0;    // checks of a compacted log (against the model)
  std::uint64_t compacted_acks = 0;      // acks whose seq was compacted away (not sampled)
  std::uint64_t last_seq = 0;            // of the log after the last check
};

class CrashHarness {
 public:
  explicit CrashHarness(const HarnessOptions& options);
  ~CrashHarness();
  CrashHarness(const CrashHarness&) = delete;
  CrashHarness& operator=(const CrashHarness&) = delete;

  // Starts the writer on the log and SIGKILLs it `delay` after it is ready to write (after it
  // said "ready", or, with a replica, after the replica caught up with it and it was
  // released), or `delay` after exec when `before_ready`. Then checks the log (see above);
  // with `tear_tail`, first writes a torn record or zero bytes after the last segment's records
  // (over its zero fill), as a write cut short would leave them (only when the log's tail is
  // clean). With `after_acks`
  // (not with `before_ready`), the delay starts once the writer has acknowledged that many
  // writes, whatever the machine's speed: the log then surely grows by that much.
  void kill_once(std::chrono::milliseconds delay, bool before_ready, bool tear_tail,
                 std::uint64_t after_acks = 0);

  // Starts the writer once more, checks the replica against it if there is one, and stops it
  // with SIGTERM: it must exit cleanly.
  void restart_and_stop();

  const HarnessTotals& totals() const { return totals_; }
  std::string log_dir() const { return dir_.file("log"); }

 private:
  struct Run;
  std::unique_ptr<Run> start_writer(bool hold);
  void release_and_converge(Run& run);
  void check_log(const Run& run, std::uint64_t torn_bytes, const std::string& torn_segment);
  void check_acks(const Run& run, std::uint64_t last_seq,
                  const std::map<std::string, std::string>& rows, std::uint64_t first_seq);
  void tear_tail(const std::string& segment, std::uint64_t records_end);

  HarnessOptions options_;
  procreg::testing::TempDir dir_;
  std::mt19937_64 rng_;
  int runs_ = 0;
  // The model: every row's expected line (crash_lines.h), from the acknowledgements.
  std::map<std::string, std::string> expected_;
  zmq::context_t context_;
  std::unique_ptr<Replica> replica_;
  HarnessTotals totals_;
};

}  // namespace procreg::crash
