// The segment header's versions (docs/LOG_FORMAT.md section 3): version 4 records whether the
// segment is zero-filled (its unsynced_limit), version 3 the writer's term and incarnation, version
// 2 the writer's max_record_bytes and every segment is read with its own; version 1 and 2 segments
// still open and replay; a header claiming an impossible limit is corruption.
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>
#include <string>

#include "hex.h"
#include "log/crc32c.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/segment_reader.h"
#include "replay/log_test_util.h"

namespace procreg::replay {
namespace {

using procreg::testing::from_hex;
using testing::kHub;
using testing::open_log;
using testing::options_with;
using testing::read_all;
using testing::read_bytes;
using testing::record_bytes;
using testing::TempDir;
using testing::write_bytes;

constexpr std::uint64_t kGoldenEpoch = 0x0123456789ABCDEFull;

// docs/LOG_FORMAT.md section 3: epoch 0x0123456789ABCDEF, first_seq 1, hub "hub-a", in
// version 4 with max_record_bytes 16 MiB, term 2, incarnation 0x1122334455667788 and
// unsynced_limit 20 MiB + 17 (4 MiB + 17 + 16 MiB, what a writer with that limit records), in
// version 3 with the same but the limit, in version 2 with that max_record_bytes, and in
// version 1.
constexpr std::uint32_t kGoldenUnsyncedLimit = (4u << 20) + 17u + (16u << 20);
const std::string kGoldenV4 = from_hex(
    "50524c47 0400 3b00 efcdab8967452301 0100000000000000 00000001 0200000000000000 "
    "8877665544332211 11004001 0500 6875622d61 3e2eadb8");
const std::string kGoldenV3 = from_hex(
    "50524c47 0300 3700 efcdab8967452301 0100000000000000 00000001 0200000000000000 "
    "8877665544332211 0500 6875622d61 d521eff1");
const std::string kGoldenV2 = from_hex(
    "50524c47 0200 2700 efcdab8967452301 0100000000000000 00000001 0500 6875622d61 a869bb4d");
const std::string kGoldenV1 =
    from_hex("50524c47 0100 2300 efcdab8967452301 0100000000000000 0500 6875622d61 ed6a1a4c");

// A header of version 1 or 2, as writers before version 3 wrote them: version 1 has no
// max_record_bytes, so its hub length and hub come 4 bytes earlier.
std::string old_header(std::uint16_t version, std::uint64_t epoch, std::uint64_t first_seq,
                       const std::string& hub, std::uint32_t max_record_bytes) {
  const bool v1 = version == kFormatVersion1;
  const std::size_t hub_offset = v1 ? kV1HeaderHubOffset : kV2HeaderHubOffset;
  std::string out(hub_offset + kCrcBytes + hub.size(), '\0');
  char* p = out.data();
  kSegmentMagic.copy(p, kSegmentMagic.size());
  put_u16(p + kHeaderVersionOffset, version);
  put_u16(p + kHeaderLengthOffset, static_cast<std::uint16_t>(out.size()));
  put_u64(p + kHeaderEpochOffset, epoch);
  put_u64(p + kHeaderFirstSeqOffset, first_seq);
  if (!v1) put_u32(p + kHeaderMaxRecordOffset, max_record_bytes);
  put_u16(p + (v1 ? kV1HeaderHubLengthOffset : kV2HeaderHubLengthOffset),
          static_cast<std::uint16_t>(hub.size()));
  std::memcpy(p + hub_offset, hub.data(), hub.size());
  const std::size_t crc_offset = out.size() - kCrcBytes;
  put_u32(p + crc_offset, crc32c::mask(crc32c::value(p, crc_offset)));
  return out;
}

std::string v1_header(std::uint64_t epoch, std::uint64_t first_seq, const std::string& hub) {
  return old_header(kFormatVersion1, epoch, first_seq, hub, 0);
}

std::string v2_header(std::uint64_t epoch, std::uint64_t first_seq, const std::string& hub,
                      std::uint32_t max_record_bytes = kDefaultMaxRecordBytes) {
  return old_header(kFormatVersion2, epoch, first_seq, hub, max_record_bytes);
}

SegmentHeader v4(std::uint64_t epoch, std::uint64_t first_seq, std::uint32_t max_record_bytes,
                 std::uint64_t term, std::uint64_t incarnation) {
  SegmentHeader h{epoch, first_seq, kHub, max_record_bytes};
  h.term = term;
  h.incarnation = incarnation;
  return h;
}

// The header of dir/name as the reader decodes it.
SegmentHeader header_of(const std::string& dir, const std::string& name) {
  auto segment = SegmentReader::open(dir, name);
  BOOST_REQUIRE(segment.ok());
  SegmentHeader header;
  auto step = segment->read_header(0, &header);
  BOOST_REQUIRE_MESSAGE(step.ok(), step.status().to_string());
  BOOST_REQUIRE(*step == SegmentReader::Step::kOk);
  return header;
}

// Opening the log as its writer and reading it both fail with kCorruption whose message
// starts with "segment <name>, offset <offset>:" and holds `detail`; nothing is changed.
void expect_corruption(const std::string& dir, const std::string& name, std::uint64_t offset,
                       const std::string& detail) {
  const auto before = testing::snapshot(dir);
  auto log = Log::open(dir, kHub, options_with(Durability::kNone));
  BOOST_REQUIRE(!log.ok());
  const Status& s = log.status();
  BOOST_TEST(s.code() == Code::kCorruption, s.to_string());
  const std::string where = "segment " + name + ", offset " + std::to_string(offset) + ": ";
  BOOST_TEST(s.message().find(where) == 0u, s.message());
  BOOST_TEST(s.message().find(detail) != std::string::npos, s.message());
  BOOST_TEST((testing::reader_error(dir) == s), testing::reader_error(dir).to_string());
  BOOST_TEST((testing::snapshot(dir) == before));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_header_test)

BOOST_AUTO_TEST_CASE(headers_match_the_documented_golden_bytes) {
  SegmentHeader golden4 = v4(kGoldenEpoch, 1, 16u << 20, 2, 0x1122334455667788ull);
  golden4.unsynced_limit = kGoldenUnsyncedLimit;
  BOOST_TEST(encode_segment_header(golden4) == kGoldenV4);
  BOOST_TEST(v2_header(kGoldenEpoch, 1, kHub) == kGoldenV2);
  BOOST_TEST(v1_header(kGoldenEpoch, 1, kHub) == kGoldenV1);
  // The fields at the documented offsets.
  const char* p = kGoldenV4.data();
  BOOST_TEST(get_u16(p + kHeaderVersionOffset) == 4u);
  BOOST_TEST(get_u16(p + kHeaderLengthOffset) == 59u);
  BOOST_TEST(get_u32(p + kHeaderMaxRecordOffset) == 16u << 20);
  BOOST_TEST(get_u64(p + kHeaderTermOffset) == 2u);
  BOOST_TEST(get_u64(p + kHeaderIncarnationOffset) == 0x1122334455667788ull);
  BOOST_TEST(get_u32(p + kHeaderUnsyncedLimitOffset) == kGoldenUnsyncedLimit);
  BOOST_TEST(get_u16(p + kHeaderHubLengthOffset) == 5u);
  BOOST_TEST(std::string(p + kHeaderHubOffset, 5) == kHub);
  // Version 3: the same fields up to the incarnation, then the hub.
  BOOST_TEST(get_u16(kGoldenV3.data() + kV3HeaderHubLengthOffset) == 5u);
  BOOST_TEST(std::string(kGoldenV3.data() + kV3HeaderHubOffset, 5) == kHub);

  TempDir tmp;
  for (const std::string& golden : {kGoldenV4, kGoldenV3, kGoldenV2, kGoldenV1}) {
    write_bytes(tmp.file(segment_file_name(1)), golden);
    const SegmentHeader header = header_of(tmp.path(), segment_file_name(1));
    const std::uint16_t version = get_u16(golden.data() + kHeaderVersionOffset);
    BOOST_TEST(header.version == version);
    BOOST_TEST(header.epoch == kGoldenEpoch);
    BOOST_TEST(header.first_seq == 1u);
    BOOST_TEST(header.hub == kHub);
    BOOST_TEST(header.max_record_bytes == 16u << 20);  // version 1: the default
    BOOST_TEST(header.term == (version >= 3 ? 2u : 0u));
    BOOST_TEST(header.incarnation == (version >= 3 ? 0x1122334455667788ull : 0u));
    BOOST_TEST(header.unsynced_limit == (version == 4 ? kGoldenUnsyncedLimit : 0u));
  }
}

// docs/LOG_FORMAT.md sections 3 and 5: each open is an incarnation with a segment of its own;
// the term carries over, rises when asked, and a writer of a lower term is refused.
BOOST_AUTO_TEST_CASE(each_incarnation_has_its_segments_and_terms_only_rise) {
  TempDir tmp;
  std::uint64_t first = 0;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    first = log->incarnation();
    for (std::uint64_t seq = 1; seq <= 3; ++seq) PROCREG_REQUIRE_OK(log->append(seq, "a"));
  }
  std::uint64_t second = 0;
  {
    LogOptions promoted = options_with(Durability::kNone);
    promoted.term = 5;
    auto log = open_log(tmp.path(), promoted);
    second = log->incarnation();
    BOOST_TEST(second != first);
    BOOST_TEST(log->term() == 5u);
    BOOST_TEST(log->start_seq() == 4u);
    BOOST_TEST(log->prev_incarnation() == first);
    PROCREG_REQUIRE_OK(log->append(4, "b"));
  }
  const SegmentHeader one = header_of(tmp.path(), segment_file_name(1));
  const SegmentHeader four = header_of(tmp.path(), segment_file_name(4));
  BOOST_TEST(one.term == 1u);
  BOOST_TEST(one.incarnation == first);
  BOOST_TEST(four.term == 5u);
  BOOST_TEST(four.incarnation == second);

