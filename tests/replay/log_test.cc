// The log's normal operation: appending, reopening, rolling, reading, argument checks and the
// on-disk layout. Damage and recovery: log_recovery_test.cc; durability: log_durability_test.cc.
#include "log/log.h"
#include "log/log_reader.h"
#include "log/segment_scan.h"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>

#include "log/crc32c.h"
#include "log/log_format.h"
#include "replay/log_test_util.h"

namespace procreg::replay {
namespace {

using testing::append_range;
using testing::kHub;
using testing::open_log;
using testing::options_with;
using testing::payload_for;
using testing::read_all;
using testing::read_bytes;
using testing::TempDir;

constexpr std::uint64_t kSmallSegment = 4096;

}  // namespace

BOOST_AUTO_TEST_SUITE(log_test)

BOOST_AUTO_TEST_CASE(a_new_log_is_empty_with_a_random_nonzero_epoch) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/nested/log";  // created like mkdir -p
  auto log = open_log(dir, options_with(Durability::kSyncEach));
  BOOST_TEST(log->recovery().created);
  BOOST_TEST(!log->recovery().truncated_tail);
  BOOST_TEST(log->last_seq() == 0u);
  BOOST_TEST(log->durable_seq() == 0u);
  BOOST_TEST(log->epoch() != 0u);
  BOOST_TEST(log->hub() == kHub);
  const auto segments = log->segments();
  BOOST_REQUIRE_EQUAL(segments.size(), 1u);
  BOOST_TEST(segments[0].name == "00000000000000000001.log");
  BOOST_TEST(segments[0].first_seq == 1u);
  BOOST_TEST(segments[0].last_seq == 0u);
  BOOST_TEST(segments[0].bytes == kMinHeaderBytes + std::strlen(kHub));
  // Under kSyncEach the segment is zero-filled a megabyte ahead, in whole pages (LOG_FORMAT.md
  // section 5); closing cuts the zeros off.
  const std::string path = dir + "/" + segments[0].name;
  const std::uint64_t filled = (segments[0].bytes + (1u << 20) + 4095) / 4096 * 4096;
  BOOST_TEST(std::filesystem::file_size(path) == filled);
  BOOST_TEST(read_bytes(path).substr(segments[0].bytes) ==
             std::string(filled - segments[0].bytes, '\0'));
  PROCREG_REQUIRE_OK(log->close());
  BOOST_TEST(std::filesystem::file_size(path) == segments[0].bytes);

  TempDir other;
  auto second = open_log(other.path(), options_with(Durability::kNone));
  BOOST_TEST(second->epoch() != log->epoch());
}

BOOST_AUTO_TEST_CASE(appended_records_read_back_after_reopening) {
  TempDir tmp;
  std::uint64_t epoch = 0;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    epoch = log->epoch();
    append_range(*log, 1, 2000);
    BOOST_TEST(log->last_seq() == 2000u);
    PROCREG_REQUIRE_OK(log->close());
  }
  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  BOOST_TEST(!log->recovery().created);
  BOOST_TEST(!log->recovery().truncated_tail);
  BOOST_TEST(log->recovery().last_seq == 2000u);
  BOOST_TEST(log->last_seq() == 2000u);
  BOOST_TEST(log->durable_seq() == 2000u);
  BOOST_TEST(log->epoch() == epoch);
  append_range(*log, 2001, 2100);
  PROCREG_REQUIRE_OK(log->close());

  const auto records = read_all(tmp.path());
  BOOST_REQUIRE_EQUAL(records.size(), 2100u);
  std::uint64_t previous_offset = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    BOOST_REQUIRE_EQUAL(records[i].seq, i + 1);
    BOOST_REQUIRE(records[i].payload == payload_for(i + 1));
    // The reopened log is a new incarnation: it appends to a segment of its own.
    BOOST_REQUIRE(records[i].segment == segment_file_name(i < 2000 ? 1 : 2001));
    if (i == 2000) previous_offset = 0;
    BOOST_REQUIRE_GT(records[i].offset, previous_offset);
    previous_offset = records[i].offset;
  }
}

