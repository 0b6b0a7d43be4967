// Recovery and validation: torn tails are cut (Log) or ignored (LogReader); every other kind
// of damage is kCorruption naming segment, offset and last good seq, with nothing modified.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <filesystem>
#include <string>

#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "replay/log_test_util.h"

namespace procreg::replay {
namespace {

using testing::kHub;
using testing::open_log;
using testing::options_with;
using testing::read_all;
using testing::read_bytes;
using testing::record_spans;
using testing::RecordSpan;
using testing::TempDir;
using testing::write_bytes;

constexpr std::uint64_t kSmallSegment = 4096;

std::string fixed_payload(std::uint64_t seq, std::size_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (seq + i) % 26);
  return payload;
}

// Writes records 1..count with `payload_bytes`-byte payloads; returns the segments.
std::vector<SegmentInfo> write_log(const std::string& dir, std::uint64_t count,
                                   std::size_t payload_bytes,
                                   std::uint64_t segment_bytes = 64ull << 20) {
  auto log = open_log(dir, options_with(Durability::kNone, segment_bytes));
  for (std::uint64_t seq = 1; seq <= count; ++seq) {
    PROCREG_REQUIRE_OK(log->append(seq, fixed_payload(seq, payload_bytes)));
  }
  PROCREG_REQUIRE_OK(log->close());
  return log->segments();
}

std::uint64_t epoch_of(const std::string& dir) {
  auto reader = LogReader::open(dir);
  BOOST_REQUIRE(reader.ok());
  return (*reader)->epoch();
}

// Log::open and LogReader both report kCorruption at (segment, offset, last good seq), and
// neither changes a byte.
void expect_corruption(const std::string& dir, const std::string& segment, std::uint64_t offset,
                       std::uint64_t last_good, const std::string& detail = "") {
  const auto before = testing::snapshot(dir);
  auto log = Log::open(dir, kHub, options_with(Durability::kNone));
  BOOST_REQUIRE(!log.ok());
  const Status& s = log.status();
  const std::string where = "segment " + segment + ", offset " + std::to_string(offset) + ":";
  BOOST_REQUIRE_MESSAGE(s.code() == Code::kCorruption, s.to_string());
  BOOST_REQUIRE_MESSAGE(s.message().find(where) == 0, s.message() + " lacks " + where);
  const std::string good = "(last good seq " + std::to_string(last_good) + ")";
  BOOST_REQUIRE_MESSAGE(s.message().find(good) != std::string::npos, s.message());
  BOOST_REQUIRE_MESSAGE(s.message().find(detail) != std::string::npos, s.message());
  BOOST_REQUIRE_MESSAGE(testing::reader_error(dir) == s, testing::reader_error(dir).to_string());
  BOOST_REQUIRE(testing::snapshot(dir) == before);
}

// Cuts the last record of the log in `dir` at every length from 0 to its size - 1 and checks
// that open() cuts the torn tail, reports it and appends after it.
void check_tear_at_every_byte(const std::string& dir, std::uint64_t count) {
  const auto files = testing::snapshot(dir);
  const std::string segment = std::prev(files.end())->first;
  const RecordSpan last = record_spans(dir, segment).back();
  BOOST_REQUIRE_EQUAL(last.seq, count);
  for (std::uint64_t keep = 0; keep < last.size; ++keep) {
    BOOST_TEST_CONTEXT("keeping " << keep << " bytes of the last record") {
      testing::restore(dir, files);
      write_bytes(dir + "/" + segment, files.at(segment).substr(0, last.offset + keep));
      auto log = open_log(dir, options_with(Durability::kNone, kSmallSegment));
      const RecoveryReport& report = log->recovery();
      BOOST_REQUIRE_EQUAL(report.truncated_tail, keep > 0);
      if (keep > 0) {
        BOOST_TEST(report.tail_segment == segment);
        BOOST_TEST(report.tail_offset == last.offset);
        BOOST_TEST(report.tail_bytes_dropped == keep);
        BOOST_TEST(!report.removed_tail_segment);
      }
      BOOST_TEST(report.last_seq == count - 1);
      BOOST_TEST(log->last_seq() == count - 1);
      BOOST_TEST(std::filesystem::file_size(dir + "/" + segment) == last.offset);
      PROCREG_REQUIRE_OK(log->append(count, "replacement"));
      PROCREG_REQUIRE_OK(log->close());
      const auto records = read_all(dir);
      BOOST_REQUIRE_EQUAL(records.size(), count);
      BOOST_TEST(records.back().payload == "replacement");
      BOOST_TEST(records[count - 2].payload == fixed_payload(count - 1, 30));
    }
  }
}

// `bytes` with every byte from `from` to the end set to zero, its size unchanged.
std::string zeroed_from(std::string bytes, std::uint64_t from) {
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(), '\0');
  return bytes;
}

