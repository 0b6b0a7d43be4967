// In-process hook topics: every hook event of a call made with hooks on arrives exactly once,
// in sequence order, off the write path; calls with hooks off reach no topic.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procreg/registry.h"
#include "temp_dir.h"

namespace procreg {
namespace {

std::unique_ptr<Registry> open_registry(const std::string& dir) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = Durability::kNone;
  o.janitor_interval = std::chrono::milliseconds(0);
  auto r = Registry::open(o);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(*r);
}

// A one-shot gate a handler blocks on. Waiting is bounded (a broken test fails instead of
// hanging), and open() is idempotent so a scope guard can always open it on the way out.
class Gate {
 public:
  void open() {
    if (!opened_.exchange(true)) promise_.set_value();
  }
  bool wait() const {
    return future_.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  }

 private:
  std::atomic<bool> opened_{false};
  std::promise<void> promise_;
  std::shared_future<void> future_ = promise_.get_future().share();
};

// Opens its gate when the test body ends, however it ends: declared after the subscriptions
// and futures that wait for a blocked handler, it is destroyed before them.
struct OpenOnExit {
  std::shared_ptr<Gate> gate;
  ~OpenOnExit() { gate->open(); }
};

constexpr std::chrono::milliseconds kStillBlocked{100};  // how long "not returned yet" is checked

BOOST_AUTO_TEST_SUITE(hooks)

// Hook events with no handler of their topic are dispatched at once (counted, waitable), and
// a handler sees the events committed after it subscribed, not earlier ones.
BOOST_AUTO_TEST_CASE(a_handler_sees_the_events_committed_after_it_subscribed) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  InsertOptions hooks_on;
  hooks_on.hooks = true;
  auto before = registry->insert(make_spec("before"), {{"n0", "<0.1.0>"}}, hooks_on);
  BOOST_REQUIRE(before.ok());
  BOOST_TEST(registry->wait_for_hooks(*before, std::chrono::seconds(10)).ok());
  BOOST_TEST(registry->stats().hook_events == 1u);  // no handler: dispatched, to nobody

  std::mutex mu;
  std::vector<std::string> seen;
  auto sub = registry->subscribe(HookTopic::kChildRegistered, [&](const HookEvent& e) {
    std::lock_guard l(mu);
    seen.push_back(e.child_id);
  });
  auto after = registry->insert(make_spec("after"), {{"n0", "<0.1.0>"}}, hooks_on);
  BOOST_REQUIRE(after.ok());
  auto gone = registry->erase("before", hooks_on);  // child_unregistered: no handler of it
  BOOST_REQUIRE(gone.ok());
  BOOST_TEST(registry->wait_for_hooks(*gone, std::chrono::seconds(10)).ok());
  std::lock_guard l(mu);
  BOOST_TEST(seen == std::vector<std::string>{"after"});
  BOOST_TEST(registry->stats().hook_events == 3u);
}

// Events still queued when a handler subscribes were published before it: it does not see
// them, even though they run after its subscribe() (the dispatch thread is held up meanwhile).
BOOST_AUTO_TEST_CASE(a_handler_that_subscribes_while_events_are_queued_sees_only_later_ones) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  InsertOptions hooks_on;
  hooks_on.hooks = true;
  auto gate = std::make_shared<Gate>();
  std::mutex mu;
  std::vector<std::string> first_seen, second_seen;
  auto first = registry->subscribe(HookTopic::kChildRegistered, [&, gate](const HookEvent& e) {
    {
      std::lock_guard l(mu);
      first_seen.push_back(e.child_id);
    }
    if (e.child_id == "x1" && !gate->wait()) throw std::runtime_error("gate never opened");
  });
  OpenOnExit open_on_exit{gate};
  BOOST_REQUIRE(registry->insert(make_spec("x1"), {{"n0", "<0.1.0>"}}, hooks_on).ok());
  auto x2 = registry->insert(make_spec("x2"), {{"n0", "<0.2.0>"}}, hooks_on);  // queued
  BOOST_REQUIRE(x2.ok());
  BOOST_TEST(registry->wait_for_hooks(*x2, kStillBlocked).code() == Code::kTimeout);
  auto second = registry->subscribe(HookTopic::kChildRegistered, [&](const HookEvent& e) {
    std::lock_guard l(mu);
    second_seen.push_back(e.child_id);
  });
  auto x3 = registry->insert(make_spec("x3"), {{"n0", "<0.3.0>"}}, hooks_on);
  BOOST_REQUIRE(x3.ok());
  gate->open();
  BOOST_REQUIRE(registry->wait_for_hooks(*x3, std::chrono::seconds(10)).ok());
  std::lock_guard l(mu);
  BOOST_TEST(first_seen == (std::vector<std::string>{"x1", "x2", "x3"}));
  BOOST_TEST(second_seen == std::vector<std::string>{"x3"});
}