BOOST_AUTO_TEST_CASE(segments_roll_at_segment_bytes) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
  append_range(*log, 1, 1000);
  const auto segments = log->segments();
  BOOST_TEST_REQUIRE(segments.size() > 20u);
  std::uint64_t next_first = 1;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const SegmentInfo& s = segments[i];
    BOOST_TEST_CONTEXT("segment " << s.name) {
      BOOST_TEST(s.name == segment_file_name(s.first_seq));
      BOOST_TEST(s.first_seq == next_first);
      BOOST_TEST(s.last_seq >= s.first_seq);
      BOOST_TEST(s.bytes == std::filesystem::file_size(tmp.file(s.name)));
      if (i + 1 < segments.size()) {
        // It rolled at the first append that found it at or past segment_bytes.
        const auto spans = testing::record_spans(tmp.path(), s.name);
        BOOST_TEST(s.bytes >= kSmallSegment);
        BOOST_TEST(s.bytes - spans.back().size < kSmallSegment);
      }
    }
    next_first = s.last_seq + 1;
  }
  BOOST_TEST(segments.back().last_seq == 1000u);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp.path())) {
    (void)entry;
    ++files;
  }
  BOOST_TEST(files == segments.size());
  PROCREG_REQUIRE_OK(log->close());
  log.reset();

  auto reopened = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
  const auto again = reopened->segments();
  // The same segments: the new incarnation's comes with its first append.
  BOOST_REQUIRE_EQUAL(again.size(), segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i) {
    BOOST_TEST(again[i].name == segments[i].name);
    BOOST_TEST(again[i].last_seq == segments[i].last_seq);
    BOOST_TEST(again[i].bytes == segments[i].bytes);
  }
}

BOOST_AUTO_TEST_CASE(a_reader_starts_at_any_seq_across_segments) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
  append_range(*log, 1, 500);
  const auto segments = log->segments();
  BOOST_TEST_REQUIRE(segments.size() > 3u);
  const std::vector<std::uint64_t> starts = {
      1, 2, 137, segments[2].first_seq, segments[2].last_seq, segments.back().first_seq, 500, 501};
  for (std::uint64_t from : starts) {
    BOOST_TEST_CONTEXT("from seq " << from) {
      const auto records = read_all(tmp.path(), from);
      BOOST_REQUIRE_EQUAL(records.size(), 500 - from + 1);
      for (std::size_t i = 0; i < records.size(); ++i) {
        BOOST_REQUIRE_EQUAL(records[i].seq, from + i);
        BOOST_REQUIRE(records[i].payload == payload_for(from + i));
      }
      if (!records.empty()) {
        BOOST_TEST(records.front().segment.size() == 24u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_reader_follows_a_live_log_across_rolls) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
  append_range(*log, 1, 10);
  auto reader = LogReader::open(tmp.path());
  BOOST_REQUIRE(reader.ok());
  BOOST_TEST((*reader)->epoch() == log->epoch());
  BOOST_TEST((*reader)->hub() == kHub);
  LogRecord record;
  std::uint64_t expected = 1;
  for (std::uint64_t round = 0; round < 5; ++round) {
    for (;;) {  // ends at the live end of the log
      auto more = (*reader)->next(&record);
      BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
      if (!*more) break;
      BOOST_REQUIRE_EQUAL(record.seq, expected);
      BOOST_REQUIRE(record.payload == payload_for(expected));
      ++expected;
    }
    BOOST_REQUIRE_EQUAL(expected, log->last_seq() + 1);
    BOOST_TEST((*reader)->tail_bytes_ignored() == 0u);
    append_range(*log, log->last_seq() + 1, log->last_seq() + 60);  // rolls several times
  }
  BOOST_TEST(log->segments().size() > 5u);
}

BOOST_AUTO_TEST_CASE(a_reader_waits_at_a_partial_record_until_it_is_complete) {
  TempDir tmp;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    append_range(*log, 1, 3);
  }
  auto reader = LogReader::open(tmp.path());
  BOOST_REQUIRE(reader.ok());
  LogRecord record;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE(more.ok() && *more);
  }
  // A writer in the middle of write(2): half of record 4 is in the file, then the rest.
  const std::string path = tmp.file(segment_file_name(1));
  const std::string bytes = testing::record_bytes(4, "fourth record");
  const std::string original = read_bytes(path);
  testing::write_bytes(path, original + bytes.substr(0, 10));
  auto more = (*reader)->next(&record);
  BOOST_REQUIRE(more.ok());
  BOOST_TEST(!*more);
  BOOST_TEST((*reader)->tail_bytes_ignored() == 10u);
  testing::write_bytes(path, original + bytes);
  more = (*reader)->next(&record);
  BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
  BOOST_REQUIRE(*more);
  BOOST_TEST(record.seq == 4u);
  BOOST_TEST(record.payload == "fourth record");
  BOOST_TEST((*reader)->tail_bytes_ignored() == 0u);
}

