// The registry's writes, one behaviour at a time, as docs/SEMANTICS.md states them ("Events"
// and "Writes"; a section name in quotes below is one of its sections): insert, erase
// (ProcessHub's delete), bulk_insert, bulk_delete, update, clear_all and idempotence. The TTL
// cases are in ttl_hooks_test.cc, the reads in reads_test.cc.
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "registry/fixture.h"

namespace procreg::testing {
namespace {

using namespace std::chrono_literals;

Entry unchanged(const ChildSpec& spec, const NodePids& node_pids, const Metadata& metadata) {
  return Entry{spec, node_pids, metadata};
}

BOOST_FIXTURE_TEST_SUITE(writes, RegistryFixture)

BOOST_AUTO_TEST_CASE(insert_then_lookup_returns_spec_and_node_pids) {
  BOOST_TEST(committed(reg().insert(S("a"), {np("n1", "p1")})) == 1u);
  const std::optional<Lookup> plain = Lookup{S("a"), {np("n1", "p1")}, std::nullopt};
  BOOST_TEST(reg().lookup("a") == plain);
  const std::optional<Lookup> full = Lookup{S("a"), {np("n1", "p1")}, Metadata{}};
  BOOST_TEST(reg().lookup("a", with_metadata()) == full);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(insert_with_metadata_shows_in_dump) {
  committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOff, {{"tag", "t"}})));
  const Dump expected{{"a", E("a", {np("n1", "p1")}, {{"tag", "t"}})}};
  BOOST_TEST(reg().dump() == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(insert_fires_registered_hook_only_with_hooks_on) {
  const std::uint64_t seq =
      committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOn)));
  const std::vector<HookEvent> expected{registered("a", {np("n1", "p1")}, seq)};
  BOOST_TEST(hooks_since(0) == expected);

  const std::size_t before = hooks_seen();
  committed(reg().insert(S("b"), {np("n1", "p1")}));
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(insert_replaces_row_without_merging_nodes_or_metadata) {
  committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOff, {{"tag", "t"}})));
  committed(reg().insert(S("a"), {np("n2", "p2")}));
  const std::optional<Lookup> expected = Lookup{S("a"), {np("n2", "p2")}, Metadata{}};
  BOOST_TEST(reg().lookup("a", with_metadata()) == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(insert_with_no_nodes_stores_unbound_row) {
  const std::uint64_t seq = committed(reg().insert(S("a"), {}, insert_options(Hooks::kOn)));
  BOOST_TEST(!reg().lookup("a"));
  BOOST_TEST(reg().dump().empty());
  const Dump all{{"a", E("a", {})}};
  BOOST_TEST(reg().dump_all() == all);
  BOOST_TEST(reg().entry_exists("a"));
  const std::vector<HookEvent> expected{registered("a", {}, seq)};
  BOOST_TEST(hooks_since(0) == expected);

  // Without a TTL the unbound row is permanent.
  advance(1h);
  BOOST_TEST(janitor_pass() == 0u);
  BOOST_TEST(reg().entry_exists("a"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(delete_fires_unregistered_even_for_missing_id) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  const std::uint64_t deleted = committed(reg().erase("a", write_options(Hooks::kOn)));
  BOOST_TEST(reg().dump_all().empty());
  BOOST_TEST(!reg().entry_exists("a"));
  const std::uint64_t missing = committed(reg().erase("missing", write_options(Hooks::kOn)));
  const std::vector<HookEvent> expected{unregistered("a", deleted),
                                        unregistered("missing", missing)};
  BOOST_TEST(hooks_since(0) == expected);

  // Without hooks, deleting an absent row changes nothing, so it writes nothing ("Events").
  const WriteMark before = mark();
  expect_no_event(reg().erase("missing"), before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(delete_removes_tombstone_and_pending_rows) {
  make_tombstone("a");
  committed(reg().insert(S("b"), {}, insert_options(Hooks::kOff, pending_metadata(now()))));
  BOOST_TEST(reg().entry_exists("a"));
  BOOST_TEST(reg().entry_exists("b"));
  committed(reg().erase("a"));
  committed(reg().erase("b"));
  BOOST_TEST(!reg().entry_exists("a"));
  BOOST_TEST(!reg().entry_exists("b"));
  BOOST_TEST(reg().dump_all().empty());
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_of_new_ids_fires_one_hook_each_in_input_order) {
  const std::vector<Entry> input{
      E("d", {np("n1", "p1")}),
      E("b", {np("n1", "p2"), np("n2", "p3")}, {{"tag", "x"}}),
      E("a", {np("n3", "p4")}),
      E("c", {np("n2", "p5"), np("n1", "p6"), np("n3", "p7")}),
  };
  const std::uint64_t seq = committed(reg().bulk_insert(input, write_options(Hooks::kOn)));
  std::vector<HookEvent> expected_hooks;
  Dump expected_dump;
  for (const Entry& e : input) {
    expected_hooks.push_back(registered(e.spec.id, e.node_pids, seq));
    expected_dump.emplace(e.spec.id, e);
  }
  BOOST_TEST(hooks_since(0) == expected_hooks);
  BOOST_TEST(reg().dump() == expected_dump);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_same_node_set_writes_new_spec_and_metadata_without_hook) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")},
                         insert_options(Hooks::kOff, {{"tag", "old"}})));
  const std::size_t before = hooks_seen();
  const WriteMark written = mark();
  // ProcessHub drops a bulk_insert whose node multiset equals the stored one, losing the new
  // spec and metadata. procreg writes them ("bulk_insert"): one event, no hook, stored node order
  // kept.
  const ChildSpec spec = make_spec("a", "M", "f", {1});
  const std::uint64_t seq =
      committed(reg().bulk_insert({Entry{spec, {np("n2", "p2"), np("n1", "p1")}, {{"tag", "new"}}}},
                                  write_options(Hooks::kOn)));
  BOOST_TEST(seq == written.seq + 1);
  const Dump expected{{"a", Entry{spec, {np("n1", "p1"), np("n2", "p2")}, {{"tag", "new"}}}}};
  BOOST_TEST(reg().dump() == expected);
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_of_new_node_appends_it_and_hooks_the_diff) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  const std::uint64_t seq =
      committed(reg().bulk_insert({E("a", {np("n2", "p2")})}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n1", "p1"), np("n2", "p2")})}};
  BOOST_TEST(reg().dump() == expected);
  const std::vector<HookEvent> hooks{registered("a", {np("n2", "p2")}, seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_of_changed_pid_replaces_the_pair) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  const std::uint64_t seq =
      committed(reg().bulk_insert({E("a", {np("n1", "p9")})}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n1", "p9")})}};
  BOOST_TEST(reg().dump() == expected);
  const std::vector<HookEvent> hooks{registered("a", {np("n1", "p9")}, seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_of_stored_subset_moves_it_last_without_hook) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")}));
  const std::size_t before = hooks_seen();
  const WriteMark written = mark();
  const std::uint64_t seq =
      committed(reg().bulk_insert({E("a", {np("n1", "p1")})}, write_options(Hooks::kOn)));
  BOOST_TEST(seq == written.seq + 1);
  const std::vector<Pid> pids{"p2", "p1"};
  BOOST_TEST(reg().get_pids("a") == pids);
  BOOST_TEST(reg().get_pid("a").value_or("") == "p2");
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_replaces_metadata_whole) {
  committed(reg().insert(S("a"), {np("n1", "p1")},
                         insert_options(Hooks::kOff, {{"tag", "A"}, {"only_a", 1}})));
  const std::uint64_t seq = committed(
      reg().bulk_insert({E("a", {np("n2", "p2")}, {{"tag", "B"}})}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n1", "p1"), np("n2", "p2")}, {{"tag", "B"}})}};
  BOOST_TEST(reg().dump() == expected);
  const std::vector<HookEvent> hooks{registered("a", {np("n2", "p2")}, seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_insert_with_no_nodes_stores_permanent_unbound_row) {
  committed(reg().bulk_insert({E("b", {}, {{"tag", "t"}})}, write_options(Hooks::kOn)));
  BOOST_TEST(!reg().lookup("b"));
  BOOST_TEST(reg().dump().empty());
  const Dump all{{"b", E("b", {}, {{"tag", "t"}})}};
  BOOST_TEST(reg().dump_all() == all);
  const ChildNodePids tagged{{"b", {}}};
  BOOST_TEST(reg().match_tag("t") == tagged);
  expect_no_hooks_since(0);

  advance(1h);
  BOOST_TEST(janitor_pass() == 0u);
  BOOST_TEST(reg().entry_exists("b"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_removes_only_the_named_nodes) {
  const Metadata meta{{"tag", "t"}, {"x", 1}};
  committed(
      reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")}, insert_options(Hooks::kOff, meta)));
  const std::uint64_t seq =
      committed(reg().bulk_delete({{"a", {"n1"}}}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n2", "p2")}, meta)}};
  BOOST_TEST(reg().dump_all() == expected);
  const std::vector<HookEvent> hooks{unregistered("a", seq)};
  BOOST_TEST(hooks_since(0) == hooks);

  // The remaining row is permanent, not a tombstone.
  advance(45s);
  BOOST_TEST(janitor_pass() == 0u);
  BOOST_TEST(reg().dump_all() == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_of_last_node_leaves_tombstone) {
  const Metadata meta{{"tag", "t"}};
  committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOff, meta)));
  const std::uint64_t seq =
      committed(reg().bulk_delete({{"a", {"n1"}}}, write_options(Hooks::kOn)));
  BOOST_TEST(!reg().lookup("a"));
  BOOST_TEST(reg().dump().empty());
  const Dump all{{"a", E("a", {}, meta)}};
  BOOST_TEST(reg().dump_all() == all);
  BOOST_TEST(reg().entry_exists("a"));
  const std::vector<HookEvent> hooks{unregistered("a", seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_of_absent_node_keeps_row_and_fires_hook) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  const Dump expected{{"a", E("a", {np("n1", "p1")})}};
  const WriteMark before = mark();
  expect_no_event(reg().bulk_delete({{"a", {"n9"}}}), before);

  const std::uint64_t seq =
      committed(reg().bulk_delete({{"a", {"n9"}}}, write_options(Hooks::kOn)));
  BOOST_TEST(reg().dump_all() == expected);
  const std::vector<HookEvent> hooks{unregistered("a", seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_with_no_nodes_keeps_row_and_fires_hook) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  const Dump expected{{"a", E("a", {np("n1", "p1")})}};
  const WriteMark before = mark();
  expect_no_event(reg().bulk_delete({{"a", {}}}), before);

  const std::uint64_t seq = committed(reg().bulk_delete({{"a", {}}}, write_options(Hooks::kOn)));
  BOOST_TEST(reg().dump_all() == expected);
  const std::vector<HookEvent> hooks{unregistered("a", seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_of_unknown_id_does_nothing) {
  const WriteMark before = mark();
  expect_no_event(reg().bulk_delete({{"unknown", {"n1"}}}, write_options(Hooks::kOn)), before);
  BOOST_TEST(!reg().entry_exists("unknown"));
  expect_no_hooks_since(0);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(bulk_delete_keeps_metadata_on_remaining_row_and_tombstone) {
  const Metadata kept{{"tag", "keep"}, {"x", 1}};
  const Metadata gone{{"tag", "gone"}, {"y", 2}};
  committed(
      reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")}, insert_options(Hooks::kOff, kept)));
  committed(reg().insert(S("b"), {np("n1", "p1")}, insert_options(Hooks::kOff, gone)));
  const std::uint64_t seq =
      committed(reg().bulk_delete({{"a", {"n1"}}, {"b", {"n1"}}}, write_options(Hooks::kOn)));
  const Dump expected{{"a", E("a", {np("n2", "p2")}, kept)}, {"b", E("b", {}, gone)}};
  BOOST_TEST(reg().dump_all() == expected);
  const std::vector<HookEvent> hooks{unregistered("a", seq), unregistered("b", seq)};
  BOOST_TEST(hooks_since(0) == hooks);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(update_rewrites_row_without_hooks_and_clears_ttl) {
  InsertOptions with_ttl = insert_options(Hooks::kOff);
  with_ttl.ttl_ms = 5'000;
  committed(reg().insert(S("a"), {np("n1", "p1")}, with_ttl));
  const std::size_t before = hooks_seen();

  const ChildSpec spec = make_spec("a", "M", "f", {1});
  std::optional<Entry> given;
  committed(reg().update(
      "a",
      [&](const ChildSpec& s, const NodePids& n, const Metadata& m) {
        given = Entry{s, n, m};
        return Entry{spec, {np("n1", "p1")}, {{"u", 1}}};
      },
      write_options(Hooks::kOn)));
  const std::optional<Entry> stored = E("a", {np("n1", "p1")});
  BOOST_TEST(given == stored);
  const std::optional<Lookup> expected = Lookup{spec, {np("n1", "p1")}, Metadata{{"u", 1}}};
  BOOST_TEST(reg().lookup("a", with_metadata()) == expected);
  expect_no_hooks_since(before);

  advance(10s);
  BOOST_TEST(janitor_pass() == 0u);
  BOOST_TEST(reg().lookup("a", with_metadata()) == expected);

  // An update that returns the row as it is changes nothing, so it writes nothing ("Events").
  const WriteMark written = mark();
  expect_no_event(reg().update("a", unchanged), written);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(update_of_missing_pending_or_tombstone_row_is_not_found) {
  make_tombstone("t");
  committed(reg().insert(S("p"), {}, insert_options(Hooks::kOff, pending_metadata(now()))));
  const Dump all = reg().dump_all();
  const WriteMark before = mark();
  for (const char* id : {"missing", "p", "t"}) {
    BOOST_TEST_CONTEXT("update(" << id << ")") {
      const Status s = reg().update(id, unchanged).status();
      BOOST_TEST(s.code() == Code::kNotFound);
      BOOST_TEST(s.message() == "No child found");
    }
  }
  BOOST_TEST(reg().last_sequence() == before.seq);
  BOOST_TEST(reg().stats().events_written == before.events_written);
  BOOST_TEST(reg().dump_all() == all);
  reopen_and_compare();
}

// ProcessHub 0.5.0 cannot return "Invalid arguments returned from the update function" (a bad
// result raises in its server and the caller exits); procreg returns it and writes nothing
// ("update"). A throwing function is kInternal, also with nothing written.
BOOST_AUTO_TEST_CASE(update_returning_invalid_row_or_throwing_writes_nothing) {
  committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOff, {{"tag", "t"}})));
  const Dump all = reg().dump_all();
  const WriteMark before = mark();
  const std::vector<std::pair<const char*, Registry::UpdateFn>> invalid{
      {"an empty id",
       [](const ChildSpec&, const NodePids& n, const Metadata& m) {
         return Entry{S(""), n, m};
       }},
      {"an empty node",
       [](const ChildSpec& s, const NodePids&, const Metadata& m) {
         return Entry{s, {np("", "p1")}, m};
       }},
      {"an empty pid",
       [](const ChildSpec& s, const NodePids&, const Metadata& m) {
         return Entry{s, {np("n1", "")}, m};
       }},
  };
  for (const auto& [what, fn] : invalid) {
    BOOST_TEST_CONTEXT("update returning " << what) {
      const Status s = reg().update("a", fn).status();
      BOOST_TEST(s.code() == Code::kInvalidArgument);
      BOOST_TEST(s.message() == "Invalid arguments returned from the update function");
    }
  }
  const Registry::UpdateFn throwing = [](const ChildSpec&, const NodePids&,
                                         const Metadata&) -> Entry {
    throw std::runtime_error("update function failed");
  };
  BOOST_TEST(reg().update("a", throwing).status().code() == Code::kInternal);

  BOOST_TEST(reg().last_sequence() == before.seq);
  BOOST_TEST(reg().stats().events_written == before.events_written);
  BOOST_TEST(reg().dump_all() == all);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(update_changing_id_writes_new_row_and_keeps_old) {
  const Metadata meta{{"tag", "t"}};
  committed(reg().insert(S("a"), {np("n1", "p1")}, insert_options(Hooks::kOff, meta)));
  committed(reg().update("a", [](const ChildSpec&, const NodePids&, const Metadata& m) {
    return Entry{S("b"), {np("n2", "p2")}, m};
  }));
  const Dump expected{{"a", E("a", {np("n1", "p1")}, meta)}, {"b", E("b", {np("n2", "p2")}, meta)}};
  BOOST_TEST(reg().dump_all() == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(clear_all_removes_every_row_of_the_table_without_hooks) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  make_tombstone("b");
  committed(reg().insert(S("c"), {}, insert_options(Hooks::kOff, pending_metadata(now()))));
  InsertOptions in_t2 = insert_options(Hooks::kOff);
  in_t2.table = "T2";
  committed(reg().insert(S("d"), {np("n1", "p1")}, in_t2));
  const std::size_t before = hooks_seen();

  const Result<bool> cleared = reg().clear_all(write_options(Hooks::kOn));
  BOOST_REQUIRE_MESSAGE(cleared.ok(), cleared.status().to_string());
  BOOST_TEST(*cleared);
  BOOST_TEST(reg().dump_all().empty());
  BOOST_TEST(!reg().entry_exists("a"));
  BOOST_TEST(!reg().entry_exists("b"));
  BOOST_TEST(!reg().entry_exists("c"));
  const Dump other{{"d", E("d", {np("n1", "p1")})}};
  BOOST_TEST(reg().dump_all(read_table("T2")) == other);

  // Clearing an empty table changes nothing, so it writes nothing ("Events").
  const WriteMark written = mark();
  const Result<bool> again = reg().clear_all();
  BOOST_REQUIRE_MESSAGE(again.ok(), again.status().to_string());
  BOOST_TEST(*again);
  BOOST_TEST(reg().last_sequence() == written.seq);
  BOOST_TEST(reg().stats().events_written == written.events_written);
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(repeated_bulk_insert_writes_nothing_and_fires_no_hook) {
  const std::vector<Entry> input{E("a", {np("n1", "p1")}, {{"tag", "t"}}),
                                 E("b", {np("n2", "p2"), np("n1", "p3")})};
  committed(reg().bulk_insert(input, write_options(Hooks::kOn)));
  const std::size_t before = hooks_seen();
  const WriteMark written = mark();
  const std::uint64_t without_event = reg().stats().writes_without_event;

  expect_no_event(reg().bulk_insert(input, write_options(Hooks::kOn)), written);
  BOOST_TEST(reg().stats().writes_without_event == without_event + 1);
  Dump expected;
  for (const Entry& e : input) expected.emplace(e.spec.id, e);
  BOOST_TEST(reg().dump() == expected);
  expect_no_hooks_since(before);
  reopen_and_compare();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