BOOST_AUTO_TEST_CASE(hook_events_arrive_once_in_sequence_order_from_many_writers) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  std::mutex mu;
  std::vector<HookEvent> seen;
  auto sub_r = registry->subscribe(HookTopic::kChildRegistered, [&](const HookEvent& e) {
    std::lock_guard lock(mu);
    seen.push_back(e);
  });
  auto sub_u = registry->subscribe(HookTopic::kChildUnregistered, [&](const HookEvent& e) {
    std::lock_guard lock(mu);
    seen.push_back(e);
  });
  WriteOptions with_hooks;
  with_hooks.hooks = true;
  InsertOptions insert_hooks;
  insert_hooks.hooks = true;
  std::atomic<int> failures{0};  // Boost.Test's macros are for the main thread only
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string id = "c" + std::to_string(t) + "-" + std::to_string(i);
        if (!registry->insert(make_spec(id), {{"n1", "<1>"}}, insert_hooks).ok() ||
            !registry->erase(id, with_hooks).ok() ||
            !registry->insert(make_spec(id + "x"), {{"n1", "<1>"}}).ok()) {  // hooks off
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_REQUIRE(registry->wait_for_hooks(registry->last_sequence(), std::chrono::seconds(10)).ok());
  std::lock_guard lock(mu);
  BOOST_REQUIRE_EQUAL(seen.size(), 600u);
  for (std::size_t i = 1; i < seen.size(); ++i) BOOST_TEST(seen[i - 1].seq < seen[i].seq);
  for (const auto& e : seen) BOOST_TEST(e.child_id.back() != 'x');
  BOOST_TEST(registry->stats().hook_events == 600u);
}

BOOST_AUTO_TEST_CASE(unsubscribed_handler_receives_nothing_more) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  std::atomic<int> calls{0};
  auto sub = registry->subscribe(HookTopic::kChildRegistered, [&](const HookEvent&) { ++calls; });
  InsertOptions o;
  o.hooks = true;
  auto s1 = registry->insert(make_spec("a"), {{"n1", "<1>"}}, o);
  BOOST_REQUIRE(s1.ok());
  BOOST_REQUIRE(registry->wait_for_hooks(*s1, std::chrono::seconds(5)).ok());
  sub.reset();
  auto s2 = registry->insert(make_spec("b"), {{"n1", "<1>"}}, o);
  BOOST_REQUIRE(s2.ok());
  BOOST_REQUIRE(registry->wait_for_hooks(*s2, std::chrono::seconds(5)).ok());
  BOOST_TEST(calls.load() == 1);
}

BOOST_AUTO_TEST_CASE(slow_handler_does_not_stall_writes) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  std::atomic<bool> release{false};
  auto sub = registry->subscribe(HookTopic::kChildRegistered, [&](const HookEvent&) {
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!release.load() && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  InsertOptions o;
  o.hooks = true;
  for (int i = 0; i < 50; ++i) {  // the handler blocks on the first; writes go on regardless
    BOOST_REQUIRE(registry->insert(make_spec("c" + std::to_string(i)), {{"n1", "<1>"}}, o).ok());
  }
  BOOST_TEST(registry->dump().size() == 50u);
  BOOST_TEST(
      registry->wait_for_hooks(registry->last_sequence(), std::chrono::milliseconds(20)).code() ==
      Code::kTimeout);
  release = true;
  BOOST_TEST(registry->wait_for_hooks(registry->last_sequence(), std::chrono::seconds(10)).ok());
}

BOOST_AUTO_TEST_CASE(handler_errors_are_counted_and_reported_and_others_still_run) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  std::atomic<int> later{0};
  std::mutex mu;
  std::vector<std::string> errors;
  registry->on_hook_error([&](std::string_view error, const HookEvent& e) {
    std::lock_guard lock(mu);
    errors.push_back(std::string(error) + "@" + e.child_id);
  });
  auto bad = registry->subscribe(
      HookTopic::kChildUnregistered, [](const HookEvent&) { throw std::runtime_error("boom"); }, 5);
  auto good =
      registry->subscribe(HookTopic::kChildUnregistered, [&](const HookEvent&) { ++later; });
  WriteOptions o;
  o.hooks = true;
  auto seq = registry->erase("ghost", o);
  BOOST_REQUIRE(seq.ok());
  BOOST_REQUIRE(registry->wait_for_hooks(*seq, std::chrono::seconds(5)).ok());
  BOOST_TEST(later.load() == 1);
  BOOST_TEST(registry->stats().hook_handler_errors == 1u);
  std::lock_guard lock(mu);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST(errors[0] == "boom@ghost");
}

