// SlotHolder: holds a writer's slot for a test, with an update whose function waits until
// released (bounded), so that the calls made meanwhile queue up deterministically.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "fixture.h"
#include "procreg/registry.h"

namespace procreg::testing {

// Holds the writer's slot: an update whose function waits until released (bounded).
class SlotHolder {
 public:
  explicit SlotHolder(Registry& r) {
    BOOST_REQUIRE(r.insert(S("held"), {np("n0", "<h>")}).ok());
    thread_ = std::thread([this, &r] {
      result_ =
          r.update("held", [this](const ChildSpec& spec, const NodePids& pids, const Metadata& md) {
            inside_ = true;
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (!release_ && std::chrono::steady_clock::now() < give_up) {
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            Metadata changed = md;
            changed["held"] = true;  // so that the update writes an event
            return Entry{spec, pids, changed};
          });
    });
    wait_until([&] { return inside_.load(); }, "the update function to run");
  }
  ~SlotHolder() { (void)release(); }
  Result<std::uint64_t> release() {
    release_ = true;
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  template <typename F>
  static void wait_until(F done, const char* what) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    BOOST_REQUIRE_MESSAGE(done(), "timed out waiting for " << what);
  }

 private:
  std::thread thread_;
  std::atomic<bool> inside_{false}, release_{false};
  Result<std::uint64_t> result_ = Status::internal("not run");
};

}  // namespace procreg::testing
