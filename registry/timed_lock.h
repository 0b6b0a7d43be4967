// procreg::replay: TimedLock, a mutex whose acquire can be bounded by a timeout.
//
// Thread safety: every method from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

namespace procreg::replay {

// A mutex with a timed acquire (the writer's slot; a replica's command socket).
// std::timed_mutex's timed lock is not understood by GCC 12's ThreadSanitizer, which then
// reports false errors; a condition variable is. Meets TimedLockable, so std::unique_lock
// drives it.
class TimedLock {
 public:
  void lock() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !busy_; });
    busy_ = true;
  }
  bool try_lock() {
    std::lock_guard l(mu_);
    return !std::exchange(busy_, true);
  }
  template <typename Rep, typename Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return try_lock_until(std::chrono::steady_clock::now() + timeout);
  }
  template <typename Clock, typename Duration>
  bool try_lock_until(std::chrono::time_point<Clock, Duration> deadline) {
    std::unique_lock l(mu_);
    if (!cv_.wait_until(l, deadline, [&] { return !busy_; })) return false;
    busy_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard l(mu_);
      busy_ = false;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;
};

}  // namespace procreg::replay
