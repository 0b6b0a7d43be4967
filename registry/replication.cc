// Synchronous replication's bookkeeping (registry/replication.h).
#include "registry/replication.h"

#include <algorithm>

namespace procreg::replay {

using SteadyClock = std::chrono::steady_clock;

ReplicationTracker::ReplicationTracker(Log& log, std::size_t k,
                                       std::chrono::milliseconds standby_timeout,
                                       std::shared_ptr<WriteLease> lease)
    : log_(log), k_(k), timeout_(standby_timeout), lease_(std::move(lease)) {
  if (k_ > 0) log_.gate_replication();
  if (lease_) {
    log_.gate_permit([l = lease_.get()] { return l->held(); });
    lease_->set_on_extend([&l = log_] { l.permit_changed(); });
  }
}

ReplicationTracker::~ReplicationTracker() {
  if (lease_) lease_->set_on_extend(nullptr);
}

std::uint64_t ReplicationTracker::kth_locked(SteadyClock::time_point now) const {
  std::vector<std::uint64_t> live;
  for (const auto& [name, a] : acks_) {
    if (now - a.at <= timeout_) live.push_back(a.seq);
  }
  if (k_ == 0 || live.size() < k_) return 0;
  std::nth_element(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(k_ - 1), live.end(),
                   std::greater<>());
  return live[k_ - 1];
}

void ReplicationTracker::ack(const std::string& name, std::uint64_t seq) {
  std::uint64_t advance = 0;
  {
    std::lock_guard l(mu_);
    const auto now = SteadyClock::now();
    Ack& a = acks_[name];
    a.seq = std::max(a.seq, seq);
    a.at = now;
    // Standbys gone for long are forgotten (a standby that comes back is new again).
    std::erase_if(acks_, [&](const auto& kv) { return now - kv.second.at > 10 * timeout_; });
    const std::uint64_t kth = kth_locked(now);
    if (kth > replicated_) {
      replicated_ = kth;
      advance = kth;
    }
  }
  if (advance != 0) log_.replicated(advance);
}

Status ReplicationTracker::check_writable() const {
  if (lease_ && !lease_->held()) {
    return Status::unavailable(
        std::string("this writer does not hold its leadership lease (") +
        (lease_->lost() ? "lost: another writer may be elected" : "not renewed in time") +
        "); it may no longer be the hub's writer; nothing written");
  }
  if (k_ == 0) return Status();
  std::lock_guard l(mu_);
  const auto now = SteadyClock::now();
  std::size_t in_sync = 0;
  for (const auto& [name, a] : acks_) in_sync += now - a.at <= timeout_ ? 1 : 0;
  if (in_sync >= k_) return Status();
  return Status::unavailable(std::to_string(in_sync) + " of the " + std::to_string(k_) +
                             " standbys that must hold each write are in sync (heard from "
                             "within " +
                             std::to_string(timeout_.count()) +
                             " ms, RegistryOptions::standby_timeout); nothing written");
}

std::uint64_t ReplicationTracker::replicated_seq() const {
  std::lock_guard l(mu_);
  return replicated_;
}

std::vector<ReplicationTracker::StandbyState> ReplicationTracker::standbys() const {
  std::lock_guard l(mu_);
  const auto now = SteadyClock::now();
  std::vector<StandbyState> out;
  for (const auto& [name, a] : acks_) {
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - a.at);
    out.push_back({name, a.seq, age, age <= timeout_});
  }
  return out;
}

std::uint64_t ReplicationTracker::writes_refused() const {
  std::lock_guard l(mu_);
  return refused_;
}

void ReplicationTracker::count_refused() {
  std::lock_guard l(mu_);
  ++refused_;
}

}  // namespace procreg::replay