std::uint64_t round_up_to_sector(std::uint64_t offset) {
  constexpr std::uint64_t kSector = 512;
  return (offset + kSector - 1) / kSector * kSector;
}

// Zeroes the last record of the log in `dir` from file offset `zero_from` to the end of the
// file, keeping the file's size, as a file system that extended the file but never wrote its
// last blocks leaves it. Checks that this is a torn tail: LogReader ends before the record and
// changes nothing; open() cuts it, reports it, and appends after it.
void check_zero_filled_last_record_is_cut(const std::string& dir, std::uint64_t count,
                                          std::size_t payload_bytes, std::uint64_t zero_from) {
  const auto files = testing::snapshot(dir);
  const std::string segment = std::prev(files.end())->first;
  const std::string path = dir + "/" + segment;
  const RecordSpan last = record_spans(dir, segment).back();
  BOOST_REQUIRE_EQUAL(last.seq, count);
  BOOST_REQUIRE_EQUAL(last.offset + last.size, files.at(segment).size());
  BOOST_REQUIRE(zero_from >= last.offset + kRecordHeaderBytes);
  BOOST_REQUIRE(zero_from < last.offset + last.size);
  write_bytes(path, zeroed_from(files.at(segment), zero_from));
  const auto damaged = testing::snapshot(dir);

  auto reader = LogReader::open(dir);
  BOOST_REQUIRE(reader.ok());
  LogRecord record;
  std::uint64_t seen = 0;
  for (;;) {  // count - 1 records, then the end of the log
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
    if (!*more) break;
    ++seen;
  }
  BOOST_TEST(seen == count - 1);
  BOOST_TEST((*reader)->tail_bytes_ignored() == last.size);
  BOOST_TEST((testing::snapshot(dir) == damaged));

  auto log = open_log(dir, options_with(Durability::kSyncEach, kSmallSegment));
  const RecoveryReport& report = log->recovery();
  BOOST_TEST(report.truncated_tail);
  BOOST_TEST(!report.removed_tail_segment);
  BOOST_TEST(report.tail_segment == segment);
  BOOST_TEST(report.tail_offset == last.offset);
  BOOST_TEST(report.tail_bytes_dropped == last.size);
  BOOST_TEST(report.last_seq == count - 1);
  BOOST_TEST(log->last_seq() == count - 1);
  BOOST_TEST(std::filesystem::file_size(path) == last.offset);
  PROCREG_REQUIRE_OK(log->append(count, "replacement"));
  PROCREG_REQUIRE_OK(log->close());
  const auto records = read_all(dir);
  BOOST_REQUIRE_EQUAL(records.size(), count);
  BOOST_TEST(records.back().seq == count);
  BOOST_TEST(records.back().payload == "replacement");
  BOOST_TEST(records[count - 2].payload == fixed_payload(count - 1, payload_bytes));
  testing::restore(dir, files);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_recovery_test)

BOOST_AUTO_TEST_CASE(a_last_record_torn_at_any_byte_is_cut_and_appending_resumes) {
  TempDir tmp;
  write_log(tmp.path(), 5, 30);
  check_tear_at_every_byte(tmp.path(), 5);
}

BOOST_AUTO_TEST_CASE(a_torn_last_record_is_cut_in_a_log_of_several_segments) {
  TempDir tmp;
  const auto segments = write_log(tmp.path(), 300, 30, kSmallSegment);
  BOOST_TEST_REQUIRE(segments.size() >= 3u);
  BOOST_TEST_REQUIRE(segments.back().last_seq > segments.back().first_seq);
  check_tear_at_every_byte(tmp.path(), 300);
}