BOOST_AUTO_TEST_CASE(a_log_whose_early_segments_are_gone_starts_later) {
  TempDir tmp;
  std::vector<SegmentInfo> segments;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
    append_range(*log, 1, 200);
    segments = log->segments();
  }
  std::filesystem::remove(tmp.file(segments[0].name));
  const std::uint64_t first = segments[1].first_seq;
  auto too_early = LogReader::open(tmp.path(), first - 1);
  BOOST_REQUIRE(!too_early.ok());
  BOOST_TEST(too_early.status().code() == Code::kCompacted);
  BOOST_TEST(read_all(tmp.path(), first).size() == 200 - first + 1);

  auto log = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
  BOOST_TEST(log->last_seq() == 200u);
  BOOST_TEST(log->segments().front().first_seq == first);
}

BOOST_AUTO_TEST_CASE(a_reader_needs_a_log_and_a_positive_seq) {
  TempDir tmp;
  auto missing = LogReader::open(tmp.path() + "/absent");
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.status().code() == Code::kNotFound);
  auto empty = LogReader::open(tmp.path());
  BOOST_REQUIRE(!empty.ok());
  BOOST_TEST(empty.status().code() == Code::kNotFound);
  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  auto zero = LogReader::open(tmp.path(), 0);
  BOOST_REQUIRE(!zero.ok());
  BOOST_TEST(zero.status().code() == Code::kInvalidArgument);
  BOOST_TEST(read_all(tmp.path()).empty());
}

BOOST_AUTO_TEST_CASE(append_rejects_a_wrong_seq_and_writes_nothing) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kSyncEach));
  const std::string path = tmp.file(segment_file_name(1));
  const auto size = std::filesystem::file_size(path);
  for (std::uint64_t seq : {0ull, 2ull, 100ull}) {
    const Status s = log->append(seq, "x");
    BOOST_TEST(s.code() == Code::kInvalidArgument);
  }
  BOOST_TEST(std::filesystem::file_size(path) == size);
  PROCREG_REQUIRE_OK(log->append(1, "x"));
  BOOST_TEST(log->append(1, "x").code() == Code::kInvalidArgument);
  BOOST_TEST(log->append(3, "x").code() == Code::kInvalidArgument);
  PROCREG_REQUIRE_OK(log->append(2, "y"));
  BOOST_TEST(log->last_seq() == 2u);
}

BOOST_AUTO_TEST_CASE(append_rejects_an_oversized_or_empty_payload_and_writes_nothing) {
  TempDir tmp;
  LogOptions options = options_with(Durability::kSyncEach);
  options.max_record_bytes = 1000;
  auto log = open_log(tmp.path(), options);
  const std::string path = tmp.file(segment_file_name(1));
  const auto size = std::filesystem::file_size(path);
  const Status big = log->append(1, std::string(1001, 'b'));
  BOOST_TEST(big.code() == Code::kResourceExhausted);
  BOOST_TEST(log->append(1, "").code() == Code::kInvalidArgument);
  BOOST_TEST(std::filesystem::file_size(path) == size);
  // Neither poisoned the log.
  PROCREG_REQUIRE_OK(log->append(1, std::string(1000, 'b')));
  BOOST_TEST(log->last_seq() == 1u);
}

BOOST_AUTO_TEST_CASE(opening_with_another_hub_is_invalid_argument) {
  TempDir tmp;
  { auto log = open_log(tmp.path(), options_with(Durability::kNone)); }
  const auto before = testing::snapshot(tmp.path());
  auto other = Log::open(tmp.path(), "hub-b", options_with(Durability::kNone));
  BOOST_REQUIRE(!other.ok());
  BOOST_TEST(other.status().code() == Code::kInvalidArgument);
  BOOST_TEST(other.status().message().find("hub-a") != std::string::npos);
  BOOST_TEST((testing::snapshot(tmp.path()) == before));
  auto bad = Log::open(tmp.path(), "", options_with(Durability::kNone));
  BOOST_TEST(bad.status().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(a_second_writer_on_the_directory_is_unavailable) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  auto second = Log::open(tmp.path(), kHub, options_with(Durability::kNone));
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.status().code() == Code::kUnavailable);
  PROCREG_REQUIRE_OK(log->close());
  PROCREG_REQUIRE_OK(log->close());  // idempotent
  BOOST_TEST(log->append(1, "x").code() == Code::kUnavailable);
  auto third = Log::open(tmp.path(), kHub, options_with(Durability::kNone));
  BOOST_TEST(third.ok());
}

