// procreg::replay: the janitor's thread: runs a pass (Registry::run_janitor: TTL expiry through
// explicit expire events) every interval until stopped. A pass that throws (out of memory) is
// tried again the next period; a failed write is the log's, and every write reports it.
//
// Thread safety: start() and stop() from the thread that owns the Registry.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace procreg::replay {

class Janitor {
 public:
  Janitor() = default;
  ~Janitor() { stop(); }
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  // Starts the thread; an interval <= 0 starts nothing.
  void start(std::chrono::milliseconds interval, std::function<void()> pass);
  // Stops the thread and waits for it (a pass in progress completes first).
  void stop();

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // under mu_
};

}  // namespace procreg::replay
