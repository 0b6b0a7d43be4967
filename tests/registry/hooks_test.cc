// In-process hook topics: every hook event of a call made with hooks on arrives exactly once,
// in sequence order, off the write path; calls with hooks off reach no topic.
#include <atomic>
#include <chrono>
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

BOOST_AUTO_TEST_SUITE(hooks)

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
  BOOST_TEST(registry->wait_for_hooks(registry->last_sequence(), std::chrono::milliseconds(20))
                 .code() == Code::kTimeout);
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
  auto bad = registry->subscribe(HookTopic::kChildUnregistered,
                                 [](const HookEvent&) { throw std::runtime_error("boom"); }, 5);
  auto good = registry->subscribe(HookTopic::kChildUnregistered, [&](const HookEvent&) { ++later; });
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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
