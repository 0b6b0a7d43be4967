#include "log/durability_tracker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <utility>

namespace procreg::replay {

DurabilityTracker::DurabilityTracker(Durability policy, std::chrono::milliseconds interval,
                                     std::uint64_t durable_seq,
                                     std::shared_ptr<const SegmentWriter> active)
    : policy_(policy),
      interval_(interval),
      written_seq_(durable_seq),
      durable_seq_(durable_seq),
      active_(std::move(active)) {}

DurabilityTracker::~DurabilityTracker() {
  stop_syncer();
  if (const int fd = wake_fd_.load(); fd >= 0) ::close(fd);
}

int DurabilityTracker::wake_fd() {
  std::lock_guard lock(mu_);
  if (wake_fd_.load() < 0) wake_fd_.store(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  return wake_fd_.load();
}

void DurabilityTracker::wake() const {
  // One write per arm: a writer with nobody waiting pays a load, not a system call.
  if (!wake_armed_.load(std::memory_order_seq_cst) || !wake_armed_.exchange(false)) return;
  const int fd = wake_fd_.load();
  if (fd >= 0) (void)::eventfd_write(fd, 1);
}

void DurabilityTracker::set_listener(std::function<void()> listener) {
  std::lock_guard lock(mu_);  // orders it before the syncer's next read
  listener_ = std::move(listener);
}

Status DurabilityTracker::start() {
  if (policy_ != Durability::kGroupCommit) return Status();
  try {
    syncer_ = std::thread(&DurabilityTracker::run_syncer, this);
  } catch (const std::system_error& e) {
    return Status::io_error(std::string("cannot start the group-commit thread: ") + e.what());
  }
  return Status();
}

void DurabilityTracker::written(std::uint64_t seq, bool sync_follows) {
  std::unique_lock lock(mu_);
  written_seq_ = seq;
  if (policy_ == Durability::kNone) {
    durable_seq_ = seq;
    lock.unlock();
    durable_cv_.notify_all();
  } else if (policy_ == Durability::kGroupCommit && syncer_idle_ && !sync_follows) {
    lock.unlock();
    syncer_cv_.notify_one();
  }
  if (lock.owns_lock()) lock.unlock();
  wake();  // a standby copies what is written (ReplayRequest::ahead)
}

void DurabilityTracker::synced(std::uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    if (seq > durable_seq_) {
      stats_.note(seq - durable_seq_);
      durable_seq_ = seq;
    }
  }
  durable_cv_.notify_all();
  notify_listener();
}

bool DurabilityTracker::claim_inline_sync() {
  std::unique_lock lock(mu_);
  if (policy_ != Durability::kGroupCommit || interval_.count() != 0 || syncing_ || inline_sync_ ||
      written_seq_ <= durable_seq_ || !failure_.ok() || stop_ || closed_) {
    // The syncer has them: a writer that said a sync follows did not wake it.
    const bool wake = policy_ == Durability::kGroupCommit && syncer_idle_ && !inline_sync_ &&
                      written_seq_ > durable_seq_;
    lock.unlock();
    if (wake) syncer_cv_.notify_one();
    return false;
  }
  inline_sync_ = true;
  return true;
}

void DurabilityTracker::end_inline_sync() {
  bool more = false;
  {
    std::lock_guard lock(mu_);
    inline_sync_ = false;
    more = written_seq_ > durable_seq_;
  }
  if (more) syncer_cv_.notify_one();
}

SyncStats DurabilityTracker::sync_stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void DurabilityTracker::switch_segment(std::shared_ptr<const SegmentWriter> next,
                                       std::uint64_t synced_seq) {
  {
    std::lock_guard lock(mu_);
    active_.swap(next);  // the old segment is released below, outside the lock
    if (synced_seq > durable_seq_) durable_seq_ = synced_seq;
  }
  durable_cv_.notify_all();
  notify_listener();
}

void DurabilityTracker::fail(Status error) {
  {
    std::lock_guard lock(mu_);
    fail_locked(std::move(error));
  }
  durable_cv_.notify_all();
  notify_listener();
}

void DurabilityTracker::fail_locked(Status error) {
  if (failure_.ok()) failure_ = std::move(error);
}

Status DurabilityTracker::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void DurabilityTracker::stop_syncer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  syncer_cv_.notify_one();
  if (syncer_.joinable()) syncer_.join();
}