BOOST_AUTO_TEST_CASE(replayed_events_count_as_dispatched_after_reopen) {
  // Events replayed on open fired their hooks when written; waiting for them returns at once.
  testing::TempDir dir;
  InsertOptions o;
  o.hooks = true;
  {
    auto registry = open_registry(dir.path());
    BOOST_REQUIRE(registry->insert(make_spec("a"), {{"n1", "<1>"}}, o).ok());
  }
  auto reopened = open_registry(dir.path());
  std::atomic<int> calls{0};
  auto sub = reopened->subscribe(HookTopic::kChildRegistered, [&](const HookEvent&) { ++calls; });
  BOOST_TEST(reopened->last_sequence() == 1u);
  BOOST_TEST(reopened->wait_for_hooks(1, std::chrono::milliseconds(100)).ok());
  BOOST_TEST(calls.load() == 0);  // no replayed event fires again
  auto seq = reopened->insert(make_spec("b"), {{"n1", "<1>"}}, o);
  BOOST_REQUIRE(seq.ok());
  BOOST_TEST(*seq == 2u);
  BOOST_TEST(reopened->wait_for_hooks(*seq, std::chrono::seconds(5)).ok());
  BOOST_TEST(calls.load() == 1);
}

BOOST_AUTO_TEST_CASE(wait_for_hooks_waits_for_a_running_handler_of_an_earlier_event) {
  // Event 1 fires a hook whose handler blocks; event 2 fires none. wait_for_hooks(2) must not
  // return before the handler of event 1 did (the dispatch thread holds event 1's batch while
  // the queue is empty).
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto sub = registry->subscribe(HookTopic::kChildRegistered, [=](const HookEvent&) {
    entered->open();
    release->wait();
    finished->store(true);
  });
  InsertOptions hooks_on;
  hooks_on.hooks = true;
  auto s1 = registry->insert(make_spec("a"), {{"n1", "<1>"}}, hooks_on);
  BOOST_REQUIRE(s1.ok());
  BOOST_REQUIRE(entered->wait());                               // event 1's handler is running now
  auto s2 = registry->insert(make_spec("b"), {{"n1", "<1>"}});  // hooks off
  BOOST_REQUIRE(s2.ok());
  BOOST_REQUIRE(*s2 == *s1 + 1);
  auto waiter = std::async(std::launch::async, [&registry, finished, seq = *s2] {
    const Status s = registry->wait_for_hooks(seq, std::chrono::seconds(10));
    return std::make_pair(s.ok(), finished->load());  // was the handler done when it returned?
  });
  OpenOnExit open_on_exit{release};
  BOOST_TEST((waiter.wait_for(kStillBlocked) == std::future_status::timeout));
  release->open();
  BOOST_REQUIRE((waiter.wait_for(std::chrono::seconds(10)) == std::future_status::ready));
  const auto [ok, handler_done] = waiter.get();
  BOOST_TEST(ok);
  BOOST_TEST(handler_done);
}

BOOST_AUTO_TEST_CASE(reset_waits_for_the_running_handler_and_it_never_runs_again) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto running = std::make_shared<std::atomic<int>>(0);
  auto sub = registry->subscribe(HookTopic::kChildRegistered, [=](const HookEvent&) {
    running->fetch_add(1);
    if (calls->fetch_add(1) == 0) {
      entered->open();
      release->wait();
    }
    running->fetch_sub(1);
  });
  InsertOptions hooks_on;
  hooks_on.hooks = true;
  BOOST_REQUIRE(registry->insert(make_spec("a"), {{"n1", "<1>"}}, hooks_on).ok());
  BOOST_REQUIRE(entered->wait());
  // More hook events queued behind the blocked one: the handler must not get them.
  BOOST_REQUIRE(registry->insert(make_spec("b"), {{"n1", "<1>"}}, hooks_on).ok());
  auto resetter = std::async(std::launch::async, [&sub, running] {
    sub.reset();
    return running->load();  // invocations in progress when reset() returned
  });
  OpenOnExit open_on_exit{release};
  BOOST_TEST((resetter.wait_for(kStillBlocked) == std::future_status::timeout));
  release->open();
  BOOST_REQUIRE((resetter.wait_for(std::chrono::seconds(10)) == std::future_status::ready));
  BOOST_TEST(resetter.get() == 0);
  BOOST_TEST(!sub);
  auto last = registry->insert(make_spec("c"), {{"n1", "<1>"}}, hooks_on);
  BOOST_REQUIRE(last.ok());
  BOOST_REQUIRE(registry->wait_for_hooks(*last, std::chrono::seconds(10)).ok());
  BOOST_TEST(calls->load() == 1);
}

