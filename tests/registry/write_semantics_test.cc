// Write semantics that random workloads against the reference model (model_test.cc) found
// wrong: docs/SEMANTICS.md "Writes" and "TTL and expiry". Each case failed before its fix.
#include <optional>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "registry/fixture.h"

namespace procreg::testing {
namespace {

using namespace std::chrono_literals;

InsertOptions with_ttl(std::int64_t ttl_ms, Metadata metadata) {
  InsertOptions o = insert_options(Hooks::kOff, std::move(metadata));
  o.ttl_ms = ttl_ms;
  return o;
}

ChildNodePids tagged(const std::string& id, NodePids node_pids) {
  return ChildNodePids{{id, std::move(node_pids)}};
}

BOOST_FIXTURE_TEST_SUITE(write_semantics, RegistryFixture)

BOOST_AUTO_TEST_CASE(bulk_insert_of_the_same_row_keeps_its_ttl) {
  const Metadata md{{"tag", "t"}};
  committed(reg().insert(S("a"), {np("n1", "p1")}, with_ttl(1000, md)));
  const WriteMark before = mark();
  expect_no_event(reg().bulk_insert({E("a", {np("n1", "p1")}, md)}), before);
  BOOST_TEST(reg().match_tag("t").empty());  // still a TTL row
  advance(1000ms);
  BOOST_TEST(janitor_pass() == 1u);
  BOOST_TEST(!reg().entry_exists("a"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_of_new_metadata_over_the_same_nodes_keeps_the_ttl) {
  committed(reg().insert(S("a"), {np("n1", "p1")}, with_ttl(1000, {{"tag", "t"}})));
  const std::size_t hooks_before = hooks_seen();
  committed(
      reg().bulk_insert({E("a", {np("n1", "p1")}, {{"tag", "u"}})}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n1", "p1")}, {{"tag", "u"}})}};
  BOOST_TEST(reg().dump_all() == expected);
  BOOST_TEST(reg().match_tag("u").empty());  // the row kept its TTL
  expect_no_hooks_since(hooks_before);
  advance(1000ms);
  BOOST_TEST(janitor_pass() == 1u);
  BOOST_TEST(!reg().entry_exists("a"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_whose_merge_changes_nothing_writes_no_event) {
  committed(reg().insert(S("a"), {np("n2", "p2"), np("n1", "p1")}));
  for (const NodePids& in : {NodePids{np("n1", "p1")}, NodePids{}}) {
    const WriteMark before = mark();
    expect_no_event(reg().bulk_insert({E("a", in)}), before);
    expect_no_event(reg().bulk_insert({E("a", in)}, write_options(Hooks::kOn)), before);
  }
  const Dump expected{{"a", E("a", {np("n2", "p2"), np("n1", "p1")})}};
  BOOST_TEST(reg().dump_all() == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_merge_over_a_ttl_row_makes_it_permanent) {
  // A changed node set is ProcessHub's rewrite as a permanent row, even when the merged list
  // equals the stored one: the state changes (the TTL goes), so an event is written.
  committed(reg().insert(S("a"), {np("n2", "p2"), np("n1", "p1")}, with_ttl(1000, {{"tag", "t"}})));
  const std::uint64_t seq =
      committed(reg().bulk_insert({E("a", {np("n1", "p1")}, {{"tag", "t"}})}));
  BOOST_TEST(seq == 2u);
  BOOST_TEST(reg().match_tag("t") == tagged("a", {np("n2", "p2"), np("n1", "p1")}));
  advance(1000ms);
  BOOST_TEST(janitor_pass() == 0u);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(update_renaming_onto_an_identical_row_writes_no_event) {
  committed(reg().insert(S("c6"), {np("n1", "x")}));
  committed(reg().insert(S("c7"), {np("n1", "x")}));
  const WriteMark before = mark();
  auto rename = [](const ChildSpec& spec, const NodePids& node_pids, const Metadata& metadata) {
    ChildSpec renamed = spec;
    renamed.id = "c7";
    return Entry{renamed, node_pids, metadata};
  };
  expect_no_event(reg().update("c6", rename), before);
  expect_no_event(reg().update("c6", rename, write_options(Hooks::kOn)), before);

  // Onto a TTL row of the same entry the update is a change: the row becomes permanent.
  committed(reg().insert(S("c8"), {np("n1", "x")}, with_ttl(1000, {})));
  auto to_c8 = [](const ChildSpec& spec, const NodePids& node_pids, const Metadata& metadata) {
    ChildSpec renamed = spec;
    renamed.id = "c8";
    return Entry{renamed, node_pids, metadata};
  };
  const std::uint64_t seq = committed(reg().update("c6", to_c8));
  BOOST_TEST(seq == 4u);
  advance(1000ms);
  BOOST_TEST(janitor_pass() == 0u);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_diff_compares_a_pair_with_the_nodes_first_pid) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n1", "p2")}));
  BOOST_TEST(reg().get_pid("a").value_or("") == "p1");
  const std::uint64_t seq =
      committed(reg().bulk_insert({E("a", {np("n1", "p2")})}, write_options(Hooks::kOn)));
  BOOST_TEST(reg().get_pid("a").value_or("") == "p2");
  const std::vector<HookEvent> expected{registered("a", {np("n1", "p2")}, seq)};
  BOOST_TEST(hooks_since(0) == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_of_an_unchanged_row_with_a_diff_fires_its_hook) {
  // The merge rebuilds the stored list, yet a pair differs from its node's first pid: with
  // hooks the item is written for its hook (ProcessHub fires it); without, nothing is written.
  const NodePids stored{np("n2", "x"), np("n1", "p1"), np("n1", "p2")};
  committed(reg().insert(S("a"), stored));
  const NodePids in{np("n1", "p1"), np("n1", "p2")};
  const WriteMark before = mark();
  expect_no_event(reg().bulk_insert({E("a", in)}), before);
  const std::uint64_t seq = committed(reg().bulk_insert({E("a", in)}, write_options(Hooks::kOn)));
  BOOST_TEST(seq == before.seq + 1);
  const std::vector<HookEvent> expected{registered("a", {np("n1", "p2")}, seq)};
  BOOST_TEST(hooks_since(0) == expected);
  BOOST_TEST(reg().dump_all() == (Dump{{"a", E("a", stored)}}));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(node_down_rewrites_a_ttl_row_it_leaves_bound_as_permanent) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")}, with_ttl(1000, {{"tag", "t"}})));
  const std::uint64_t seq = committed(reg().node_down("n1"));
  BOOST_TEST(reg().match_tag("t") == tagged("a", {np("n2", "p2")}));
  const std::vector<HookEvent> expected{unregistered("a", seq)};
  BOOST_TEST(hooks_since(0) == expected);
  advance(1000ms);
  BOOST_TEST(janitor_pass() == 0u);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(a_ttl_row_expires_when_the_clock_reaches_its_expiry) {
  committed(reg().insert(S("a"), {np("n1", "p1")}, with_ttl(1000, {})));
  advance(999ms);
  BOOST_TEST(janitor_pass() == 0u);
  advance(1ms);
  BOOST_TEST(janitor_pass() == 1u);
  BOOST_TEST(!reg().entry_exists("a"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