  // A writer of an older term is fenced: refused, nothing changed.
  const auto before = testing::snapshot(tmp.path());
  LogOptions old = options_with(Durability::kNone);
  old.term = 4;
  auto fenced = Log::open(tmp.path(), kHub, old);
  BOOST_TEST(fenced.status().code() == Code::kConflict, fenced.status().to_string());
  BOOST_TEST(fenced.status().message().find("term 5") != std::string::npos);
  BOOST_TEST((testing::snapshot(tmp.path()) == before));
  // Term 0 keeps the log's; the record before the new start is the second incarnation's, found
  // in an earlier segment when the last one is empty.
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    BOOST_TEST(log->term() == 5u);
    BOOST_TEST(log->prev_incarnation() == second);
  }
  auto again = open_log(tmp.path(), options_with(Durability::kNone));
  BOOST_TEST(again->prev_incarnation() == second);
  BOOST_TEST(again->start_seq() == 5u);
  again.reset();
  // A raised term is on disk at open: a writer promoted and restarted before its first write
  // comes back at that term.
  {
    LogOptions raised = options_with(Durability::kNone);
    raised.term = 7;
    auto log = open_log(tmp.path(), raised);
  }
  BOOST_TEST(open_log(tmp.path(), options_with(Durability::kNone))->term() == 7u);
}