BOOST_AUTO_TEST_CASE(handler_reset_while_its_event_is_being_dispatched_is_not_called) {
  // A higher-priority handler blocks on the event; meanwhile the lower one is unsubscribed
  // (it is not running, so reset() returns at once). It must not be called for that event.
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  auto late_calls = std::make_shared<std::atomic<int>>(0);
  auto first = registry->subscribe(
      HookTopic::kChildUnregistered,
      [=](const HookEvent&) {
        entered->open();
        release->wait();
      },
      10);
  auto late = registry->subscribe(
      HookTopic::kChildUnregistered, [=](const HookEvent&) { late_calls->fetch_add(1); }, 0);
  OpenOnExit open_on_exit{release};
  WriteOptions hooks_on;
  hooks_on.hooks = true;
  auto seq = registry->erase("ghost", hooks_on);
  BOOST_REQUIRE(seq.ok());
  BOOST_REQUIRE(entered->wait());
  late.reset();
  release->open();
  BOOST_REQUIRE(registry->wait_for_hooks(*seq, std::chrono::seconds(10)).ok());
  BOOST_TEST(late_calls->load() == 0);
}

BOOST_AUTO_TEST_CASE(handler_may_reset_its_own_and_another_subscription_without_deadlock) {
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  std::atomic<int> self_calls{0};
  std::atomic<int> other_calls{0};
  HookSubscription self;
  HookSubscription other;
  self = registry->subscribe(
      HookTopic::kChildRegistered,
      [&](const HookEvent&) {
        ++self_calls;
        self.reset();   // its own subscription, from inside the handler
        other.reset();  // and another's, due later for this very event
      },
      10);
  other =
      registry->subscribe(HookTopic::kChildRegistered, [&](const HookEvent&) { ++other_calls; });
  InsertOptions hooks_on;
  hooks_on.hooks = true;
  auto s1 = registry->insert(make_spec("a"), {{"n1", "<1>"}}, hooks_on);
  BOOST_REQUIRE(s1.ok());
  BOOST_REQUIRE(registry->wait_for_hooks(*s1, std::chrono::seconds(10)).ok());
  BOOST_TEST(self_calls.load() == 1);
  BOOST_TEST(other_calls.load() == 0);
  BOOST_TEST(!self);
  BOOST_TEST(!other);
  auto s2 = registry->insert(make_spec("b"), {{"n1", "<1>"}}, hooks_on);
  BOOST_REQUIRE(s2.ok());
  BOOST_REQUIRE(registry->wait_for_hooks(*s2, std::chrono::seconds(10)).ok());
  BOOST_TEST(self_calls.load() == 1);
  BOOST_TEST(other_calls.load() == 0);
}

BOOST_AUTO_TEST_CASE(no_handler_runs_after_its_reset_returned_under_concurrent_writes) {
  // Subscribers come and go while a writer fires hooks: once reset() returned, the handler is
  // neither running nor called again.
  testing::TempDir dir;
  auto registry = open_registry(dir.path());
  struct State {
    std::atomic<bool> reset_returned{false};
    std::atomic<int> running{0};
  };
  std::atomic<int> violations{0};  // Boost.Test's macros are for the main thread only
  std::atomic<int> failures{0};
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    InsertOptions hooks_on;
    hooks_on.hooks = true;
    for (int i = 0; i < 300; ++i) {
      if (!registry->insert(make_spec("c" + std::to_string(i)), {{"n1", "<1>"}}, hooks_on).ok()) {
        failures.fetch_add(1);
      }
    }
    writer_done.store(true);
  });
  std::vector<std::thread> subscribers;
  for (int t = 0; t < 2; ++t) {
    subscribers.emplace_back([&] {
      for (int i = 0; i < 5'000 && !writer_done.load(); ++i) {  // until the writer is done
        auto state = std::make_shared<State>();
        auto sub = registry->subscribe(HookTopic::kChildRegistered,
                                       [state, &violations](const HookEvent&) {
                                         state->running.fetch_add(1);
                                         if (state->reset_returned.load()) violations.fetch_add(1);
                                         std::this_thread::yield();
                                         state->running.fetch_sub(1);
                                       });
        std::this_thread::yield();
        sub.reset();
        if (state->running.load() != 0) violations.fetch_add(1);
        state->reset_returned.store(true);
      }
    });
  }
  writer.join();
  for (auto& s : subscribers) s.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_REQUIRE(registry->wait_for_hooks(registry->last_sequence(), std::chrono::seconds(10)).ok());
  BOOST_TEST(violations.load() == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
