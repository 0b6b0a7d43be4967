// procreg::replay: the Log's durability state: the highest durable sequence, the threads
// waiting for one, the poison status of a failed log and, under Durability::kGroupCommit, the
// background thread that fdatasyncs.
//
// Locking. One mutex guards all shared state. The syncer thread sleeps on a condition variable
// while every written record is durable (no work while idle); when woken it waits out the rest
// of group_commit_interval since its previous sync (records written meanwhile join this sync),
// then takes a snapshot under the mutex of (written_seq, active segment), releases the mutex,
// fdatasyncs that segment, and publishes the snapshot's sequence as durable. The writer never
// waits for a sync: it holds the mutex for a few instructions per append and only notifies
// the syncer when it is idle. Rolling is safe because the roll fdatasyncs the old segment
// before switch_segment() installs the new one (so every record outside the active segment is
// durable), and the syncer's shared_ptr keeps an old segment's descriptor open until its
// sync returns.
//
// Thread safety: the Log's writer (under the Log's external serialisation) calls start(),
// written(), synced(), switch_segment(), fail(), stop_syncer() and close(); failure(),
// durable_seq() and wait_durable() may be called from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "log/log_types.h"
#include "log/segment_writer.h"
#include "procreg/options.h"
#include "procreg/status.h"

namespace procreg::replay {

class DurabilityTracker {
 public:
  // `durable_seq`: the last sequence already on disk; `active`: the segment appends go to.
  DurabilityTracker(Durability policy, std::chrono::milliseconds interval,
                    std::uint64_t durable_seq, std::shared_ptr<const SegmentWriter> active);
  ~DurabilityTracker();  // stop_syncer()
  DurabilityTracker(const DurabilityTracker&) = delete;
  DurabilityTracker& operator=(const DurabilityTracker&) = delete;

  // Starts the syncer thread under kGroupCommit; does nothing under the other policies.
  Status start();
  // Called (outside the lock, on the thread that made the change) whenever durable_seq()
  // advances or the log fails; set once, before the first append.
  void set_listener(std::function<void()> listener);
  // A second, level-triggered way to learn of progress, for a thread that waits on a poll set
  // (the replay service holding standbys' requests): an eventfd, created on the first call and
  // closed with the tracker, made readable once after each arm_wake() when records are written
  // or the durable point on this disk advances, or the log fails. Arm first, then read
  // local_durable_seq(): an advance after the read cannot be missed. Any thread; one consumer.
  int wake_fd();
  void arm_wake() { wake_armed_.store(true, std::memory_order_seq_cst); }

  // Records up to `seq` are written to the OS. Under kNone that makes them durable. With
  // `sync_follows` the writer calls claim_inline_sync() next, so the idle syncer is not woken
  // for them (a wake-up it would find nothing to do in, or a race the writer's sync would lose).
  void written(std::uint64_t seq, bool sync_follows = false);
  // The writer fdatasynced every record up to `seq` itself.
  void synced(std::uint64_t seq);
  // Under kGroupCommit with no interval: true if the syncer is not in a sync and records wait,
  // and then the syncer leaves them to the writer, which syncs them on its own thread and calls
  // synced() and end_inline_sync() (PostgreSQL's leader flush: one thread hand-off less per
  // sync, and the writer's queue fills behind it meanwhile). false: the syncer has them (it is
  // woken if it is idle).
  bool claim_inline_sync();
  void end_inline_sync();
  // The writer rolled to `next` after fdatasyncing every record up to `synced_seq`.
  void switch_segment(std::shared_ptr<const SegmentWriter> next, std::uint64_t synced_seq);
  // Poisons the log; the first error wins and wakes every waiter.
  void fail(Status error);
  // The poison status, or ok.
  Status failure() const;
  // Stops and joins the syncer thread; records it had not synced yet stay undurable until the
  // writer syncs them. Idempotent.
  void stop_syncer();
  // From now on, waiters for a sequence that is not durable get kUnavailable.
  void close();

  // Synchronous replication (Log::gate_replication): from now on durable_seq() is at most
  // the replicated sequence, which starts at the durable one and only grows by replicated().
  void gate_replication();
  void replicated(std::uint64_t seq);
  // Leadership (Log::gate_permit).
  void gate_permit(std::function<bool()> held);
  void permit_changed();

  // The highest durable sequence: on this disk, and (with the gate) replicated as required.
  std::uint64_t durable_seq() const;
  // On this disk, whatever the gate says.
  std::uint64_t local_durable_seq() const;
  // Written to the OS (durable or not).
  std::uint64_t written_seq() const;
  // See Log::sync_stats().
  SyncStats sync_stats() const;
  // See Log::wait_durable().
  Status wait_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline);

 private:
  void run_syncer();
  void fail_locked(Status error);
  // The durable point readers see: on disk, replicated (with that gate), and reached while
  // the permit was held (with that gate: checked here, when a reader looks).
  std::uint64_t effective_locked() const {
    const std::uint64_t e =
        gated_ && replicated_seq_ < durable_seq_ ? replicated_seq_ : durable_seq_;
    if (!permit_) return e;
    if (e > permitted_seq_ && permit_()) permitted_seq_ = e;
    return std::min(e, permitted_seq_);
  }
  void notify_listener() const {
    wake();
    if (listener_) listener_();
  }
  void wake() const;

  const Durability policy_;
  const std::chrono::milliseconds interval_;

  mutable std::mutex mu_;
  std::condition_variable syncer_cv_;   // wakes the syncer: work to do, or stop
  std::condition_variable durable_cv_;  // wakes waiters: durable_seq_, failure_ or closed_ changed
  std::uint64_t written_seq_;
  std::uint64_t durable_seq_;
  std::shared_ptr<const SegmentWriter> active_;
  Status failure_;
  bool closed_ = false;
  SyncStats stats_;
  bool stop_ = false;
  bool syncer_idle_ = false;  // the syncer waits for work; written() must notify it
  bool inline_sync_ = false;  // the writer syncs the records written (claim_inline_sync)
  bool syncing_ = false;      // the syncer is in a sync
  bool gated_ = false;        // gate_replication() was called
  std::uint64_t replicated_seq_ = 0;
  std::function<bool()> permit_;             // gate_permit(); set once, before the first append
  mutable std::uint64_t permitted_seq_ = 0;  // the durable point last seen with the permit held

  std::function<void()> listener_;  // set before the first append, then read only
  std::atomic<int> wake_fd_{-1};    // wake_fd(): created once, under mu_
  mutable std::atomic<bool> wake_armed_{false};
  std::thread syncer_;  // kGroupCommit only; started and joined by the writer
};

}  // namespace procreg::replay