void DurabilityTracker::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  durable_cv_.notify_all();
}

void DurabilityTracker::gate_replication() {
  std::lock_guard lock(mu_);
  if (gated_) return;
  gated_ = true;
  replicated_seq_ = durable_seq_;
}

void DurabilityTracker::replicated(std::uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    if (!gated_ || seq <= replicated_seq_) return;
    replicated_seq_ = seq;
  }
  durable_cv_.notify_all();
  notify_listener();
}

void DurabilityTracker::gate_permit(std::function<bool()> held) {
  std::lock_guard lock(mu_);
  permitted_seq_ = effective_locked();
  permit_ = std::move(held);
}

void DurabilityTracker::permit_changed() {
  durable_cv_.notify_all();
  notify_listener();
}

std::uint64_t DurabilityTracker::durable_seq() const {
  std::lock_guard lock(mu_);
  return effective_locked();
}

std::uint64_t DurabilityTracker::written_seq() const {
  std::lock_guard lock(mu_);
  return written_seq_;
}

std::uint64_t DurabilityTracker::local_durable_seq() const {
  std::lock_guard lock(mu_);
  return durable_seq_;
}

Status DurabilityTracker::wait_durable(std::uint64_t seq,
                                       std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  durable_cv_.wait_until(lock, deadline,
                         [&] { return effective_locked() >= seq || !failure_.ok() || closed_; });
  if (effective_locked() >= seq) return Status();
  if (!failure_.ok()) return failure_;
  const std::string s = std::to_string(seq);
  if (closed_) return Status::unavailable("log closed before seq " + s + " was durable");
  if (permit_ && durable_seq_ >= seq && (!gated_ || replicated_seq_ >= seq)) {
    return Status::timeout("seq " + s + " is durable but this writer's leadership lease lapsed " +
                           "before it could count (RegistryOptions::lease)");
  }
  if (gated_ && durable_seq_ >= seq) {
    return Status::timeout("seq " + s + " is durable here but not on enough standbys by the " +
                           "deadline (replicated seq " + std::to_string(replicated_seq_) + ")");
  }
  return Status::timeout("seq " + s + " not durable by the deadline (durable seq " +
                         std::to_string(durable_seq_) + ")");
}

void DurabilityTracker::run_syncer() {
  std::unique_lock lock(mu_);
  auto earliest = std::chrono::steady_clock::now();
  for (;;) {  // until stop_syncer()
    syncer_idle_ = true;
    syncer_cv_.wait(lock, [&] {
      return stop_ || (written_seq_ > durable_seq_ && failure_.ok() && !inline_sync_);
    });
    syncer_idle_ = false;
    if (stop_) return;
    // At most one sync per interval; records written while waiting join this one.
    if (syncer_cv_.wait_until(lock, earliest, [&] { return stop_; })) return;
    if (inline_sync_ || written_seq_ <= durable_seq_) continue;  // the writer synced them
    const std::uint64_t target = written_seq_;
    std::shared_ptr<const SegmentWriter> segment = active_;
    earliest = std::chrono::steady_clock::now() + interval_;
    syncing_ = true;
    lock.unlock();
    Status s = segment->sync();
    segment.reset();
    lock.lock();
    syncing_ = false;
    if (!s.ok()) {
      fail_locked(std::move(s));
    } else if (target > durable_seq_) {
      stats_.note(target - durable_seq_);
      durable_seq_ = target;
    }
    durable_cv_.notify_all();
    lock.unlock();
    notify_listener();
    lock.lock();
  }
}

}  // namespace procreg::replay
