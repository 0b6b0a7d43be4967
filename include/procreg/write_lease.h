// procreg: a writer's lease on its leadership (RegistryOptions::lease; docs/CLI.md,
// "serve --election").
//
// With automatic failover, the writer holds its role through a lease of an election service
// (etcd): while the lease is kept alive no other writer can be elected; once it expires, one
// can. The lease keeper (procreg::Elector, or your own) moves `valid_until` forward after each
// renewal the election service confirmed: the time the renewal was *sent* plus the TTL the
// service answered, less a margin. The service counts the TTL from when it *received* the
// renewal, later, so this writer's deadline always passes before the service can expire the
// lease (both measure durations; their clocks need not agree, only run at the same rate).
//
// A registry opened with a lease checks it where a write's fate is decided:
//   - a write is refused at once (kUnavailable, nothing written) while the lease is not held;
//   - the log's durability point advances only while it is held. A record appended just before
//     the lease lapsed is neither applied, published nor acknowledged until a renewal comes
//     (then it is, the lease having been held throughout), and never if the lease is lost:
//     its write times out, its outcome unknown, as any write whose writer disappears.
// So once the lease's deadline passes, this writer acknowledges nothing, before the election
// service can elect another. (A process paused between that check and sending a reply can
// still send it late: the acknowledged write is then in the log of the standbys that
// synchronous replication required, from which the next writer is chosen.)
//
// Thread safety: every method from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

namespace procreg {

class WriteLease {
 public:
  using SteadyClock = std::chrono::steady_clock;

  // A lease not held until the first extend_until().
  WriteLease() = default;
  WriteLease(const WriteLease&) = delete;
  WriteLease& operator=(const WriteLease&) = delete;

  // The lease is held until `until` (unless lost()); wakes the registry's waiting writes.
  // Later calls may move it either way; a lost lease stays lost.
  void extend_until(SteadyClock::time_point until) {
    if (lost()) return;
    // 0 means "not held": a deadline at the clock's epoch is never in the future anyway.
    until_ns_.store(std::max<std::int64_t>(ns_of(until), 1), std::memory_order_release);
    notify();
  }
  // The election service said the lease is gone (expired, revoked): never held again.
  void lose() {
    lost_.store(true, std::memory_order_release);
    until_ns_.store(0, std::memory_order_release);
    notify();  // waiting writes re-check, and give up
  }

  bool held() const { return held_at(SteadyClock::now()); }
  bool held_at(SteadyClock::time_point now) const {
    const std::int64_t until = until_ns_.load(std::memory_order_acquire);
    return !lost() && until != 0 && ns_of(now) < until;
  }
  bool lost() const { return lost_.load(std::memory_order_acquire); }
  SteadyClock::time_point valid_until() const {
    return SteadyClock::time_point(std::chrono::nanoseconds(until_ns_.load()));
  }

  // Called after each extend_until() and lose() (the registry re-checks its waiting writes);
  // one at a time, set and cleared by the registry that uses the lease.
  void set_on_extend(std::function<void()> f) {
    std::lock_guard l(mu_);
    on_extend_ = std::move(f);
  }

 private:
  static std::int64_t ns_of(SteadyClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  void notify() {
    std::lock_guard l(mu_);
    if (on_extend_) on_extend_();
  }

  std::atomic<std::int64_t> until_ns_{0};  // steady clock, ns since its epoch; 0: not held
  std::atomic<bool> lost_{false};
  std::mutex mu_;  // guards on_extend_ and serialises its calls
  std::function<void()> on_extend_;
};

}  // namespace procreg