BOOST_AUTO_TEST_CASE(zero_bytes_after_the_last_record_are_a_torn_tail) {
  TempDir tmp;
  write_log(tmp.path(), 20, 50);
  const std::string path = tmp.file(segment_file_name(1));
  const std::string original = read_bytes(path);
  write_bytes(path, original + std::string(4096, '\0'));

  const auto before = testing::snapshot(tmp.path());
  auto reader = LogReader::open(tmp.path());
  BOOST_REQUIRE(reader.ok());
  LogRecord record;
  std::uint64_t seen = 0;
  for (;;) {  // 20 records, then the clean end
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
    if (!*more) break;
    ++seen;
  }
  BOOST_TEST(seen == 20u);
  BOOST_TEST((*reader)->tail_bytes_ignored() == 4096u);
  BOOST_TEST((testing::snapshot(tmp.path()) == before));

  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  BOOST_TEST(log->recovery().truncated_tail);
  BOOST_TEST(log->recovery().tail_offset == original.size());
  BOOST_TEST(log->recovery().tail_bytes_dropped == 4096u);
  BOOST_TEST(log->last_seq() == 20u);
  BOOST_TEST((read_bytes(path) == original));
  BOOST_TEST(log->recovery().to_string().find("4096 bytes dropped") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_last_record_with_an_all_zero_payload_is_a_torn_tail) {
  TempDir tmp;
  write_log(tmp.path(), 5, 30);
  const RecordSpan last = record_spans(tmp.path(), segment_file_name(1)).back();
  check_zero_filled_last_record_is_cut(tmp.path(), 5, 30, last.offset + kRecordHeaderBytes);

  // The same in the last segment of a log of several.
  TempDir several;
  const auto segments = write_log(several.path(), 300, 30, kSmallSegment);
  BOOST_TEST_REQUIRE(segments.size() >= 3u);
  const RecordSpan end = record_spans(several.path(), segments.back().name).back();
  check_zero_filled_last_record_is_cut(several.path(), 300, 30, end.offset + kRecordHeaderBytes);
}

BOOST_AUTO_TEST_CASE(a_last_record_zero_from_a_sector_boundary_to_the_end_is_a_torn_tail) {
  TempDir tmp;
  constexpr std::size_t kPayload = 3000;
  write_log(tmp.path(), 3, kPayload);
  const RecordSpan last = record_spans(tmp.path(), segment_file_name(1)).back();
  const std::uint64_t payload = last.offset + kRecordHeaderBytes;
  const std::uint64_t end = last.offset + last.size;
  BOOST_TEST_REQUIRE(payload % 512 != 0);
  std::uint64_t boundaries = 0;
  for (std::uint64_t sector = round_up_to_sector(payload); sector < end; sector += 512) {
    ++boundaries;
    BOOST_TEST_CONTEXT("zeros from the sector boundary " << sector) {
      check_zero_filled_last_record_is_cut(tmp.path(), 3, kPayload, sector);
    }
    // Zeros that start before the boundary (the payload may hold zeros) include it.
    if (sector - 100 >= payload) {
      BOOST_TEST_CONTEXT("zeros from " << sector - 100 << ", through the boundary " << sector) {
        check_zero_filled_last_record_is_cut(tmp.path(), 3, kPayload, sector - 100);
      }
    }
  }
  BOOST_TEST(boundaries >= 5u);
}

BOOST_AUTO_TEST_CASE(zeros_in_a_last_record_that_reach_no_sector_boundary_are_corruption) {
  TempDir tmp;
  constexpr std::size_t kPayload = 3000;
  write_log(tmp.path(), 3, kPayload);
  const std::string name = segment_file_name(1);
  const std::string path = tmp.file(name);
  const std::string original = read_bytes(path);
  const RecordSpan last = record_spans(tmp.path(), name).back();
  const std::uint64_t payload = last.offset + kRecordHeaderBytes;
  const std::uint64_t end = last.offset + last.size;
  BOOST_REQUIRE_EQUAL(end, original.size());
  // The last sector boundary before the end of the file is inside the payload, and the file
  // does not end on one: zeros starting after that boundary cover no sector.
  const std::uint64_t boundary = (end - 1) / 512 * 512;
  BOOST_TEST_REQUIRE(boundary > payload);
  BOOST_TEST_REQUIRE(end % 512 > 2);
  for (std::uint64_t from : {boundary + 1, boundary + 7, end - 1}) {
    BOOST_TEST_CONTEXT("zeros from " << from << " to the end") {
      write_bytes(path, zeroed_from(original, from));
      expect_corruption(tmp.path(), name, last.offset, 2, "record CRC mismatch");
    }
  }
  BOOST_TEST_CONTEXT("zeros from the payload's second byte, keeping the last one") {
    std::string damaged = zeroed_from(original, payload + 1);
    damaged.back() = 'x';
    write_bytes(path, damaged);
    expect_corruption(tmp.path(), name, last.offset, 2, "record CRC mismatch");
  }
  BOOST_TEST_CONTEXT("zeroed sectors that do not reach the end of the file") {
    std::string damaged = original;
    const std::uint64_t sector = round_up_to_sector(payload);
    damaged.replace(sector, 1024, 1024, '\0');
    BOOST_TEST_REQUIRE(sector + 1024 < end);
    write_bytes(path, damaged);
    expect_corruption(tmp.path(), name, last.offset, 2, "record CRC mismatch");
  }
  write_bytes(path, original);
  BOOST_TEST(read_all(tmp.path()).size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_flipped_bit_in_a_large_last_record_is_corruption) {
  TempDir tmp;
  constexpr std::size_t kPayload = 3000;
  write_log(tmp.path(), 3, kPayload);
  const std::string name = segment_file_name(1);
  const std::string path = tmp.file(name);
  const std::string original = read_bytes(path);
  const RecordSpan last = record_spans(tmp.path(), name).back();
  const std::uint64_t payload = last.offset + kRecordHeaderBytes;
  for (std::uint64_t pos :
       {payload, round_up_to_sector(payload), original.size() - 513, original.size() - 1}) {
    for (int bit : {0, 7}) {
      BOOST_TEST_CONTEXT("byte " << pos << " bit " << bit) {
        std::string damaged = original;
        damaged[pos] = static_cast<char>(damaged[pos] ^ (1 << bit));
        write_bytes(path, damaged);
        expect_corruption(tmp.path(), name, last.offset, 2, "record CRC mismatch");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_zero_filled_record_that_does_not_end_the_file_is_corruption) {
  TempDir tmp;
  constexpr std::size_t kPayload = 3000;
  write_log(tmp.path(), 4, kPayload);
  const std::string name = segment_file_name(1);
  const std::string path = tmp.file(name);
  const std::string original = read_bytes(path);
  const auto spans = record_spans(tmp.path(), name);
  const RecordSpan& target = spans[2];  // record 3, which record 4 follows
  const std::uint64_t payload = target.offset + kRecordHeaderBytes;
  const std::uint64_t end = target.offset + target.size;
  for (std::uint64_t from : {payload, round_up_to_sector(payload)}) {
    BOOST_TEST_CONTEXT("record 3 zero from " << from << " to its end") {
      std::string damaged = original;
      damaged.replace(from, end - from, end - from, '\0');
      write_bytes(path, damaged);
      expect_corruption(tmp.path(), name, target.offset, 2, "record CRC mismatch");
    }
  }
  // The last record zero-filled, but zero bytes follow it: it does not end the file.
  const RecordSpan& last = spans[3];
  BOOST_REQUIRE_EQUAL(last.offset + last.size, original.size());
  write_bytes(path,
              zeroed_from(original, last.offset + kRecordHeaderBytes) + std::string(512, '\0'));
  expect_corruption(tmp.path(), name, last.offset, 3, "record CRC mismatch");
}

BOOST_AUTO_TEST_CASE(a_zero_filled_last_record_of_an_earlier_segment_is_corruption) {
  TempDir tmp;
  constexpr std::size_t kPayload = 3000;
  const auto segments = write_log(tmp.path(), 9, kPayload, kSmallSegment);
  BOOST_TEST_REQUIRE(segments.size() >= 3u);
  const SegmentInfo& target = segments[1];
  const std::string path = tmp.file(target.name);
  const std::string original = read_bytes(path);
  const RecordSpan last = record_spans(tmp.path(), target.name).back();
  BOOST_REQUIRE_EQUAL(last.seq, target.last_seq);
  BOOST_REQUIRE_EQUAL(last.offset + last.size, original.size());
  const std::uint64_t payload = last.offset + kRecordHeaderBytes;
  for (std::uint64_t from : {payload, round_up_to_sector(payload)}) {
    BOOST_TEST_CONTEXT("zeros from " << from << " to the end") {
      write_bytes(path, zeroed_from(original, from));
      expect_corruption(tmp.path(), target.name, last.offset, last.seq - 1, "CRC mismatch");
      expect_corruption(tmp.path(), target.name, last.offset, last.seq - 1, "not the last segment");
    }
  }
  write_bytes(path, original);
  BOOST_TEST(read_all(tmp.path()).size() == 9u);
}

BOOST_AUTO_TEST_CASE(a_zeroed_block_in_the_middle_is_corruption) {
  TempDir tmp;
  write_log(tmp.path(), 200, 100);
  const std::string name = segment_file_name(1);
  const std::string path = tmp.file(name);
  const std::string original = read_bytes(path);
  const auto spans = record_spans(tmp.path(), name);
  BOOST_TEST_CONTEXT("a block starting inside record 51") {
    std::string damaged = original;
    damaged.replace(spans[50].offset + 10, 4096, 4096, '\0');
    write_bytes(path, damaged);
    expect_corruption(tmp.path(), name, spans[50].offset, 50, "CRC mismatch");
  }
  BOOST_TEST_CONTEXT("a block starting at record 81") {
    std::string damaged = original;
    damaged.replace(spans[80].offset, 4096, 4096, '\0');
    write_bytes(path, damaged);
    expect_corruption(tmp.path(), name, spans[80].offset, 80, "record length 0");
  }
}

BOOST_AUTO_TEST_CASE(a_flipped_bit_anywhere_in_a_middle_or_last_record_is_corruption) {
  TempDir tmp;
  write_log(tmp.path(), 8, 24);
  const std::string name = segment_file_name(1);
  const std::string path = tmp.file(name);
  const std::string original = read_bytes(path);
  const auto spans = record_spans(tmp.path(), name);
  for (const RecordSpan& target : {spans[3], spans[7]}) {
    for (std::uint64_t pos = 0; pos < target.size; ++pos) {
      for (int bit = 0; bit < 8; ++bit) {
        BOOST_TEST_CONTEXT("record " << target.seq << " byte " << pos << " bit " << bit) {
          std::string damaged = original;
          damaged[target.offset + pos] =
              static_cast<char>(damaged[target.offset + pos] ^ (1 << bit));
          write_bytes(path, damaged);
          expect_corruption(tmp.path(), name, target.offset, target.seq - 1);
        }
      }
    }
  }
  write_bytes(path, original);
  BOOST_TEST(read_all(tmp.path()).size() == 8u);
}

BOOST_AUTO_TEST_CASE(a_missing_middle_segment_is_corruption) {
  TempDir tmp;
  const auto segments = write_log(tmp.path(), 300, 100, kSmallSegment);
  BOOST_TEST_REQUIRE(segments.size() > 4u);
  std::filesystem::remove(tmp.file(segments[2].name));
  expect_corruption(tmp.path(), segments[3].name, 0, segments[1].last_seq, "a segment is missing");
}

BOOST_AUTO_TEST_CASE(a_segment_of_another_epoch_or_hub_is_corruption) {
  TempDir tmp;
  const auto segments = write_log(tmp.path(), 300, 100, kSmallSegment);
  const SegmentInfo& target = segments[2];
  const std::string path = tmp.file(target.name);
  const std::string original = read_bytes(path);
  const std::uint64_t epoch = epoch_of(tmp.path());
  const std::size_t header_bytes = kMinHeaderBytes + std::string(kHub).size();
  const std::string records = original.substr(header_bytes);

  write_bytes(path, encode_segment_header({epoch + 1, target.first_seq, kHub}) + records);
  expect_corruption(tmp.path(), target.name, 0, segments[1].last_seq, "epoch");
  write_bytes(path, encode_segment_header({epoch, target.first_seq, "hub-x"}) + records);
  expect_corruption(tmp.path(), target.name, 0, segments[1].last_seq, "hub 'hub-x'");
  write_bytes(path, encode_segment_header({epoch, target.first_seq + 1, kHub}) + records);
  expect_corruption(tmp.path(), target.name, 0, segments[1].last_seq, "file name says");
}

BOOST_AUTO_TEST_CASE(a_torn_header_of_the_last_segment_removes_that_segment) {
  TempDir tmp;
  const auto segments = write_log(tmp.path(), 100, 100, kSmallSegment);
  const std::uint64_t last = segments.back().last_seq;
  const std::string name = segment_file_name(last + 1);
  const std::string header = encode_segment_header({epoch_of(tmp.path()), last + 1, kHub});
  const auto files = testing::snapshot(tmp.path());
  std::vector<std::string> torn_files;
  for (std::size_t keep = 0; keep < header.size(); ++keep)
    torn_files.push_back(header.substr(0, keep));
  torn_files.push_back(std::string(header.size(), '\0'));
  torn_files.push_back(std::string(200, '\0'));
  for (const std::string& torn : torn_files) {
    BOOST_TEST_CONTEXT("a last segment of " << torn.size() << " bytes") {
      testing::restore(tmp.path(), files);
      write_bytes(tmp.file(name), torn);
      auto log = open_log(tmp.path(), options_with(Durability::kNone, kSmallSegment));
      const RecoveryReport& report = log->recovery();
      BOOST_TEST(report.truncated_tail);
      BOOST_TEST(report.removed_tail_segment);
      BOOST_TEST(report.tail_segment == name);
      BOOST_TEST(report.tail_offset == 0u);
      BOOST_TEST(report.tail_bytes_dropped == torn.size());
      BOOST_TEST(log->last_seq() == last);
      BOOST_TEST(log->segments().size() == segments.size());
      PROCREG_REQUIRE_OK(log->append(last + 1, "after the crash"));
      // The torn segment is gone; the new incarnation wrote one of its own.
      BOOST_TEST(log->segments().size() == segments.size() + 1);
      PROCREG_REQUIRE_OK(log->close());
      BOOST_TEST(read_all(tmp.path()).back().payload == "after the crash");
    }
  }
  // Named as if segments were missing before it: that is corruption, not a crash remnant.
  testing::restore(tmp.path(), files);
  write_bytes(tmp.file(segment_file_name(last + 5)), header.substr(0, 10));
  expect_corruption(tmp.path(), segment_file_name(last + 5), 0, last, "a segment is missing");
}

BOOST_AUTO_TEST_CASE(a_torn_header_of_the_only_segment_starts_a_new_log) {
  TempDir tmp;
  write_bytes(tmp.file(segment_file_name(1)), "PRLG\x01");
  auto reader = LogReader::open(tmp.path());
  BOOST_TEST(reader.status().code() == Code::kNotFound);
  auto log = open_log(tmp.path(), options_with(Durability::kNone));
  BOOST_TEST(log->recovery().created);
  BOOST_TEST(log->recovery().removed_tail_segment);
  BOOST_TEST(log->recovery().tail_bytes_dropped == 5u);
  BOOST_TEST(log->last_seq() == 0u);
  PROCREG_REQUIRE_OK(log->append(1, "first"));
}

BOOST_AUTO_TEST_CASE(a_torn_end_of_an_earlier_segment_is_corruption) {
  TempDir tmp;
  const auto segments = write_log(tmp.path(), 300, 100, kSmallSegment);
  const SegmentInfo& target = segments[1];
  const RecordSpan last = record_spans(tmp.path(), target.name).back();
  const std::string path = tmp.file(target.name);
  const std::string original = read_bytes(path);
  write_bytes(path, original.substr(0, original.size() - 5));
  expect_corruption(tmp.path(), target.name, last.offset, last.seq - 1, "not the last segment");
  write_bytes(path, original + std::string(100, '\0'));
  expect_corruption(tmp.path(), target.name, original.size(), target.last_seq,
                    "not the last segment");
}

BOOST_AUTO_TEST_CASE(a_seq_gap_or_reserved_type_with_a_valid_crc_is_corruption) {
  TempDir tmp;
  const std::string name = segment_file_name(1);
  const std::string header = encode_segment_header({77, 1, kHub});
  const std::string one = testing::record_bytes(1, "one");
  const std::string two = testing::record_bytes(2, "two");
  write_bytes(tmp.file(name), header + one + two + testing::record_bytes(4, "four"));
  expect_corruption(tmp.path(), name, header.size() + one.size() + two.size(), 2,
                    "record seq 4, expected 3");
  write_bytes(tmp.file(name), header + one + testing::record_bytes(2, "two", 2) + two);
  expect_corruption(tmp.path(), name, header.size() + one.size(), 1, "reserved record type 2");
  write_bytes(tmp.file(name), header + one + two);
  BOOST_TEST(read_all(tmp.path()).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_record_over_its_segments_max_record_bytes_is_corruption_on_read) {
  TempDir tmp;
  // The header says no record is longer than 64 KiB (a writer never writes this); the writer
  // opening it, with a larger limit of its own, judges the segment by its header.
  const std::string header = encode_segment_header({77, 1, kHub, 64 << 10});
  write_bytes(tmp.file(segment_file_name(1)),
              header + testing::record_bytes(1, "small") +
                  testing::record_bytes(2, std::string(100'000, 'x')) +
                  testing::record_bytes(3, "small"));
  const std::uint64_t offset = header.size() + kRecordHeaderBytes + 5;
  const auto before = testing::snapshot(tmp.path());
  LogOptions options = options_with(Durability::kNone);
  options.max_record_bytes = 1 << 20;
  auto log = Log::open(tmp.path(), kHub, options);
  BOOST_REQUIRE(!log.ok());
  BOOST_TEST(log.status().code() == Code::kCorruption);
  BOOST_TEST(log.status().message().find("offset " + std::to_string(offset) +
                                         ": record length "
                                         "100000 exceeds the limit of 65536") != std::string::npos);
  auto reader = LogReader::open(tmp.path(), 1, 1 << 20);  // a version 1 limit: not used
  BOOST_REQUIRE(reader.ok());
  LogRecord record;
  BOOST_TEST(*(*reader)->next(&record));
  auto failed = (*reader)->next(&record);
  BOOST_REQUIRE(!failed.ok());
  BOOST_TEST((failed.status() == log.status()));
  BOOST_TEST(((*reader)->next(&record).status() == log.status()));  // sticky
  BOOST_TEST((testing::snapshot(tmp.path()) == before));
}

BOOST_AUTO_TEST_CASE(a_damaged_header_is_corruption_and_a_newer_version_unsupported) {
  TempDir tmp;
  write_log(tmp.path(), 5, 20);
  const std::string name = segment_file_name(1);
  const std::string path = tmp.file(name);
  const std::string original = read_bytes(path);
  const auto with_byte = [&](std::size_t offset, char value) {
    std::string damaged = original;
    damaged[offset] = value;
    return damaged;
  };
  write_bytes(path, with_byte(1, 'X'));
  expect_corruption(tmp.path(), name, 0, 0, "bad segment magic");
  write_bytes(path,
              with_byte(kHeaderEpochOffset, static_cast<char>(original[kHeaderEpochOffset] ^ 1)));
  expect_corruption(tmp.path(), name, 0, 0, "header CRC mismatch");
  write_bytes(path, with_byte(kHeaderLengthOffset, 40));
  expect_corruption(tmp.path(), name, 0, 0, "does not match hub length");
  write_bytes(path, with_byte(kHeaderVersionOffset, kFormatVersion + 1));
  expect_corruption(tmp.path(), name, 0, 0,
                    "bad format version " + std::to_string(kFormatVersion + 1));

  // An intact header of the next version (its CRC matches) is a format this build does not read.
  std::string next = with_byte(kHeaderVersionOffset, kFormatVersion + 1);
  const std::size_t crc_offset = kMinHeaderBytes + std::string(kHub).size() - kCrcBytes;
  put_u32(next.data() + crc_offset, crc32c::mask(crc32c::value(next.data(), crc_offset)));
  write_bytes(path, next);
  auto log = Log::open(tmp.path(), kHub, options_with(Durability::kNone));
  BOOST_TEST(log.status().code() == Code::kUnsupported);
  BOOST_TEST(testing::reader_error(tmp.path()).code() == Code::kUnsupported);
}

BOOST_AUTO_TEST_CASE(a_reader_ends_cleanly_at_a_torn_tail_and_changes_nothing) {
  TempDir tmp;
  write_log(tmp.path(), 10, 40);
  const std::string path = tmp.file(segment_file_name(1));
  const std::string original = read_bytes(path);
  write_bytes(path, original.substr(0, original.size() - 30));
  const auto before = testing::snapshot(tmp.path());
  auto reader = LogReader::open(tmp.path());
  BOOST_REQUIRE(reader.ok());
  LogRecord record;
  std::uint64_t seen = 0;
  for (;;) {  // 9 records, then the clean end
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
    if (!*more) break;
    ++seen;
  }
  BOOST_TEST(seen == 9u);
  BOOST_TEST((*reader)->tail_bytes_ignored() == kRecordHeaderBytes + 40 - 30);
  BOOST_TEST((testing::snapshot(tmp.path()) == before));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::replay
