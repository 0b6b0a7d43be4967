// Snapshot files (docs/LOG_FORMAT.md section 12): the exact bytes of a small snapshot, the meta
// round trip, and what the reader refuses.
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "hex.h"
#include "replay/log_test_util.h"
#include "replay/snapshot.h"
#include "temp_dir.h"

namespace procreg::replay {
namespace {

using procreg::testing::from_hex;
using procreg::testing::TempDir;
using procreg::testing::to_hex;

// Hub "h", epoch 7: insert of "a" on node "n" (hooks on), at writer time 1000, seq 1.
struct OneRow : Projection {
  OneRow();
};
OneRow::OneRow() : Projection("h", "n") {
  Projection& p = *this;
  Row row;
  row.entry.spec = make_spec("a", "M", "f");
  row.entry.node_pids = {{"n", "p"}};
  Event e{kEventSchemaVersion, "h", "h", 1, 7, 1000, true, events::Insert{row}};
  BOOST_REQUIRE(p.apply(e).ok());
}

BOOST_AUTO_TEST_SUITE(snapshot_file)

BOOST_AUTO_TEST_CASE(names) {
  BOOST_TEST(snapshot_file_name(42) == "snapshot-00000000000000000042.snap");
  BOOST_TEST(*parse_snapshot_file_name("snapshot-00000000000000000042.snap") == 42u);
  BOOST_TEST(!parse_snapshot_file_name("snapshot-0000000000000000042.snap"));
  BOOST_TEST(!parse_snapshot_file_name("snapshot-00000000000000000042.snap.tmp"));
  BOOST_TEST(!parse_snapshot_file_name("00000000000000000042.log"));
  BOOST_TEST(is_snapshot_temp_name("snapshot-00000000000000000042.snap.tmp"));
  BOOST_TEST(!is_snapshot_temp_name("snapshot-00000000000000000042.snap"));
}

BOOST_AUTO_TEST_CASE(golden_bytes_of_a_one_row_snapshot) {
  TempDir dir;
  auto written = write_snapshot(dir.path(), OneRow(), 5000);
  BOOST_REQUIRE_MESSAGE(written.ok(), written.status().to_string());
  BOOST_TEST(written->name == "snapshot-00000000000000000001.snap");
  const std::string bytes = testing::read_bytes(dir.file(written->name));
  BOOST_TEST(written->bytes == bytes.size());
  const std::string expected = from_hex(
      // header: magic, version 1, meta length 63
      "5052534e"
      "0100"
      "3f000000"
      // meta: {"hub": "h", "ep": 7, "seq": 1, "t": 1000, "created": 5000, "reg": 1, "unreg": 0,
      //        "tables": [["h", 1, 1]], "rows": 1}
      "89"
      "a3687562"
      "a168"
      "a26570"
      "07"
      "a3736571"
      "01"
      "a174"
      "cd03e8"
      "a763726561746564"
      "cd1388"
      "a3726567"
      "01"
      "a5756e726567"
      "00"
      "a67461626c6573"
      "91"
      "93"
      "a168"
      "01"
      "01"
      "a4726f7773"
      "01"
      // header CRC
      + to_hex(bytes.substr(73, 4)) +
      // row record: CRC, length, type 2, then the SnapshotRow
      to_hex(bytes.substr(77, 4)) +
      "38000000"
      "02"
      "84"
      "a176"
      "01"
      "a374626c"
      "a168"
      "a3726f77"
      "83"
      "a473706563"
      "82"
      "a26964"
      "a161"
      "a57374617274"
      "93"
      "a14d"
      "a166"
      "90"
      "a26e70"
      "91"
      "92"
      "a16e"
      "a170"
      "a26d64"
      "80"
      "a3726576"
      "01"
      // end record: CRC, length 8, type 3, one row
      + to_hex(bytes.substr(142, 4)) +
      "08000000"
      "03"
      "0100000000000000");
  BOOST_TEST(to_hex(bytes) == to_hex(expected));
  // The CRCs are the log's masked CRC-32C over the documented ranges.
  auto crc_at = [&](std::size_t at) { return get_u32(bytes.data() + at); };
  BOOST_TEST(bytes.size() == 159u);
  BOOST_TEST(crc32c::unmask(crc_at(73)) == crc32c::value(bytes.data(), 73));
  BOOST_TEST(crc32c::unmask(crc_at(77)) == crc32c::value(bytes.data() + 81, 5 + 56));
  BOOST_TEST(crc32c::unmask(crc_at(142)) == crc32c::value(bytes.data() + 146, 13));
}

BOOST_AUTO_TEST_CASE(a_snapshot_loads_back_into_the_same_state) {
  TempDir dir;
  const OneRow p;
  auto written = write_snapshot(dir.path(), p, 5000);
  BOOST_REQUIRE(written.ok());
  Projection q("h", "n");
  auto meta = load_snapshot(dir.file(written->name), &q);
  BOOST_REQUIRE_MESSAGE(meta.ok(), meta.status().to_string());
  BOOST_TEST((q.dump_all_tables() == p.dump_all_tables()));
  BOOST_TEST(q.last_seq() == 1u);
  BOOST_TEST(q.epoch() == 7u);
  BOOST_TEST(q.max_time_ms() == 1000);
  BOOST_TEST(q.hook_head(HookTopic::kChildRegistered) == 1u);
  BOOST_TEST(q.table("h")->last_seq() == 1u);
  BOOST_TEST(meta->created_ms == 5000);
  // Another hub's projection refuses it and stays empty.
  Projection other("other", "n");
  auto refused = load_snapshot(dir.file(written->name), &other);
  BOOST_TEST(refused.status().code() == Code::kCorruption);
  BOOST_TEST(other.last_seq() == 0u);
}

BOOST_AUTO_TEST_CASE(meta_round_trip_and_unknown_keys) {
  SnapshotMeta m{"hub", 9, 100, -5, 77, 3, 4, {{"a", 10, 2}, {"b", 99, 0}}, 2};
  auto back = decode_meta(encode_meta(m));
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == m));
  // A newer writer's extra key is skipped; a missing key is corruption.
  std::string extra = encode_meta(m);
  extra[0] = static_cast<char>(0x8a);
  extra += from_hex("a3787878c3");  // "xxx": true
  BOOST_TEST(decode_meta(extra).ok());
  std::string missing = encode_meta(m);
  missing[0] = static_cast<char>(0x88);
  missing.resize(missing.size() - 6);  // drop "rows": 2
  BOOST_TEST(decode_meta(missing).status().code() == Code::kCorruption);
}

BOOST_AUTO_TEST_CASE(a_newer_version_is_unsupported_not_corruption) {
  TempDir dir;
  auto written = write_snapshot(dir.path(), OneRow(), 5000);
  BOOST_REQUIRE(written.ok());
  std::string bytes = testing::read_bytes(dir.file(written->name));
  bytes[4] = 2;  // version 2, with a valid header CRC
  put_u32(bytes.data() + 73, crc32c::mask(crc32c::value(bytes.data(), 73)));
  testing::write_bytes(dir.file(written->name), bytes);
  auto reader = SnapshotReader::open(dir.file(written->name));
  BOOST_TEST(reader.status().code() == Code::kUnsupported);
}

BOOST_AUTO_TEST_CASE(seq_zero_has_no_snapshot) {
  TempDir dir;
  Projection empty("h", "n");
  BOOST_TEST(write_snapshot(dir.path(), empty, 0).status().code() == Code::kInvalidArgument);
  BOOST_TEST(std::filesystem::is_empty(dir.path()));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::replay
