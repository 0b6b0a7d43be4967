// The canonical scan of snapshot rows (events/row_scan.h) against the decoder, both ways:
// - every row procreg encodes scans, and its parts, id, tag, node count, expiry and revision
//   are what the decoder reads (tests/replay/table_row_test.cc checks that a projection row
//   built from a scan is the one built from the decoded entry);
// - bytes that scan are always bytes the decoder accepts and that encode back to themselves:
//   checked on every single-byte change of encoded rows, so that no damaged or foreign row is
//   taken without the decoder's checks;
// - valid rows in other forms than procreg's (another key order, wider heads, float 32) and
//   rows past a limit do not scan: the decoder reads or refuses them.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/encoder.h"
#include "events/row_scan.h"
#include "events/snapshot_row.h"
#include "random_events.h"

namespace procreg::events {
namespace {

std::string encoded_row(const std::string& table, const Row& row, std::uint64_t revision) {
  std::string out;
  encode_snapshot_row(table, row.entry, row.expires_at_ms, revision, &out);
  return out;
}

std::string spec_bytes(const ChildSpec& spec) {
  std::string out;
  Encoder enc(&out);
  write_spec(enc, spec);
  return out;
}

std::string node_pids_bytes(const NodePids& np) {
  std::string out;
  Encoder(&out).node_pids(np);
  return out;
}

std::string metadata_bytes(const Metadata& md) {
  std::string out;
  Encoder(&out).value_map(md);
  return out;
}

// Scan and decode agree on `bytes`: a scan implies a decode of the same row, from bytes that
// are that row's own encoding. Returns whether the scan succeeded.
bool check_agreement(std::string_view bytes, const DecodeLimits& limits = {}) {
  ScannedSnapshotRow scanned;
  if (!scan_snapshot_row(bytes, limits, &scanned)) return false;
  auto decoded = decode_snapshot_row(bytes, limits);
  BOOST_REQUIRE_MESSAGE(decoded.ok(), "scanned but not decoded: " + decoded.status().to_string());
  BOOST_REQUIRE(encoded_row(decoded->table, decoded->row, decoded->revision) == bytes);
  BOOST_TEST(scanned.table == decoded->table);
  BOOST_TEST(scanned.revision == decoded->revision);
  const Entry& e = decoded->row.entry;
  BOOST_TEST(scanned.row.id == e.spec.id);
  BOOST_TEST(scanned.row.node_count == e.node_pids.size());
  BOOST_TEST((scanned.row.expires_at_ms == decoded->row.expires_at_ms));
  BOOST_TEST(scanned.row.parts.spec == spec_bytes(e.spec));
  BOOST_TEST(scanned.row.parts.node_pids == node_pids_bytes(e.node_pids));
  BOOST_TEST(scanned.row.parts.metadata == metadata_bytes(e.metadata));
  const auto tag = e.metadata.find(kTagKey);
  if (tag != e.metadata.end() && tag->second.is_string()) {
    BOOST_TEST((scanned.row.tag == std::optional<std::string_view>(tag->second.as_string())));
  } else {
    BOOST_TEST(!scanned.row.tag.has_value());
  }
  return true;
}

// Checks every single-byte change of `bytes` (and `bytes` truncated and extended) with
// `agree`, which returns whether the changed bytes scanned; counts both outcomes.
template <typename Agree>
void check_single_byte_changes(const std::string& bytes, Agree agree, int* scanned, int* refused) {
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    for (const unsigned x : {0x01u, 0x10u, 0x20u, 0x80u, 0xffu}) {
      std::string changed = bytes;
      changed[at] = static_cast<char>(static_cast<unsigned char>(changed[at]) ^ x);
      if (agree(changed)) {
        ++*scanned;  // e.g. another character of a string: another valid row
      } else {
        ++*refused;
      }
    }
  }
  BOOST_TEST(!agree(std::string_view(bytes).substr(0, bytes.size() - 1)));
  BOOST_TEST(!agree(bytes + '\0'));
}

BOOST_AUTO_TEST_SUITE(row_scan)

BOOST_AUTO_TEST_CASE(every_row_procreg_encodes_scans_as_the_decoder_reads_it) {
  test::RandomEvents gen(20261202);
  for (int i = 0; i < 2'000; ++i) {
    const Row row = gen.row();
    const std::string bytes =
        encoded_row(i % 5 == 0 ? "other" : "hub", row, 1 + gen.below(1u << 20));
    BOOST_REQUIRE_MESSAGE(check_agreement(bytes, record_limits(16u << 20)),
                          "row " << i << " did not scan");
  }
}

BOOST_AUTO_TEST_CASE(no_single_byte_change_scans_unless_the_decoder_takes_it_as_written) {
  test::RandomEvents gen(7);
  int scanned = 0;
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string bytes = encoded_row("hub", gen.row(), 1 + gen.below(100'000));
    check_single_byte_changes(
        bytes, [](std::string_view b) { return check_agreement(b); }, &scanned, &refused);
  }
  BOOST_TEST(scanned > 0);
  BOOST_TEST(refused > 0);
}

// A row held as the decoder's input may come from another writer: valid, but not procreg's
// form. It must not scan (its bytes would not be what procreg's encoder writes for it).
BOOST_AUTO_TEST_CASE(valid_rows_in_other_forms_do_not_scan_and_still_decode) {
  const Entry e{
      make_spec("c1"), {{"n1", "<0.1.0>"}}, {{"a", Value(std::int64_t{1})}, {"tag", Value("t")}}};
  const std::string canonical = encoded_row("hub", Row{e, std::nullopt}, 9);
  BOOST_REQUIRE(check_agreement(canonical));

  // Builds the snapshot row by hand, with the given bytes for the metadata map.
  const auto with_metadata = [&](const std::string& md) {
    std::string out;
    Encoder enc(&out);
    enc.map(4);
    enc.str("v");
    enc.uint(1);
    enc.str("tbl");
    enc.str("hub");
    enc.str("row");
    enc.map(3);
    enc.str("spec");
    write_spec(enc, e.spec);
    enc.str("np");
    enc.node_pids(e.node_pids);
    enc.str("md");
    enc.raw(md);
    enc.str("rev");
    enc.uint(9);
    return out;
  };
  BOOST_REQUIRE(with_metadata(metadata_bytes(e.metadata)) == canonical);
  using namespace std::string_literals;  // (the forms hold NUL bytes)
  const std::vector<std::pair<std::string, std::string>> forms{
      {"keys out of order",
       "\x82\xa3tag\xa1t\xa1"
       "a\x01"s},
      {"str 8 for a short key",
       "\x82\xd9\x01"
       "a\x01\xa3tag\xa1t"s},
      {"uint 8 for a small int",
       "\x82\xa1"
       "a\xcc\x01\xa3tag\xa1t"s},
      {"int 8 for a positive int",
       "\x82\xa1"
       "a\xd0\x01\xa3tag\xa1t"s},
      {"map 16 for a small map",
       "\xde\x00\x02\xa1"
       "a\x01\xa3tag\xa1t"s},
      {"float 32",
       "\x82\xa1"
       "a\xca\x3f\x80\x00\x00\xa3tag\xa1t"s},
  };
  for (const auto& [name, md] : forms) {
    const std::string bytes = with_metadata(md);
    ScannedSnapshotRow scanned;
    BOOST_TEST(!scan_snapshot_row(bytes, {}, &scanned), name);
    BOOST_TEST(decode_snapshot_row(bytes).ok(), name);
  }
}

BOOST_AUTO_TEST_CASE(rows_past_a_limit_do_not_scan) {
  Entry e{make_spec("c1"), {{"n1", "<0.1.0>"}}, {}};
  // Nesting: the metadata map is level 1, so a value nested two deep is level 3.
  e.metadata["deep"] = Value(Value::Array{Value(Value::Array{Value(std::int64_t{-1})})});
  const std::string bytes = encoded_row("hub", Row{e, std::nullopt}, 3);
  DecodeLimits limits;
  limits.max_depth = 3;
  BOOST_TEST(check_agreement(bytes, limits));
  limits.max_depth = 2;
  ScannedSnapshotRow scanned;
  BOOST_TEST(!scan_snapshot_row(bytes, limits, &scanned));
  BOOST_TEST(!decode_snapshot_row(bytes, limits).ok());

  DecodeLimits small;
  small.max_string = 6;  // "<0.1.0>" is 7 bytes
  BOOST_TEST(!scan_snapshot_row(bytes, small, &scanned));
  BOOST_TEST(!decode_snapshot_row(bytes, small).ok());
  DecodeLimits few;
  few.max_bytes = bytes.size() - 1;
  BOOST_TEST(!scan_snapshot_row(bytes, few, &scanned));
  BOOST_TEST(!decode_snapshot_row(bytes, few).ok());
}

// Insert events: what scan_insert_event returns is what decode reads, from bytes that are the
// event's own encoding. Returns whether the scan succeeded.
bool check_event_agreement(std::string_view bytes, const DecodeLimits& limits = {}) {
  ScannedInsert scanned;
  if (!scan_insert_event(bytes, limits, &scanned)) return false;
  auto decoded = decode(bytes, limits);
  BOOST_REQUIRE_MESSAGE(decoded.ok(), "scanned but not decoded: " + decoded.status().to_string());
  BOOST_REQUIRE(encode(*decoded) == bytes);
  BOOST_REQUIRE(decoded->kind() == EventKind::kInsert);
  BOOST_TEST(scanned.hub == decoded->hub);
  BOOST_TEST(scanned.table == decoded->table);
  BOOST_TEST(scanned.seq == decoded->seq);
  BOOST_TEST(scanned.epoch == decoded->epoch);
  BOOST_TEST(scanned.writer_time_ms == decoded->writer_time_ms);
  BOOST_TEST(scanned.hooks == decoded->hooks);
  const Row& row = std::get<Insert>(decoded->body).row;
  BOOST_REQUIRE(encoded_row(decoded->table, row, 1) == [&] {
    std::string out;
    Encoder enc(&out);
    enc.map(4);
    enc.str("v");
    enc.uint(1);
    enc.str("tbl");
    enc.str(scanned.table);
    enc.str("row");
    write_row(enc, scanned.row.parts, scanned.row.expires_at_ms);
    enc.str("rev");
    enc.uint(1);
    return out;
  }());
  BOOST_TEST(check_agreement(encoded_row(decoded->table, row, 1)));
  return true;
}

BOOST_AUTO_TEST_CASE(every_insert_event_procreg_encodes_scans_as_the_decoder_reads_it) {
  test::RandomEvents gen(20261207);
  int inserts = 0;
  for (int i = 0; i < 4'000; ++i) {
    const Event event = gen.event();
    const std::string bytes = encode(event);
    const bool scanned = check_event_agreement(bytes, record_limits(16u << 20));
    BOOST_REQUIRE_MESSAGE(scanned == (event.kind() == EventKind::kInsert),
                          "event " << i << " of kind " << event_kind_name(event.kind()));
    inserts += scanned ? 1 : 0;
  }
  BOOST_TEST(inserts > 100);
}

BOOST_AUTO_TEST_CASE(no_single_byte_change_of_an_insert_scans_unless_the_decoder_takes_it) {
  test::RandomEvents gen(11);
  int scanned = 0;
  int refused = 0;
  // 8 inserts of every shape RandomEvents makes, every byte of each changed 5 ways (some
  // thousands of cases; 40 took over 9 minutes under the address sanitizer).
  for (int events = 0; events < 8;) {
    Event event = gen.event();
    if (event.kind() != EventKind::kInsert) continue;
    ++events;
    check_single_byte_changes(
        encode(event), [](std::string_view b) { return check_event_agreement(b); }, &scanned,
        &refused);
  }
  BOOST_TEST(scanned > 0);
  BOOST_TEST(refused > 0);
}

// Valid insert events in other forms than procreg's decode but do not scan; limits hold.
BOOST_AUTO_TEST_CASE(insert_events_in_other_forms_or_past_a_limit_do_not_scan) {
  Event event;
  event.hub = "hub";
  event.table = "hub";
  event.seq = 7;
  event.epoch = 3;
  event.writer_time_ms = 1'700'000'000'000;
  event.hooks = true;
  event.body = Insert{
      Row{Entry{make_spec("c1"), {{"n1", "<0.1.0>"}}, {{"tag", Value("t")}}}, std::int64_t{5}}};
  const std::string canonical = encode(event);
  BOOST_REQUIRE(check_event_agreement(canonical));
  // The envelope with "seq" as a uint 64 (0xcf) instead of a positive fixint.
  std::string wide = canonical;
  const std::string seq_key = "\xa3seq\x07";
  const auto at = wide.find(seq_key);
  BOOST_REQUIRE(at != std::string::npos);
  wide.replace(at, seq_key.size(), std::string("\xa3seq\xcf\0\0\0\0\0\0\0\x07", 13));
  ScannedInsert scanned;
  BOOST_TEST(!scan_insert_event(wide, {}, &scanned));
  auto decoded = decode(wide);
  BOOST_REQUIRE(decoded.ok());
  BOOST_TEST(decoded->seq == 7u);
  // An unknown key in the envelope: a newer writer's optional addition.
  std::string extra = canonical;
  extra[0] = static_cast<char>(0x8a);  // 10 pairs
  extra += "\xa1z\xc0";
  BOOST_TEST(!scan_insert_event(extra, {}, &scanned));
  BOOST_TEST(decode(extra).ok());

  DecodeLimits few;
  few.max_bytes = canonical.size() - 1;
  BOOST_TEST(!scan_insert_event(canonical, few, &scanned));
  BOOST_TEST(!decode(canonical, few).ok());
  DecodeLimits small;
  small.max_string = 6;  // "<0.1.0>" is 7 bytes
  BOOST_TEST(!scan_insert_event(canonical, small, &scanned));
  BOOST_TEST(!decode(canonical, small).ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::events