// A log of version 2 segments (no terms) opens at term 1, its records of no known incarnation.
BOOST_AUTO_TEST_CASE(a_log_from_before_terms_opens_at_term_one) {
  TempDir tmp;
  std::string segment = v2_header(77, 1, kHub);
  segment += record_bytes(1, "old");
  write_bytes(tmp.file(segment_file_name(1)), segment);
  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  BOOST_TEST(log->term() == 1u);
  BOOST_TEST(log->prev_incarnation() == 0u);
  BOOST_TEST(log->start_seq() == 2u);
  PROCREG_REQUIRE_OK(log->append(2, "new"));
  BOOST_TEST(read_bytes(tmp.file(segment_file_name(1))) == segment);
  BOOST_TEST(header_of(tmp.path(), segment_file_name(2)).term == 1u);
}

BOOST_AUTO_TEST_CASE(every_segment_a_writer_creates_records_its_limit) {
  TempDir tmp;
  LogOptions options = options_with(Durability::kNone, 4096);
  options.max_record_bytes = 1000;
  auto log = open_log(tmp.path(), options);
  for (std::uint64_t seq = 1; seq <= 40; ++seq) {
    PROCREG_REQUIRE_OK(log->append(seq, std::string(900, 'r')));
  }
  PROCREG_REQUIRE_OK(log->close());
  BOOST_TEST_REQUIRE(log->segments().size() > 3u);
  for (const SegmentInfo& s : log->segments()) {
    const std::string bytes = read_bytes(tmp.file(s.name));
    BOOST_TEST(get_u16(bytes.data() + kHeaderVersionOffset) == kFormatVersion);
    BOOST_TEST(get_u32(bytes.data() + kHeaderMaxRecordOffset) == 1000u);
  }
}

