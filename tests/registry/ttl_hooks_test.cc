// TTL rows and hook handlers, as docs/SEMANTICS.md states them ("TTL and expiry" and "Hooks";
// a section name in quotes below is one of its sections): expiry of TTL rows, tombstones and
// pending-forward rows on the fake clock, and the hook handlers' order, failures and
// re-entrant writes.
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "registry/fixture.h"

namespace procreg::testing {
namespace {

using namespace std::chrono_literals;

// What test handlers saw, shared with the hook thread.
struct Calls {
  void add(std::string what, const HookEvent& event) {
    std::lock_guard lock(mu);
    names.push_back(std::move(what));
    events.push_back(event);
  }
  std::mutex mu;
  std::vector<std::string> names;
  std::vector<HookEvent> events;
};

BOOST_FIXTURE_TEST_SUITE(ttl_hooks, RegistryFixture)

BOOST_AUTO_TEST_CASE(insert_with_negative_ttl_expires_on_next_janitor_pass) {
  InsertOptions expired = insert_options(Hooks::kOn);
  expired.ttl_ms = -1'000;
  committed(reg().insert(S("a"), {}, expired));
  BOOST_TEST(reg().entry_exists("a"));  // nothing expires on read
  const std::size_t before = hooks_seen();

  BOOST_TEST(janitor_pass() == 1u);
  BOOST_TEST(!reg().entry_exists("a"));
  BOOST_TEST(reg().stats().rows_expired == 1u);
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(insert_over_tombstone_makes_permanent_row) {
  make_tombstone("a");
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  advance(45s);
  BOOST_TEST(janitor_pass() == 0u);
  const std::optional<Lookup> expected = Lookup{S("a"), {np("n1", "p1")}, std::nullopt};
  BOOST_TEST(reg().lookup("a") == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_over_tombstone_makes_permanent_bound_row) {
  make_tombstone("a", {{"tag", "old"}});
  const std::size_t before = hooks_seen();
  const std::uint64_t seq =
      committed(reg().bulk_insert({E("a", {np("n2", "p2")})}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n2", "p2")})}};
  BOOST_TEST(reg().dump() == expected);
  const std::vector<HookEvent> hooks{registered("a", {np("n2", "p2")}, seq)};
  BOOST_TEST(hooks_since(before) == hooks);

  advance(45s);
  BOOST_TEST(janitor_pass() == 0u);
  BOOST_TEST(reg().dump() == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_of_tombstone_fires_nothing_and_keeps_its_expiry) {
  make_tombstone("a");
  advance(20s);
  const std::size_t before = hooks_seen();
  const WriteMark written = mark();
  expect_no_event(reg().bulk_delete({{"a", {"n1"}}}, write_options(Hooks::kOn)), written);
  expect_no_hooks_since(before);

  // Still due 30 s after it was made, not 30 s after the second bulk_delete.
  advance(10s);
  BOOST_TEST(janitor_pass() == 1u);
  BOOST_TEST(!reg().entry_exists("a"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(tombstone_expires_thirty_seconds_after_it_was_made_without_hook) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  committed(reg().bulk_delete({{"a", {"n1"}}}, write_options(Hooks::kOn)));
  const Dump tombstone{{"a", E("a", {})}};
  advance(29s);
  BOOST_TEST(janitor_pass() == 0u);
  BOOST_TEST(reg().dump_all() == tombstone);
  const std::size_t before = hooks_seen();

  advance(1s);
  BOOST_TEST(janitor_pass() == 1u);
  BOOST_TEST(reg().dump_all().empty());
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(pending_row_is_hidden_until_registered_and_expires_after_ten_minutes) {
  const Metadata pending = pending_metadata(now());
  committed(reg().insert(S("a"), {}, insert_options(Hooks::kOff, pending)));
  committed(reg().insert(S("b"), {}, insert_options(Hooks::kOff, pending)));
  BOOST_TEST(!reg().lookup("a"));
  BOOST_TEST(reg().dump().empty());
  BOOST_TEST(reg().process_list(Scope::kGlobal).empty());
  BOOST_TEST(reg().contains_children({"a", "b"}).empty());
  const Dump all{{"a", E("a", {}, pending)}, {"b", E("b", {}, pending)}};
  BOOST_TEST(reg().dump_all() == all);

  // The owner's registration replaces the pending row: incoming metadata, no TTL.
  const std::size_t before = hooks_seen();
  const std::uint64_t seq = committed(
      reg().bulk_insert({E("a", {np("n2", "p")}, {{"tag", "t"}})}, write_options(Hooks::kOn)));
  const std::optional<Lookup> registered_row =
      Lookup{S("a"), {np("n2", "p")}, Metadata{{"tag", "t"}}};
  BOOST_TEST(reg().lookup("a", with_metadata()) == registered_row);
  const std::vector<HookEvent> hooks{registered("a", {np("n2", "p")}, seq)};
  BOOST_TEST(hooks_since(before) == hooks);

  advance(600s - 1ms);
  BOOST_TEST(janitor_pass() == 0u);
  advance(1ms);
  BOOST_TEST(janitor_pass() == 1u);
  const Dump left{{"a", E("a", {np("n2", "p")}, {{"tag", "t"}})}};
  BOOST_TEST(reg().dump_all() == left);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(handlers_run_by_priority_then_subscription_order) {
  auto calls = std::make_shared<Calls>();
  auto handler = [calls](std::string name) {
    return [calls, name](const HookEvent& e) { calls->add(name, e); };
  };
  subscribe(HookTopic::kChildRegistered, handler("low"), 0);
  subscribe(HookTopic::kChildRegistered, handler("high"), 10);
  subscribe(HookTopic::kChildRegistered, handler("tie1"), 5);
  subscribe(HookTopic::kChildRegistered, handler("tie2"), 5);
  subscribe(HookTopic::kChildRegistered, handler("tie3"), 5);

  const std::uint64_t seq =
      committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOn)));
  settle();
  {
    std::lock_guard lock(calls->mu);
    const std::vector<std::string> order{"high", "tie1", "tie2", "tie3", "low"};
    BOOST_TEST(calls->names == order);
    const std::vector<HookEvent> payloads(5, registered("a", {np("n1", "p1")}, seq));
    BOOST_TEST(calls->events == payloads);
  }
  reopen_and_compare();
}

// Handlers run on the hook thread, outside the write path ("Hooks"): ProcessHub's caller exits
// when a handler raises; procreg's write has already returned ok, and the error is reported.
BOOST_AUTO_TEST_CASE(throwing_handler_does_not_fail_the_write) {
  auto errors = std::make_shared<Calls>();
  reg().on_hook_error(
      [errors](std::string_view what, const HookEvent& e) { errors->add(std::string(what), e); });
  subscribe(
      HookTopic::kChildRegistered,
      [](const HookEvent&) { throw std::runtime_error("handler failed"); }, 10);
  const std::size_t before = hooks_seen();

  const std::uint64_t seq =
      committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOn)));
  const std::optional<Lookup> stored = Lookup{S("a"), {np("n1", "p1")}, std::nullopt};
  BOOST_TEST(reg().lookup("a") == stored);
  const std::vector<HookEvent> hooks{registered("a", {np("n1", "p1")}, seq)};
  BOOST_TEST(hooks_since(before) == hooks);  // the recorder, a later handler, still ran
  BOOST_TEST(reg().stats().hook_handler_errors == 1u);
  {
    std::lock_guard lock(errors->mu);
    const std::vector<std::string> messages{"handler failed"};
    BOOST_TEST(errors->names == messages);
    BOOST_TEST(errors->events == hooks);
  }
  reopen_and_compare();
}

// ProcessHub's handler cannot write (its server would call itself and exit); procreg's
// handlers run off the write path ("Hooks"), so a handler's write simply commits.
BOOST_AUTO_TEST_CASE(handler_may_write_to_the_registry) {
  auto results = std::make_shared<Calls>();
  Registry* registry = &reg();
  subscribe(HookTopic::kChildRegistered, [registry, results](const HookEvent& e) {
    if (e.child_id != "a") return;
    const Result<std::uint64_t> r =
        registry->insert(S("b"), {np("n1", "pb")}, insert_options(Hooks::kOn));
    results->add(r.ok() ? "ok" : r.status().to_string(), e);
  });

  // Not committed(): the handler may already have written b when last_sequence() is read.
  const Result<std::uint64_t> a =
      reg().insert(S("a"), {np("n1", "pa")}, insert_options(Hooks::kOn));
  BOOST_REQUIRE_MESSAGE(a.ok(), a.status().to_string());
  const std::vector<HookEvent> hooks{registered("a", {np("n1", "pa")}, *a),
                                     registered("b", {np("n1", "pb")}, *a + 1)};
  BOOST_TEST(hooks_since(0) == hooks);
  {
    std::lock_guard lock(results->mu);
    const std::vector<std::string> ok{"ok"};
    BOOST_TEST(results->names == ok);
  }
  const Dump both{{"a", E("a", {np("n1", "pa")})}, {"b", E("b", {np("n1", "pb")})}};
  BOOST_TEST(reg().dump() == both);
  reopen_and_compare();
}

// ProcessHub 0.5.0's janitor deletes what it scanned unconditionally and so loses a row
// re-registered in between; procreg's expiry skips a row written since the scan ("TTL and
// expiry").
BOOST_AUTO_TEST_CASE(expiry_keeps_row_repopulated_after_the_scan) {
  const std::uint64_t tombstoned = make_tombstone("a");
  advance(30s);
  const std::vector<Registry::ExpiryCandidate> candidates = reg().scan_expired();
  BOOST_REQUIRE_EQUAL(candidates.size(), 1u);
  BOOST_TEST(candidates[0].table == kHub);
  BOOST_TEST(candidates[0].child_id == "a");
  BOOST_TEST(candidates[0].row_seq == tombstoned);

  committed(reg().bulk_insert({E("a", {np("n2", "p2")})}));
  const WriteMark written = mark();
  const Result<std::size_t> expired = reg().expire(candidates);
  BOOST_REQUIRE_MESSAGE(expired.ok(), expired.status().to_string());
  BOOST_TEST(*expired == 0u);
  BOOST_TEST(reg().last_sequence() == written.seq);
  BOOST_TEST(reg().stats().events_written == written.events_written);
  const Dump expected{{"a", E("a", {np("n2", "p2")})}};
  BOOST_TEST(reg().dump_all() == expected);
  BOOST_TEST(reg().scan_expired().empty());
  reopen_and_compare();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
