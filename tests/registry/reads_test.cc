// The registry's reads (docs/SEMANTICS.md, "Reads"): tables, pids, local queries,
// process_list, contains_children, match_tag and registry.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "registry/fixture.h"

namespace procreg::testing {
namespace {

// The queries whose order ProcessHub leaves unspecified, in child id order.
template <typename Pairs>
Pairs by_id(Pairs pairs) {
  std::sort(pairs.begin(), pairs.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  return pairs;
}

BOOST_FIXTURE_TEST_SUITE(reads, RegistryFixture)

BOOST_AUTO_TEST_CASE(table_option_reads_and_writes_the_alternate_table) {
  InsertOptions in_t2 = insert_options(Hooks::kOn);
  in_t2.table = "T2";
  const std::uint64_t seq = committed(reg().insert(S("a"), {np("n1", "p1")}, in_t2));
  BOOST_TEST(!reg().lookup("a"));
  BOOST_TEST(!reg().entry_exists("a"));
  LookupOptions lookup_t2;
  lookup_t2.table = "T2";
  const std::optional<Lookup> found = Lookup{S("a"), {np("n1", "p1")}, std::nullopt};
  BOOST_TEST(reg().lookup("a", lookup_t2) == found);
  const std::vector<HookEvent> hooks{registered("a", {np("n1", "p1")}, seq, "T2")};
  BOOST_TEST(hooks_since(0) == hooks);

  // Both tables hold their own row "a"; each write changes only the table it names.
  committed(reg().insert(S("a"), {np("n2", "p2")}));
  committed(reg().bulk_delete({{"a", {"n1"}}}, write_options(Hooks::kOff, "T2")));
  BOOST_TEST(reg().get_pid("a").value_or("") == "p2");
  BOOST_TEST(!reg().get_pid("a", read_table("T2")));
  BOOST_TEST(reg().entry_exists("a", read_table("T2")));
  const std::map<std::string, Dump> tables{{kHub, {{"a", E("a", {np("n2", "p2")})}}},
                                           {"T2", {{"a", E("a", {})}}}};
  BOOST_TEST(reg().dump_all_tables() == tables);

  committed(reg().erase("a", write_options(Hooks::kOff, "T2")));
  BOOST_TEST(!reg().entry_exists("a", read_table("T2")));
  BOOST_TEST(reg().entry_exists("a"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(get_pids_and_get_pid_follow_node_order) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")}));
  make_tombstone("t");
  const std::vector<Pid> pids{"p1", "p2"};
  BOOST_TEST(reg().get_pids("a") == pids);
  BOOST_TEST(reg().get_pid("a").value_or("") == "p1");
  BOOST_TEST(reg().get_pids("missing").empty());
  BOOST_TEST(!reg().get_pid("missing"));
  BOOST_TEST(reg().get_pids("t").empty());
  BOOST_TEST(!reg().get_pid("t"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(local_pid_is_the_pid_paired_with_the_local_node) {
  committed(reg().insert(S("a"), {np("n0", "pL"), np("n1", "p1")}));
  committed(reg().insert(S("b"), {np("n1", "p1")}));
  committed(reg().insert(S("c"), {np("n1", "p1"), np("n0", "pL2")}));
  BOOST_TEST(reg().local_pid("a").value_or("") == "pL");
  BOOST_TEST(!reg().local_pid("b"));
  BOOST_TEST(reg().local_pid("c").value_or("") == "pL2");
  BOOST_TEST(!reg().local_pid("missing"));
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(process_list_global_has_bound_rows_and_local_has_local_pids) {
  committed(reg().insert(S("a"), {np("n0", "pa")}));
  committed(reg().insert(S("b"), {np("n1", "pb"), np("n0", "pb0")}));
  committed(reg().insert(S("c"), {np("n1", "pc")}));
  make_tombstone("d");
  committed(reg().insert(S("e"), {}));
  const ChildNodePids global{
      {"a", {np("n0", "pa")}}, {"b", {np("n1", "pb"), np("n0", "pb0")}}, {"c", {np("n1", "pc")}}};
  BOOST_TEST(by_id(reg().process_list(Scope::kGlobal)) == global);
  const ChildNodePids local{{"a", {np("n0", "pa")}}, {"b", {np("n0", "pb0")}}};
  BOOST_TEST(by_id(reg().process_list(Scope::kLocal)) == local);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(local_queries_return_rows_containing_the_local_node) {
  const Entry a = E("a", {np("n0", "pa")}, {{"tag", "x"}});
  const Entry b = E("b", {np("n1", "pb"), np("n0", "pb0")});
  committed(reg().bulk_insert({a, b, E("c", {np("n1", "pc")})}));
  make_tombstone("d");
  const std::vector<std::pair<ChildId, Entry>> data{{"a", a}, {"b", b}};
  BOOST_TEST(by_id(reg().local_data()) == data);
  const Dump children{{"a", a}, {"b", b}};
  BOOST_TEST(reg().local_children() == children);
  std::vector<ChildSpec> specs = reg().local_child_specs();
  std::sort(specs.begin(), specs.end(),
            [](const ChildSpec& x, const ChildSpec& y) { return x.id < y.id; });
  const std::vector<ChildSpec> expected_specs{S("a"), S("b")};
  BOOST_TEST(specs == expected_specs);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(contains_children_answers_bound_ids_once_in_input_order) {
  committed(reg().insert(S("a"), {np("n1", "p1")}));
  committed(reg().insert(S("b"), {np("n2", "p2")}));
  make_tombstone("c");
  const std::vector<ChildId> ab{"a", "b"};
  BOOST_TEST(reg().contains_children({"x", "a", "a", "b"}) == ab);
  const std::vector<ChildId> ba{"b", "a"};
  BOOST_TEST(reg().contains_children({"b", "c", "a", "b", "a"}) == ba);
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(match_tag_is_exact_and_skips_ttl_rows) {
  committed(reg().insert(S("a"), {np("n1", "p1")},
                         insert_options(Hooks::kOff, {{"tag", "t"}, {"x", 1}})));
  committed(reg().insert(S("b"), {np("n1", "p1")}, insert_options(Hooks::kOff, {{"tag", "T"}})));
  // procreg has no atoms: a binary "t" stands for ProcessHub's :t, an equal-looking other term.
  committed(reg().insert(S("c"), {np("n1", "p1")},
                         insert_options(Hooks::kOff, {{"tag", Value::Binary{{'t'}}}})));
  InsertOptions ttl_row = insert_options(Hooks::kOff, {{"tag", "t"}});
  ttl_row.ttl_ms = 60'000;
  committed(reg().insert(S("d"), {np("n1", "p1")}, ttl_row));
  Metadata pending = pending_metadata(now());
  pending.emplace("tag", "t");
  committed(reg().insert(S("e"), {}, insert_options(Hooks::kOff, pending)));
  committed(reg().insert(S("f"), {}, insert_options(Hooks::kOff, {{"tag", "t"}})));

  const ChildNodePids t{{"a", {np("n1", "p1")}}, {"f", {}}};
  BOOST_TEST(by_id(reg().match_tag("t")) == t);
  const ChildNodePids upper{{"b", {np("n1", "p1")}}};
  BOOST_TEST(reg().match_tag("T") == upper);
  BOOST_TEST(reg().match_tag("other").empty());
  reopen_and_compare();
}

BOOST_AUTO_TEST_CASE(registry_maps_bound_rows_to_spec_and_node_pids) {
  committed(reg().insert(S("a"), {np("n1", "p1"), np("n2", "p2")},
                         insert_options(Hooks::kOff, {{"tag", "t"}})));
  committed(reg().insert(S("b"), {}));
  make_tombstone("c");
  const RegistryMap expected{{"a", {S("a"), {np("n1", "p1"), np("n2", "p2")}}}};
  BOOST_TEST(reg().registry() == expected);
  reopen_and_compare();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