BOOST_AUTO_TEST_CASE(files_follow_the_documented_layout) {
  TempDir tmp;
  std::uint64_t epoch = 0;
  std::uint64_t incarnation = 0;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone));
    epoch = log->epoch();
    incarnation = log->incarnation();
    BOOST_TEST(log->term() == 1u);  // a new log starts at term 1
    BOOST_TEST(incarnation != 0u);
    BOOST_TEST(log->start_seq() == 1u);
    BOOST_TEST(log->prev_incarnation() == 0u);
    PROCREG_REQUIRE_OK(log->append(1, "hello"));
  }
  const std::string bytes = read_bytes(tmp.file("00000000000000000001.log"));
  BOOST_REQUIRE_EQUAL(bytes.size(), 59u + 22u);
  const char* p = bytes.data();
  BOOST_TEST(std::string(p, 4) == "PRLG");
  BOOST_TEST(get_u16(p + 4) == 4u);
  BOOST_TEST(get_u16(p + 6) == 59u);
  BOOST_TEST(get_u64(p + 8) == epoch);
  BOOST_TEST(get_u64(p + 16) == 1u);
  BOOST_TEST(get_u32(p + 24) == 16u << 20);  // max_record_bytes, the default
  BOOST_TEST(get_u64(p + 28) == 1u);         // term
  BOOST_TEST(get_u64(p + 36) == incarnation);
  BOOST_TEST(get_u32(p + 44) == 0u);  // unsynced_limit: kNone never zero-fills
  BOOST_TEST(get_u16(p + 48) == 5u);
  BOOST_TEST(std::string(p + 50, 5) == "hub-a");
  BOOST_TEST(get_u32(p + 55) == crc32c::mask(crc32c::value(p, 55)));
  // The record: the worked example of docs/LOG_FORMAT.md, byte for byte.
  const unsigned char record[] = {0x54, 0x6b, 0x75, 0x72, 0x05, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'h',  'e',  'l',  'l',  'o'};
  BOOST_TEST(std::memcmp(p + 59, record, sizeof record) == 0);

  // A writer that syncs records the largest write it makes (4 MiB + 17 + max_record_bytes) as
  // the segment's unsynced_limit.
  TempDir synced;
  {
    LogOptions o = options_with(Durability::kGroupCommit);
    o.max_record_bytes = 1000;
    auto log = open_log(synced.path(), o);
    PROCREG_REQUIRE_OK(log->append(1, "hello"));
  }
  const std::string zero_filled = read_bytes(synced.file("00000000000000000001.log"));
  BOOST_REQUIRE_EQUAL(zero_filled.size(), 59u + 22u);  // closing cut the zero fill off
  BOOST_TEST(get_u32(zero_filled.data() + 44) == (4u << 20) + 17u + 1000u);
  BOOST_TEST(std::memcmp(zero_filled.data() + 59, record, sizeof record) == 0);
}

// A reader that has read a zero-filled segment's zeros into its buffer sees the records
// written over them at once (they are not taken from the buffer): SegmentScan, as the replay
// service uses it to list what a standby may copy, and LogReader.
BOOST_AUTO_TEST_CASE(readers_of_a_live_zero_filled_segment_see_each_record_at_once) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kSyncEach));
  const std::string name = segment_file_name(1);
  auto scan = SegmentScan::open(tmp.path(), name);
  BOOST_REQUIRE(scan.ok());
  PROCREG_REQUIRE_OK(scan->advance(UINT64_MAX));  // the header, and the zeros after it
  BOOST_TEST(scan->torn());
  auto reader = LogReader::open(tmp.path());
  BOOST_REQUIRE(reader.ok());
  LogRecord record;
  BOOST_TEST(!*(*reader)->next(&record));
  for (std::uint64_t seq = 1; seq <= 50; ++seq) {
    PROCREG_REQUIRE_OK(log->append(seq, testing::payload_for(seq)));
    PROCREG_REQUIRE_OK(scan->advance(seq));
    BOOST_REQUIRE_EQUAL(scan->last_seq(), seq);
    BOOST_REQUIRE_EQUAL(scan->size(), log->segments().back().bytes);
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE(more.ok());
    BOOST_REQUIRE(*more);
    BOOST_REQUIRE_EQUAL(record.seq, seq);
    BOOST_REQUIRE(!*(*reader)->next(&record));  // then the zero fill: the end, for now
    BOOST_TEST((*reader)->tail_bytes_ignored() == 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::replay