BOOST_AUTO_TEST_CASE(a_log_with_a_non_default_limit_recovers_and_replays_with_none_passed) {
  TempDir tmp;
  const std::string big(17u << 20, 'b');  // over the default 16 MiB
  LogOptions large = options_with(Durability::kNone);
  large.max_record_bytes = 20u << 20;
  {
    auto log = open_log(tmp.path(), large);
    PROCREG_REQUIRE_OK(log->append(1, "small"));
    PROCREG_REQUIRE_OK(log->append(2, big));
  }
  auto records = read_all(tmp.path());  // no limit passed
  BOOST_REQUIRE_EQUAL(records.size(), 2u);
  BOOST_TEST((records[1].payload == big));

  // A writer restarted with the default limit recovers the segment by its header's limit, then
  // appends to a new segment that records its own (made at its first append).
  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  BOOST_TEST(log->last_seq() == 2u);
  BOOST_TEST(!log->recovery().truncated_tail);
  BOOST_REQUIRE_EQUAL(log->segments().size(), 1u);
  BOOST_TEST(log->append(3, big).code() == Code::kResourceExhausted);
  PROCREG_REQUIRE_OK(log->append(3, "after the restart"));
  BOOST_REQUIRE_EQUAL(log->segments().size(), 2u);
  PROCREG_REQUIRE_OK(log->close());
  BOOST_TEST(header_of(tmp.path(), segment_file_name(1)).max_record_bytes == 20u << 20);
  BOOST_TEST(header_of(tmp.path(), segment_file_name(3)).max_record_bytes == 16u << 20);
  records = read_all(tmp.path());
  BOOST_REQUIRE_EQUAL(records.size(), 3u);
  BOOST_TEST((records[1].payload == big));
  BOOST_TEST(records[2].segment == segment_file_name(3));
  // Reopened with the larger limit again: one more segment at the first append.
  auto again = open_log(tmp.path(), large);
  PROCREG_REQUIRE_OK(again->append(4, "four"));
  BOOST_TEST(again->segments().size() == 3u);
}

