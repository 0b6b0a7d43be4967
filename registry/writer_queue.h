// procreg::replay: a hub's writer (registry/writer.h): LevelDB's writer queue in front of the
// commit pipeline (registry/commit_pipeline.h), fed by synchronous calls and by submissions
// (Registry::submit), and a writer thread that finishes what callers do not wait for.
//
// Every call joins the queue. One thread at a time leads: it takes the calls at the queue's
// front as one group (up to Limits::max_group_writes writes; a call with user code or that
// quiesces goes alone), runs the group through the pipeline (one append and, under kSyncEach,
// one fdatasync for all), and repeats until its own call is committed; then it hands the lead
// to the next synchronous caller in the queue, or to the writer thread. A synchronous caller
// leads when nobody does; a call with user code is always led by its own caller (the function
// runs on the calling thread). Submissions are led by a synchronous leader or by the writer
// thread. A synchronous call whose deadline passes before a leader took it leaves the queue
// with nothing written; a submission past its deadline at the front completes with kTimeout,
// nothing written. Once taken, a call completes with its group.
//
// Under group commit a committed call whose events are not durable yet waits in the awaiting
// list: the writer thread, woken by the log's syncer, applies the durable events once and
// completes every call they cover (a synchronous caller is woken, a submission's completion
// runs on the writer thread). A synchronous caller on the writer thread itself (a completion
// that writes) waits for its durability point on its own.
//
// Flow control: at most Limits::max_queued_writes writes are accepted and not completed; a
// call beyond that is refused at once with kResourceExhausted, nothing written.
//
// Locks: mu_ guards the queue, the lead, the awaiting list and the completions; it is never
// held while committing, applying or running a completion. A caller's wake-up is its own
// mutex (signalled with mu_ held, so a caller that sees itself done may return at once), never
// mu_. The pipeline's slot and the applier's lock come after mu_; the log's
// durability lock after mu_ too.
//
// Thread safety: every method may be called from any thread; close() once, by ~Registry.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "log/log.h"
#include "registry/applier.h"
#include "registry/commit_pipeline.h"
#include "registry/replication.h"
#include "registry/writer.h"

namespace procreg::replay {

class WriterQueue final : public Writer {
 public:
  struct Limits {
    std::size_t max_group_writes = 1024;    // a leader takes calls up to this many writes
    std::size_t max_queued_writes = 65536;  // accepted and not completed, at most
  };
  struct Stats {
    std::uint64_t calls = 0, groups = 0, largest_group = 0, queued = 0;
  };

  // `replication` (may be null): a write is refused while it says the standbys are not in
  // sync (RegistryOptions::sync_standbys).
  WriterQueue(const Projection& proj, std::shared_mutex& proj_mu, CommitPipeline& pipeline,
              Applier& applier, Log& log, WriteCounters& counters, Limits limits,
              ReplicationTracker* replication = nullptr);
  ~WriterQueue() override;

  void commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                   Grouping grouping) override;
  void submit(std::vector<Op> ops, WriteDone done) override;
  // Refuses new submissions and the queued ones no leader took (kUnavailable, nothing
  // written), completes the others and joins the writer thread.
  void close() override;
  Stats stats() const;
  // The log made more events durable, or failed: wakes the writer thread. Any thread.
  void on_durable();

 private:
  struct Call;
  struct Submission;
  enum class Lead { kNone, kCaller, kWriter };
  using Wakes = std::vector<Call*>;

  // Flow control: reserves room for n writes, or says why not (under mu_).
  Status admit(std::size_t n);
  // Drives a synchronous call until its results are final (mu_ held on entry and exit).
  void drive(Call& me, std::unique_lock<std::mutex>& q);
  // Leaves the queue (nothing written) or the awaiting list (then waits for its durability
  // point on its own, up to its deadline).
  void leave(Call& me, std::unique_lock<std::mutex>& q);
  // Leads groups until `me` is committed, then hands the lead on.
  void lead(Call& me, std::unique_lock<std::mutex>& q);
  // Commits one group from the queue's front; false if the lead went to the front's caller.
  bool lead_group(Call* me, std::unique_lock<std::mutex>& q, Wakes& wakes);
  void commit_group(std::span<Call* const> group) noexcept;
  void finish_group(std::size_t members, Wakes& wakes);
  // Passes the lead to the first synchronous caller queued, else to nobody (the writer
  // thread takes it if calls remain).
  void release_lead(Wakes& wakes);
  void complete(Call* c, Wakes& wakes);
  // Signals the callers in `wakes`, with mu_ (held by q) still held; `self`, the caller
  // raising, only if it is not done.
  void raise(Wakes& wakes, std::unique_lock<std::mutex>& q, const Call* self = nullptr);
  // Completes the awaiting calls the log's durable events (or its failure) settle.
  void settle_awaiting(std::unique_lock<std::mutex>& q);
  void run_completions(std::unique_lock<std::mutex>& q);
  bool start_thread();
  void poke_writer();
  void run();
  bool on_writer_thread() const;

  CommitPipeline& pipeline_;
  Applier& applier_;
  Log& log_;
  WriteCounters& counters_;
  const Limits limits_;
  ReplicationTracker* const replication_;

  mutable std::mutex mu_;
  std::deque<Call*> queue_;      // the front's calls may be in the group being committed
  std::size_t sync_queued_ = 0;  // synchronous calls in queue_ in state kQueued
  Lead lead_ = Lead::kNone;
  std::list<Call*> awaiting_;             // committed, waiting for their durability point
  std::vector<Submission*> completions_;  // submissions whose completion is due
  std::size_t accepted_writes_ = 0;       // flow control
  bool durable_dirty_ = false;            // awaiting calls may be settled
  bool closing_ = false;
  bool writer_sleeping_ = false;
  bool thread_failed_ = false;
  // The earliest deadline of an awaiting submission.
  std::chrono::steady_clock::time_point awaiting_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::uint64_t calls_ = 0, groups_ = 0, largest_group_ = 0;
  std::condition_variable writer_cv_;
  std::thread thread_;

  // The leader's (one leader at a time): its group, reserved for the largest so that building
  // it under mu_ never allocates; the group's writes flattened, where their results go and
  // each one's bound.
  std::vector<Call*> leader_group_;
  std::vector<Write> group_writes_;
  std::vector<Result<std::uint64_t>*> group_out_;
  std::vector<CommitPipeline::Bound> group_bounds_;
};

}  // namespace procreg::replay
