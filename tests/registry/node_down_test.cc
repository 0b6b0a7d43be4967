// Node-down cleanup (docs/SEMANTICS.md, "node_down"): one call removes a node's pairs from every
// bound row, tombstones the rows it empties, fires child_unregistered for each affected child,
// and is one event that replays exactly; it also sees writes still waiting for their sync.
#include <atomic>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "fixture.h"

namespace procreg::testing {
namespace {

BOOST_FIXTURE_TEST_SUITE(node_down, RegistryFixture)

BOOST_AUTO_TEST_CASE(removes_the_nodes_pairs_tombstones_emptied_rows_and_fires_hooks) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")}));
  committed(reg().insert(S("b"), {np("n1", "p3")}, insert_options(Hooks::kOff, {{"tag", "x"}})));
  committed(reg().insert(S("c"), {np("n2", "p4")}));
  make_tombstone("d");  // not bound: untouched, no hook
  committed(reg().insert(S("e"), {}, insert_options(Hooks::kOff, pending_metadata(now()))));
  committed(reg().insert(S("f"), {np("n1", "p5")}, insert_options(Hooks::kOff)));
  const std::size_t before = hooks_seen();
  const std::uint64_t seq = committed(reg().node_down("n1"));
  const std::vector<HookEvent> expected{unregistered("a", seq), unregistered("b", seq),
                                        unregistered("f", seq)};
  BOOST_TEST(hooks_since(before) == expected);
  BOOST_TEST((reg().get_pids("a") == std::vector<Pid>{"p2"}));
  BOOST_TEST(!reg().lookup("b").has_value());  // a tombstone now: unbound, expires with its TTL
  BOOST_TEST(reg().entry_exists("b"));         // (entry_exists sees tombstones, as ProcessHub)
  BOOST_TEST(reg().match_tag("x").empty());
  BOOST_TEST((reg().get_pids("c") == std::vector<Pid>{"p4"}));
  BOOST_TEST(reg().process_list(Scope::kGlobal).size() == 2u);  // a and c; b and f tombstones
  advance(std::chrono::milliseconds(30'001));
  BOOST_TEST(janitor_pass() == 3u);  // the tombstones of b, d and f (e is pending: 10 min)
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(a_node_in_no_row_writes_nothing_and_an_empty_name_is_refused) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  const WriteMark before = mark();
  expect_no_event(reg().node_down("n9"), before);
  BOOST_TEST(reg().node_down("").status().code() == Code::kInvalidArgument);
  BOOST_TEST(reg().stats().events_written == before.events_written);
}

BOOST_AUTO_TEST_CASE(only_the_given_table_is_cleaned) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  InsertOptions other = insert_options(Hooks::kOff);
  other.table = "other";
  committed(reg().insert(S("a"), {np("n1", "p2")}, other));
  committed(reg().node_down("n1", write_options(Hooks::kOff, "other")));
  BOOST_TEST(reg().lookup("a").has_value());
  BOOST_TEST(!reg().lookup("a", LookupOptions{read_table("other")}).has_value());  // tombstone
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(node_down_group_commit)

BOOST_AUTO_TEST_CASE(sees_a_row_written_just_before_whose_sync_is_pending) {
  TempDir dir;
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir.path();
  o.local_node = "n0";
  o.log.durability = Durability::kGroupCommit;
  o.log.group_commit_interval = std::chrono::milliseconds(300);
  o.janitor_interval = std::chrono::milliseconds(0);
  auto opened = Registry::open(o);
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  BOOST_REQUIRE(r.insert(S("first"), {np("n0", "p0")}).ok());  // synced at once; next sync later
  std::thread writer([&] { (void)r.insert(S("late"), {np("n1", "p1")}); });
  // Wait (bounded) until the insert is appended, i.e. waiting for its sync.
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (r.stats().events_written < 2 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  BOOST_REQUIRE(r.stats().events_written == 2u);
  auto seq = r.node_down("n1");
  writer.join();
  BOOST_REQUIRE_MESSAGE(seq.ok(), seq.status().to_string());
  BOOST_TEST(*seq == 3u);
  BOOST_TEST(!r.lookup("late").has_value());  // tombstoned by the node-down, not missed
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
