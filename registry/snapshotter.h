// procreg::replay: a writer's snapshots and retention: Registry::snapshot, Registry::compact
// and the background thread that RegistryOptions::snapshots drives.
//
// A snapshot is built from files only: the newest usable snapshot plus the log up to the
// applied (hence durable) head, replayed into a projection of its own (replay/restore.h). The
// live projection is never locked for it, so writes and reads go on at full speed meanwhile;
// the price is the memory of a second projection while it runs. Compaction takes the writer's
// slot only to read and then update the list of segments; the files are removed without it.
//
// Locks: mu_ (one snapshot or compaction at a time) before the writer's slot; thread_mu_ and
// error_mu_ are leaves.
//
// Thread safety: every method may be called from any thread; start() and stop() from the
// thread that owns the Registry.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "log/log.h"
#include "procreg/registry.h"
#include "registry/applier.h"
#include "registry/durable_positions.h"
#include "registry/timed_lock.h"

namespace procreg::replay {

class Snapshotter {
 public:
  struct Stats {
    std::uint64_t written = 0, failures = 0, last_seq = 0, segments_compacted = 0;
    std::string last_error;
  };
  Snapshotter(const RegistryOptions& opts, const Clock& clock, Log& log, const Applier& applier,
              TimedLock& slot)
      : opts_(opts), clock_(clock), log_(log), applier_(applier), slot_(slot) {}
  ~Snapshotter() { stop(); }
  // The durable subscribers compaction keeps events for (null: none); before start().
  void set_durable(DurablePositions* durable) { durable_ = durable; }
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // At open: the registry was restored from the snapshot at `snapshot_seq` (0: none) and the
  // log holds `events_since` events after it, which count towards the policy.
  void opened(std::uint64_t snapshot_seq, std::uint64_t events_since);
  // Starts the policy thread if the options set a policy.
  void start();
  void stop();
  // Counts appended events towards the policy; wakes the thread when a snapshot is due.
  void note_appended(std::size_t events, std::size_t bytes);

  // Writes a snapshot at the applied seq (or names the one already there), then applies keep
  // and compact. One at a time.
  Result<SnapshotInfo> take();
  // Removes the segments the oldest kept snapshot covers. One at a time.
  Result<std::size_t> compact();
  Stats stats() const;

 private:
  Result<SnapshotInfo> write_or_find(std::uint64_t target);
  Status keep_newest();
  Result<std::size_t> compact_locked();  // REQUIRES: mu_
  void run();                            // the policy thread

  const RegistryOptions& opts_;
  const Clock& clock_;
  Log& log_;
  const Applier& applier_;
  TimedLock& slot_;

  DurablePositions* durable_ = nullptr;
  std::mutex mu_;  // one snapshot (or compaction) at a time
  std::thread thread_;
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;                                            // under thread_mu_
  bool due_ = false;                                             // under thread_mu_
  std::atomic<std::uint64_t> since_events_{0}, since_bytes_{0};  // appended since the last one
  std::atomic<std::uint64_t> written_{0}, failures_{0}, last_seq_{0}, segments_compacted_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;  // under error_mu_
};

}  // namespace procreg::replay