BOOST_AUTO_TEST_CASE(each_segment_is_read_with_the_limit_its_header_records) {
  TempDir tmp;
  const std::string large(100'000, 'x');
  write_bytes(tmp.file(segment_file_name(1)),
              encode_segment_header({77, 1, kHub, 200'000}) + record_bytes(1, large));
  write_bytes(tmp.file(segment_file_name(2)),
              encode_segment_header({77, 2, kHub, 64 << 10}) + record_bytes(2, "small"));
  BOOST_TEST(read_all(tmp.path()).size() == 2u);
  // The second segment's limit is its own, whatever the first one's.
  write_bytes(tmp.file(segment_file_name(2)), encode_segment_header({77, 2, kHub, 64 << 10}) +
                                                  record_bytes(2, "small") +
                                                  record_bytes(3, large));
  const std::size_t offset = kMinHeaderBytes + std::strlen(kHub) + kRecordHeaderBytes + 5;
  expect_corruption(tmp.path(), segment_file_name(2), offset,
                    "record length 100000 exceeds the limit of 65536 bytes (last good seq 2)");
}

BOOST_AUTO_TEST_CASE(a_header_claiming_an_impossible_limit_is_corruption_naming_the_segment) {
  TempDir tmp;
  for (const std::uint32_t limit : {0u, kMaxRecordBytesCap + 1, 0xFFFFFFFFu}) {
    BOOST_TEST_CONTEXT("max_record_bytes " << limit) {
      std::filesystem::remove_all(tmp.path());
      std::filesystem::create_directories(tmp.path());
      // The header is intact (its CRC verifies): no writer writes such a limit.
      write_bytes(tmp.file(segment_file_name(1)),
                  encode_segment_header({77, 1, kHub, limit}) + record_bytes(1, "one"));
      expect_corruption(tmp.path(), segment_file_name(1), kHeaderMaxRecordOffset,
                        "the header's max_record_bytes " + std::to_string(limit) +
                            " is outside 1..1073741824 (last good seq 0)");
      // The same in a later segment.
      write_bytes(tmp.file(segment_file_name(1)),
                  encode_segment_header({77, 1, kHub}) + record_bytes(1, "one"));
      write_bytes(tmp.file(segment_file_name(2)),
                  encode_segment_header({77, 2, kHub, limit}) + record_bytes(2, "two"));
      expect_corruption(tmp.path(), segment_file_name(2), kHeaderMaxRecordOffset,
                        "is outside 1..1073741824 (last good seq 1)");
    }
  }
  // Nor may a writer use such a limit, nor a reader be given one for version 1 segments.
  for (const std::uint32_t limit : {0u, kMaxRecordBytesCap + 1}) {
    LogOptions options = options_with(Durability::kNone);
    options.max_record_bytes = limit;
    BOOST_TEST(Log::open(tmp.path() + "/new", kHub, options).status().code() ==
               Code::kInvalidArgument);
    BOOST_TEST(LogReader::open(tmp.path(), 1, limit).status().code() == Code::kInvalidArgument);
  }
  BOOST_TEST(!std::filesystem::exists(tmp.path() + "/new/" + segment_file_name(1)));
}

BOOST_AUTO_TEST_CASE(a_version_1_log_still_opens_replays_and_continues_in_version_2) {
  TempDir tmp;
  const std::string large(100'000, 'x');
  const std::string v1 = v1_header(77, 1, kHub) + record_bytes(1, "one") + record_bytes(2, large) +
                         record_bytes(3, "three");
  write_bytes(tmp.file(segment_file_name(1)), v1);
  // Read with the default limit, or with the one given for version 1 segments.
  auto records = read_all(tmp.path());
  BOOST_REQUIRE_EQUAL(records.size(), 3u);
  BOOST_TEST((records[1].payload == large));
  auto reader = LogReader::open(tmp.path(), 1, 64 << 10);
  BOOST_REQUIRE(reader.ok());
  BOOST_TEST((*reader)->epoch() == 77u);
  LogRecord record;
  BOOST_TEST(*(*reader)->next(&record));
  auto refused = (*reader)->next(&record);
  BOOST_TEST(refused.status().code() == Code::kCorruption);
  BOOST_TEST(refused.status().message().find("segment " + segment_file_name(1) + ", offset " +
                                             std::to_string(kV1MinHeaderBytes + 5 + 17 + 3) +
                                             ": record length 100000 exceeds the limit of 65536") ==
             0u);

  // The writer recovers it (a version 1 segment with its own limit), leaves it as it is and
  // appends to a new version 2 segment.
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    BOOST_TEST(log->epoch() == 77u);
    BOOST_TEST(log->last_seq() == 3u);
    PROCREG_REQUIRE_OK(log->append(4, "four"));
  }
  BOOST_TEST(read_bytes(tmp.file(segment_file_name(1))) == v1);
  const SegmentHeader next = header_of(tmp.path(), segment_file_name(4));
  BOOST_TEST(next.version == kFormatVersion);
  BOOST_TEST(next.epoch == 77u);
  records = read_all(tmp.path());
  BOOST_REQUIRE_EQUAL(records.size(), 4u);
  BOOST_TEST(records[3].payload == "four");
  BOOST_TEST(records[3].segment == segment_file_name(4));
}

BOOST_AUTO_TEST_CASE(an_empty_last_segment_of_another_limit_gets_the_writers_header) {
  TempDir tmp;
  // A version 1 log that holds no record yet, and a version 2 one written with another limit.
  for (const std::string& header : {v1_header(77, 1, kHub), v2_header(77, 1, kHub, 1000),
                                    encode_segment_header(v4(77, 1, 1000, 1, 5))}) {
    std::filesystem::remove_all(tmp.path());
    std::filesystem::create_directories(tmp.path());
    write_bytes(tmp.file(segment_file_name(1)), header);
    std::uint64_t incarnation = 0;
    {
      auto log = open_log(tmp.path(), options_with(Durability::kNone));
      BOOST_TEST(!log->recovery().created);
      BOOST_TEST(log->epoch() == 77u);  // the same log: only its header was replaced
      BOOST_TEST(log->segments().size() == 1u);
      BOOST_TEST(log->term() == 1u);
      incarnation = log->incarnation();
      PROCREG_REQUIRE_OK(log->append(1, std::string(2000, 'z')));
    }
    BOOST_TEST(read_bytes(tmp.file(segment_file_name(1))).substr(0, kMinHeaderBytes + 5) ==
               encode_segment_header(v4(77, 1, kDefaultMaxRecordBytes, 1, incarnation)));
    BOOST_TEST(!std::filesystem::exists(tmp.file(segment_file_name(1) + ".tmp")));
    BOOST_TEST(read_all(tmp.path()).size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(a_header_replacement_cut_short_by_a_crash_leaves_no_temporary_file) {
  TempDir tmp;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    PROCREG_REQUIRE_OK(log->append(1, std::string(100, 'a')));
  }
  // What a crash between writing "<segment>.tmp" and renaming it leaves: the segment intact
  // and a temporary file beside it. A file of another name ending in .tmp is not the log's.
  const std::string temp = tmp.file(segment_file_name(1) + ".tmp");
  const std::string other = tmp.file("notes.tmp");
  write_bytes(temp, encode_segment_header({77, 1, kHub, 1000}).substr(0, 10));
  write_bytes(other, "kept");
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    BOOST_TEST(log->last_seq() == 1u);
    PROCREG_REQUIRE_OK(log->append(2, std::string(100, 'b')));
  }
  BOOST_TEST(!std::filesystem::exists(temp));
  BOOST_TEST(std::filesystem::exists(other));
  BOOST_TEST(read_all(tmp.path()).size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::replay
