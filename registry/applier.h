// procreg::replay: the applier: appended events wait here until the log makes them durable,
// then are applied to the projection in sequence order, handed to the commit listener (the
// publisher) and their hook events queued for the in-process hooks. It also holds the
// registry's failure latch: the first failure (a failed log write or sync, an event the
// projection refused) stops every later write, until the registry is reopened.
//
// Locks, in order: apply_mu_ (one applier at a time, in sequence order; the listener is called
// under it), then the projection's lock (exclusive, to apply). pending_mu_ and failed_mu_ are
// leaves. A writer's slot (registry/commit_pipeline.h) is taken before apply_mu_.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "log/log.h"
#include "registry/commit.h"
#include "registry/hook_dispatcher.h"
#include "registry/registry_access.h"
#include "state/projection.h"

namespace procreg::replay {

class Applier {
 public:
  // `log` is null for a Registry without a log (a read-only replay, a replica): nothing is
  // ever pending there.
  Applier(Log* log, Projection& proj, std::shared_mutex& proj_mu, HookDispatcher& hooks)
      : log_(log), proj_(proj), proj_mu_(proj_mu), hooks_(hooks) {}

  // The last event applied to the projection (the head of the registry's state).
  std::uint64_t applied_seq() const { return applied_seq_.load(); }
  void set_applied_seq(std::uint64_t seq) { applied_seq_.store(seq); }

  // Queues appended events (in sequence order, after every event queued before), moving them
  // out of `staged` (which it may leave with another vector's capacity).
  void push(std::vector<Pending>& staged);
  // Applies every durable pending event in order under the projection's exclusive lock, then
  // hands them to the listener and publishes their hook events. Stops at (and latches) the
  // first event the projection refuses.
  void apply_durable();
  // Returns seq once event `seq` is applied, kTimeout at the deadline, or the failure.
  Result<std::uint64_t> wait_applied(std::uint64_t seq,
                                     std::chrono::steady_clock::time_point deadline,
                                     std::chrono::milliseconds timeout);

  // The failure latch: the first status passed to fail() stays; failure() returns it (ok
  // until then).
  void fail(Status s);
  Status failure() const;

  // The commit listener (RegistryAccess::attach_commit_listener): start(heads) runs under
  // apply_mu_, so no event comes between it and the listener's first call.
  Result<std::uint64_t> attach(CommitListener listener,
                               const std::function<void(const ChainHeads&)>& start);
  void detach(std::uint64_t token);

 private:
  // Hands batch_'s first `applied` events to the listener (under apply_mu_).
  void notify_listener(std::size_t applied);

  Log* const log_;
  Projection& proj_;
  std::shared_mutex& proj_mu_;
  HookDispatcher& hooks_;

  std::mutex pending_mu_;  // appended, not yet applied, in sequence order
  std::vector<Pending> pending_;
  std::mutex apply_mu_;
  std::atomic<std::uint64_t> applied_seq_{0};
  // apply_durable's, under apply_mu_ and empty between calls: kept for their capacity, so that
  // applying allocates nothing of its own.
  std::vector<Pending> batch_;
  std::vector<CommittedEvent> committed_;
  CommitListener listener_;           // under apply_mu_
  std::uint64_t listener_token_ = 0;  // of the attached listener (0: none); under apply_mu_
  std::uint64_t next_listener_token_ = 1;
  mutable std::mutex failed_mu_;
  Status failed_;                        // once set, every write returns it
  std::atomic<bool> has_failed_{false};  // set (under failed_mu_) once failed_ is
};

}  // namespace procreg::replay
