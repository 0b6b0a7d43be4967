// StoredRow, the compact row: every part reads back as written (all Value types, every width of
// MessagePack head), its encoded parts are the event format's, and a Table of them keeps its
// tag and local indexes right against a model of plain Entries under random writes.
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "events/snapshot_row.h"
#include "state/table.h"
#include "state/table_row.h"

namespace procreg::replay {
namespace {

Entry rich_entry() {
  ChildSpec spec =
      make_spec("worker-1", "Elixir.MyApp.Worker", "start_link",
                {Value(std::int64_t{-7}), Value(std::uint64_t{1} << 63), Value(1.5), Value(true),
                 Value(), Value("text"), Value(Value::Binary{{0, 1, 255}}),
                 Value(Value::Array{Value(std::int64_t{1}), Value("x")})});
  spec.extra["restart"] = Value("transient");
  spec.extra["shutdown"] = Value(std::int64_t{5000});
  Metadata md{{"tag", Value("eu-west")},
              {"nested", Value(Value::Map{{"k", Value(Value::Array{Value(2.25)})}})},
              {"pending", Value(false)}};
  return Entry{std::move(spec), {{"n1@host", "<0.1.0>"}, {"n2@host", "<0.2.0>"}}, std::move(md)};
}

BOOST_AUTO_TEST_SUITE(table_row)

BOOST_AUTO_TEST_CASE(every_part_reads_back_as_written) {
  const Entry e = rich_entry();
  const StoredRow row(e, std::int64_t{123456}, 42);
  BOOST_TEST(row.id() == "worker-1");
  BOOST_TEST(row.seq == 42u);
  BOOST_TEST(*row.expires_at_ms() == 123456);
  BOOST_TEST(row.bound());
  BOOST_TEST(row.node_count() == 2u);
  BOOST_TEST(row.tag().value() == "eu-west");
  BOOST_TEST((row.spec() == e.spec));
  BOOST_TEST((row.node_pids() == e.node_pids));
  BOOST_TEST((row.metadata() == e.metadata));
  BOOST_TEST((row.entry() == e));
  BOOST_TEST(row.pid_on("n2@host").value() == "<0.2.0>");
  BOOST_TEST(!row.pid_on("n3@host").has_value());
  BOOST_TEST(!row.pid_on("n1").has_value());  // a prefix is another node
}

BOOST_AUTO_TEST_CASE(encoded_parts_are_the_event_format) {
  const Entry e = rich_entry();
  for (const auto& exp : {std::optional<std::int64_t>{}, std::optional<std::int64_t>{-5}}) {
    const StoredRow row(e, exp, 9);
    std::string from_parts, from_entry;
    events::encode_snapshot_row("t", row.encoded(), row.expires_at_ms(), row.seq, &from_parts);
    events::encode_snapshot_row("t", e, exp, 9, &from_entry);
    BOOST_TEST(from_parts == from_entry);
    auto back = events::decode_snapshot_row(from_parts);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST((back.value().row == Row{e, exp}));
  }
}

BOOST_AUTO_TEST_CASE(tag_is_a_string_tag_only) {
  Entry e{make_spec("a"), {}, {{"tag", Value(std::int64_t{3})}}};
  BOOST_TEST(!StoredRow(e, std::nullopt, 1).tag().has_value());
  e.metadata.clear();
  BOOST_TEST(!StoredRow(e, std::nullopt, 1).tag().has_value());
  e.metadata["tag"] = Value("");
  BOOST_TEST(StoredRow(e, std::nullopt, 1).tag().value() == "");
  BOOST_TEST(!StoredRow(e, std::nullopt, 1).bound());
}

BOOST_AUTO_TEST_CASE(wide_heads_read_back) {
  // str8, str16 and str32 strings, and an array16 of 40 pairs.
  NodePids many;
  for (int i = 0; i < 40; ++i) {
    many.push_back({"node" + std::to_string(i) + std::string(i * 9, 'n'),
                    std::string(i == 39 ? 70000 : 300, 'p') + std::to_string(i)});
  }
  Entry e{make_spec(std::string(100, 'i')), many, {{"tag", Value(std::string(70000, 't'))}}};
  const StoredRow row(e, std::nullopt, 1);
  BOOST_TEST((row.node_pids() == many));
  BOOST_TEST((row.entry() == e));
  BOOST_TEST(row.id() == std::string(100, 'i'));
  BOOST_TEST(row.tag()->size() == 70000u);
  BOOST_TEST(row.pid_on(many[39].node).value() == many[39].pid);
  BOOST_TEST(row.pid_on(many[17].node).value() == many[17].pid);
}

BOOST_AUTO_TEST_CASE(with_nodes_keeps_spec_and_metadata) {
  const Entry e = rich_entry();
  const StoredRow row(e, std::nullopt, 3);
  const NodePids next{{"n9@host", "<0.9.0>"}};
  const StoredRow moved = row.with_nodes(next, std::int64_t{77}, 4);
  BOOST_TEST((moved.entry() == Entry{e.spec, next, e.metadata}));
  BOOST_TEST(*moved.expires_at_ms() == 77);
  BOOST_TEST(moved.seq == 4u);
  BOOST_TEST(moved.tag().value() == "eu-west");
  const StoredRow unbound = row.with_nodes({}, std::nullopt, 5);
  BOOST_TEST(!unbound.bound());
  BOOST_TEST((unbound.entry() == Entry{e.spec, {}, e.metadata}));
  StoredRow changed = row;
  changed.set_node_pids(next);
  BOOST_TEST((changed.entry() == moved.entry()));
  BOOST_TEST(changed.seq == 3u);
}

BOOST_AUTO_TEST_CASE(a_copy_shares_the_body_and_outlives_the_rows_changes) {
  const Entry e = rich_entry();
  auto original = std::make_unique<StoredRow>(e, std::nullopt, 3);
  const StoredRow copy = *original;  // what a snapshot capture holds
  BOOST_TEST(static_cast<const void*>(copy.encoded().spec.data()) ==
             static_cast<const void*>(original->encoded().spec.data()));  // shared, not copied
  // The row changes (a new body) and is then destroyed; the copy reads the old entry.
  original->set_node_pids({{"n9@host", "<9.9.9>"}});
  BOOST_TEST(static_cast<const void*>(original->encoded().spec.data()) !=
             static_cast<const void*>(copy.encoded().spec.data()));
  BOOST_TEST(original->node_pids().size() == 1u);
  original->assign(Entry{make_spec("other"), {}, {}}, std::nullopt, 4);
  original.reset();
  BOOST_TEST((copy.entry() == e));
  BOOST_TEST(copy.seq == 3u);
  BOOST_TEST(copy.tag().value() == "eu-west");
  // Copies of copies, assigned over each other, release their bodies once (ASan checks this).
  StoredRow a = copy;
  StoredRow b(Entry{make_spec("b"), {}, {}}, std::nullopt, 1);
  b = a;
  a = StoredRow(Entry{make_spec("a"), {}, {}}, std::nullopt, 2);
  BOOST_TEST((b.entry() == e));
  BOOST_TEST(a.id() == "a");
}

BOOST_AUTO_TEST_CASE(a_row_from_scanned_bytes_is_the_row_from_the_decoded_entry) {
  Entry plain{make_spec("c1"), {}, {}};
  Entry numeric_tag = rich_entry();
  numeric_tag.metadata["tag"] = Value(std::int64_t{5});
  for (const Entry& e : {rich_entry(), plain, numeric_tag}) {
    for (const std::optional<std::int64_t> exp :
         {std::optional<std::int64_t>(), std::optional<std::int64_t>(-5)}) {
      std::string bytes;
      events::encode_snapshot_row("hub", e, exp, 77, &bytes);
      events::ScannedSnapshotRow scanned;
      BOOST_REQUIRE(events::scan_snapshot_row(bytes, {}, &scanned));
      const StoredRow from_scan(scanned.row, scanned.revision);
      const StoredRow from_entry(e, exp, 77);
      BOOST_TEST(from_scan.id() == from_entry.id());
      BOOST_TEST((from_scan.tag() == from_entry.tag()));
      BOOST_TEST(from_scan.node_count() == from_entry.node_count());
      BOOST_TEST(from_scan.encoded().spec == from_entry.encoded().spec);
      BOOST_TEST(from_scan.encoded().node_pids == from_entry.encoded().node_pids);
      BOOST_TEST(from_scan.encoded().metadata == from_entry.encoded().metadata);
      BOOST_TEST((from_scan.expires_at_ms() == exp));
      BOOST_TEST(from_scan.seq == 77u);
      BOOST_TEST(from_scan.holds(e));
      BOOST_TEST((from_scan.entry() == e));
      BOOST_TEST(from_scan.on_node("n1@host") == from_entry.pid_on("n1@host").has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_row_copied_from_another_table_gets_this_tables_index_positions) {
  Table source("n1@host");
  Table dest("n2@host");
  dest.put(Entry{make_spec("a"), {{"n2@host", "<0.1.0>"}}, {}}, std::nullopt, 1);
  dest.put(Entry{make_spec("b"), {{"n2@host", "<0.2.0>"}}, {}}, std::nullopt, 2);
  source.put(Entry{make_spec("f"), {{"n1@host", "<0.3.0>"}}, {}}, std::nullopt, 3);
  source.put(Entry{make_spec("x"), {{"n1@host", "<0.4.0>"}}, {}}, std::nullopt, 4);
  StoredRow copy = *source.find("x");
  BOOST_REQUIRE(copy.local_pos != StoredRow::kNoPos);  // local in its own table, not in dest
  dest.put(std::move(copy));
  BOOST_TEST(dest.local_rows().size() == 2u);
  BOOST_REQUIRE(dest.remove("x"));
  std::set<std::string> local;
  for (const StoredRow* row : dest.local_rows()) local.emplace(row->id());
  BOOST_TEST((local == std::set<std::string>{"a", "b"}));
}

BOOST_AUTO_TEST_CASE(holds_compares_whole_entries) {
  const Entry e = rich_entry();
  const StoredRow row(e, std::nullopt, 1);
  BOOST_TEST(row.holds(e));
  BOOST_TEST(row.holds_spec_and_metadata(e.spec, e.metadata));
  Entry swapped = e;
  std::swap(swapped.node_pids[0], swapped.node_pids[1]);
  BOOST_TEST(!row.holds(swapped));  // node_pids is ordered
  BOOST_TEST(row.holds_spec_and_metadata(swapped.spec, swapped.metadata));
  Entry other_md = e;
  other_md.metadata["pending"] = Value(true);
  BOOST_TEST(!row.holds(other_md));
  BOOST_TEST(!row.holds_spec_and_metadata(other_md.spec, other_md.metadata));
  Entry other_id = e;
  other_id.spec.id = "worker-2";
  BOOST_TEST(!row.holds(other_id));
  BOOST_TEST(!row.holds_spec_and_metadata(other_id.spec, other_id.metadata));
}

// The body has no separators: an entry whose parts are cut elsewhere but whose bytes run the
// same (a tag string holding what the other row's metadata binary holds) is another entry.
BOOST_AUTO_TEST_CASE(holds_does_not_match_the_same_bytes_cut_elsewhere) {
  const ChildSpec spec = make_spec("x");
  const Entry probe{spec, {}, {{"tag", Value("T")}}};
  const StoredRow probe_row(probe, std::nullopt, 0);
  // The stored row's metadata is {"a": bin(B)} and the incoming one's {"tag": T}: choose T and
  // B so that body = id | spec | np | {"a": bin(B)} = id | T | spec | np | {"tag": T}.
  std::string spec_np;
  {
    const events::EncodedEntry parts = probe_row.encoded();
    spec_np = std::string(parts.spec) + std::string(parts.node_pids);
  }
  // {"a": bin8(B)} is 81 a1 'a' c4 len B; the incoming body after the id is T | spec_np | md2
  // with md2 = 81 a3 "tag" <str T>. Let T = spec_np | 81 a1 'a' c4 len, so that B = spec_np |
  // md2 and both bodies are id | spec_np | 81 a1 'a' c4 len | spec_np | md2.
  const std::size_t head = spec_np.size() + 5;  // T's length
  std::string md2 = "\x81\xa3tag";
  if (head < 32) {
    md2 += static_cast<char>(0xa0 | head);  // fixstr
  } else {
    md2 += "\xd9";  // str8
    md2 += static_cast<char>(head);
  }
  const std::size_t b_len = spec_np.size() + md2.size() + head;
  BOOST_REQUIRE(head < 256);
  BOOST_REQUIRE(b_len < 256);  // bin8
  std::string t = spec_np +
                  "\x81\xa1"
                  "a"
                  "\xc4" +
                  std::string(1, static_cast<char>(b_len));
  BOOST_REQUIRE(t.size() == head);
  std::string b = spec_np + md2 + t;
  const Entry stored{spec, {}, {{"a", Value(Value::Binary{{b.begin(), b.end()}})}}};
  const Entry incoming{spec, {}, {{"tag", Value(t)}}};
  const StoredRow row(stored, std::nullopt, 1);
  BOOST_TEST(!(stored == incoming));
  // The two bodies are byte for byte the same (what the test is built on); only the cuts differ.
  BOOST_TEST(row.id() == "x");
  BOOST_TEST(!row.holds(incoming));
  BOOST_TEST(row.holds(stored));
  BOOST_TEST(!StoredRow(incoming, std::nullopt, 1).holds(stored));
}

// A Table of compact rows against a model of plain entries: random puts, node changes and
// removals; after each step every row, the tag index and the local index agree with the model.
BOOST_AUTO_TEST_CASE(table_indexes_follow_a_model) {
  struct ModelRow {
    Entry entry;
    std::optional<std::int64_t> exp;
  };
  std::map<std::string, ModelRow> model;
  Table table("local@host");
  std::mt19937 rng(12345);
  const std::vector<std::string> nodes{"local@host", "a@host", "b@host"};
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const auto random_pids = [&] {
    NodePids out;
    const int n = pick(3);
    for (int i = 0; i < n; ++i)
      out.push_back({nodes[pick(3)], "<0." + std::to_string(rng() % 99) + ".0>"});
    return out;
  };
  for (int step = 0; step < 3000; ++step) {
    const std::string id = "c" + std::to_string(pick(60));
    const int op = pick(10);
    if (op < 5) {
      Metadata md;
      if (pick(3) != 0) md["tag"] = Value("t" + std::to_string(pick(4)));
      std::optional<std::int64_t> exp;
      if (pick(4) == 0) exp = 1000 + pick(100);
      Entry e{make_spec(id), random_pids(), md};
      table.put(e, exp, step + 1);
      model[id] = ModelRow{e, exp};
    } else if (op < 8) {
      const NodePids np = random_pids();
      std::optional<std::int64_t> exp;
      if (np.empty()) exp = 5000;
      const bool present = model.count(id) != 0;
      BOOST_TEST(table.set_nodes(id, np, exp, step + 1) == present);
      if (present)
        model[id] = ModelRow{Entry{model[id].entry.spec, np, model[id].entry.metadata}, exp};
    } else {
      BOOST_TEST(table.remove(id) == (model.erase(id) != 0));
    }
    if (step % 50 != 0 && step != 2999) continue;
    BOOST_REQUIRE(table.size() == model.size());
    std::map<std::string, std::set<std::string>> tagged;
    std::set<std::string> local;
    for (const auto& [mid, m] : model) {
      const StoredRow* row = table.find(mid);
      BOOST_REQUIRE(row != nullptr);
      BOOST_TEST((row->entry() == m.entry));
      BOOST_TEST((row->expires_at_ms() == m.exp));
      auto tag = m.entry.metadata.find("tag");
      if (!m.exp && tag != m.entry.metadata.end()) tagged[tag->second.as_string()].insert(mid);
      for (const auto& p : m.entry.node_pids) {
        if (p.node == "local@host") local.insert(mid);
      }
    }
    for (int t = 0; t < 4; ++t) {
      std::set<std::string> got;
      for (const StoredRow* r : table.tagged("t" + std::to_string(t))) got.emplace(r->id());
      BOOST_TEST((got == tagged["t" + std::to_string(t)]));
    }
    std::set<std::string> got_local;
    for (const StoredRow* r : table.local_rows()) got_local.emplace(r->id());
    BOOST_TEST((got_local == local));
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::replay
