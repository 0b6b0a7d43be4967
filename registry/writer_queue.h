// procreg::replay: a hub's writer (registry/writer.h): LevelDB's writer queue in front of the
// commit pipeline (registry/commit_pipeline.h).
//
// Every call joins the queue; the call at its front (the leader) takes the calls queued behind
// it as one group (up to kMaxGroupWrites writes; a call with user code or that quiesces goes
// alone), runs the group through the pipeline (one append and, under kSyncEach, one fdatasync
// for all), then hands the front to the next call. A call whose deadline passes before a
// leader took it leaves the queue with nothing written; once taken, it completes with its
// group. Each call then waits for the durability point of its own writes (group commit).
//
// Locks: mu_ guards the queue and is never held while committing; the pipeline's slot comes
// after it.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <vector>

#include "registry/applier.h"
#include "registry/commit_pipeline.h"
#include "registry/writer.h"

namespace procreg::replay {

class WriterQueue final : public Writer {
 public:
  static constexpr std::size_t kMaxGroupWrites = 1024;  // a leader takes calls up to this
  struct Stats {
    std::uint64_t calls = 0, groups = 0, largest_group = 0, queued = 0;
  };

  WriterQueue(const Projection& proj, std::shared_mutex& proj_mu, CommitPipeline& pipeline,
              Applier& applier, WriteCounters& counters);

  void commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                   Grouping grouping) override;
  Stats stats() const;

 private:
  struct Queued {
    std::span<const Write> writes;
    std::span<Result<std::uint64_t>> out;
    Grouping grouping;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds timeout;  // for messages
    bool taken = false;                 // in a leader's group (under mu_)
    bool done = false;                  // its results are set (under mu_)
    std::condition_variable cv;
  };
  // Waits until `me` is done or at the front; false if it timed out (it left the queue).
  bool wait_turn(Queued& me, std::unique_lock<std::mutex>& q);
  // The leader's part: takes the group from the queue's front, commits it, hands back.
  void lead(Queued& me, std::unique_lock<std::mutex>& q);
  // One pass of the pipeline for the group (no allocation can fail once it runs).
  void commit_group(std::span<Queued* const> group) noexcept;
  // Waits until the writes of `out` that were appended are applied.
  void wait_applied(std::span<Result<std::uint64_t>> out,
                    std::chrono::steady_clock::time_point deadline,
                    std::chrono::milliseconds timeout);

  CommitPipeline& pipeline_;
  Applier& applier_;
  WriteCounters& counters_;

  mutable std::mutex mu_;
  std::deque<Queued*> queue_;                                 // front: the leader
  std::uint64_t calls_ = 0, groups_ = 0, largest_group_ = 0;  // under mu_
  // The leader's (one leader at a time): its group, reserved for the largest (kMaxGroupWrites
  // calls) so that building it under mu_ never allocates; the group's writes flattened, where
  // their results go and each one's bound.
  std::vector<Queued*> leader_group_;
  std::vector<Write> group_writes_;
  std::vector<Result<std::uint64_t>*> group_out_;
  std::vector<CommitPipeline::Bound> group_bounds_;
};

}  // namespace procreg::replay
