// Zero-filled segments (docs/LOG_FORMAT.md sections 5 and 7.3): under kSyncEach and kGroupCommit
// the active segment is kept filled with zeros ahead of its records and sealed (cut back to its
// records) before a roll and at close. Checks the files a live writer leaves, how recovery and
// LogReader judge them after a crash (zero fill, torn writes within the header's unsynced_limit,
// damage beyond it), SegmentWriter's bound on unsynced bytes, and a reader following a live log.
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "log/file_util.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "log/segment_reader.h"
#include "log/segment_writer.h"
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
using testing::record_bytes;
using testing::record_spans;
using testing::RecordSpan;
using testing::TempDir;
using testing::write_bytes;

constexpr std::uint64_t kPage = 4096;
// A version 4 header with the tests' hub.
constexpr std::uint64_t kHeaderBytes = kMinHeaderBytes + std::string_view(kHub).size();
// The writer's unsynced_limit: its largest single write, 4 MiB plus one record.
constexpr std::uint32_t unsynced_limit_for(std::uint32_t max_record_bytes) {
  return (4u << 20) + static_cast<std::uint32_t>(kRecordHeaderBytes) + max_record_bytes;
}

// `size` bytes, never zero, different for each seq.
std::string nonzero_payload(std::uint64_t seq, std::size_t size = 900) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (seq + i) % 26);
  return payload;
}

bool all_zero(const std::string& bytes, std::uint64_t from) {
  return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(),
                     [](char c) { return c == 0; });
}

std::uint64_t file_size(const std::string& path) { return std::filesystem::file_size(path); }

// Replaces file bytes [offset, offset + bytes.size()), which must exist.
void overwrite(const std::string& path, std::uint64_t offset, const std::string& bytes) {
  std::string file = read_bytes(path);
  BOOST_REQUIRE_LE(offset + bytes.size(), file.size());
  file.replace(offset, bytes.size(), bytes);
  write_bytes(path, file);
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  std::string file = read_bytes(path);
  BOOST_REQUIRE_LT(offset, file.size());
  file[offset] = static_cast<char>(file[offset] ^ 0x5A);
  write_bytes(path, file);
}

// Copies the segment files of `from` (never anything else) to `to`, as a crash of the writer
// would leave them.
void copy_segments(const std::string& from, const std::string& to) {
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    if (entry.path().extension() != kSegmentSuffix) continue;
    std::filesystem::copy_file(entry.path(), std::filesystem::path(to) / entry.path().filename());
  }
}

// Opens a log in `live` with `options`, appends records 1..count (nonzero_payload), copies its
// segments to `copy` while it is still open and returns its segments at that moment. Under
// kSyncEach and kGroupCommit the copy's last segment holds zero fill after its records.
std::vector<SegmentInfo> crashed_copy(const std::string& live, const std::string& copy,
                                      const LogOptions& options, std::uint64_t count) {
  auto log = open_log(live, options);
  for (std::uint64_t seq = 1; seq <= count; ++seq) {
    PROCREG_REQUIRE_OK(log->append(seq, nonzero_payload(seq)));
  }
  PROCREG_REQUIRE_OK(log->sync());
  const std::vector<SegmentInfo> segments = log->segments();
  copy_segments(live, copy);
  const std::uint64_t size = file_size(copy + "/" + segments.back().name);
  if (options.durability == Durability::kNone) {
    BOOST_REQUIRE_EQUAL(size, segments.back().bytes);
  } else {
    BOOST_REQUIRE_GT(size, segments.back().bytes);
  }
  return segments;
}

// Reads the whole log in `dir` with a LogReader: records 1..last_seq, in order, with their
// payloads (`payload(seq)`), then a clean end with `tail` bytes ignored; changes no byte.
template <typename Payload>
void expect_reader_ends(const std::string& dir, std::uint64_t last_seq, std::uint64_t tail,
                        Payload payload) {
  const auto before = testing::snapshot(dir);
  auto reader = LogReader::open(dir);
  BOOST_REQUIRE_MESSAGE(reader.ok(), reader.status().to_string());
  LogRecord record;
  std::uint64_t seen = 0;
  for (;;) {  // last_seq records, then the end of the log
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
    if (!*more) break;
    ++seen;
    BOOST_REQUIRE_EQUAL(record.seq, seen);
    BOOST_REQUIRE(record.payload == payload(seen));
    BOOST_REQUIRE_LE(seen, last_seq);
  }
  BOOST_TEST(seen == last_seq);
  BOOST_TEST((*reader)->tail_bytes_ignored() == tail);
  BOOST_TEST((testing::snapshot(dir) == before));
}

// The last segment of the log in `dir`, `segment`, holds a torn tail from `offset` to its end:
// LogReader ends before it, changing nothing; the writer's recovery cuts it and reports it.
void expect_torn_tail(const std::string& dir, const std::string& segment, std::uint64_t offset,
                      std::uint64_t last_seq) {
  const std::string path = dir + "/" + segment;
  const std::uint64_t size = file_size(path);
  BOOST_REQUIRE_LT(offset, size);
  expect_reader_ends(dir, last_seq, size - offset,
                     [](std::uint64_t seq) { return nonzero_payload(seq); });
  auto log = open_log(dir, options_with(Durability::kSyncEach));
  const RecoveryReport& report = log->recovery();
  BOOST_TEST(report.truncated_tail, report.to_string());
  BOOST_TEST(!report.removed_tail_segment);
  BOOST_TEST(report.tail_segment == segment);
  BOOST_TEST(report.tail_offset == offset);
  BOOST_TEST(report.tail_bytes_dropped == size - offset);
  BOOST_TEST(report.zero_fill_bytes_cut == 0u);
  BOOST_TEST(report.last_seq == last_seq);
  BOOST_TEST(log->last_seq() == last_seq);
  BOOST_TEST(file_size(path) == offset);
  PROCREG_REQUIRE_OK(log->close());
}

// Log::open and LogReader both report the same kCorruption at (segment, offset, last good seq),
// mentioning `detail`, and neither changes a byte.
void expect_corruption(const std::string& dir, const std::string& segment, std::uint64_t offset,
                       std::uint64_t last_good, const std::string& detail) {
  const auto before = testing::snapshot(dir);
  auto log = Log::open(dir, kHub, options_with(Durability::kSyncEach));
  BOOST_REQUIRE(!log.ok());
  const Status& s = log.status();
  BOOST_REQUIRE_MESSAGE(s.code() == Code::kCorruption, s.to_string());
  const std::string where = "segment " + segment + ", offset " + std::to_string(offset) + ":";
  BOOST_TEST(s.message().find(where) == 0u, s.message() << " does not start with " << where);
  const std::string good = "(last good seq " + std::to_string(last_good) + ")";
  BOOST_TEST(s.message().find(good) != std::string::npos, s.message());
  BOOST_TEST(s.message().find(detail) != std::string::npos, s.message());
  const Status read = testing::reader_error(dir);
  BOOST_TEST((read == s), read.to_string());
  BOOST_TEST((testing::snapshot(dir) == before));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(zero_fill_test)

BOOST_AUTO_TEST_CASE(a_live_log_holds_zeros_after_its_records_until_closed) {
  constexpr std::uint64_t kCount = 400;
  TempDir plain;
  {
    auto log = open_log(plain.path(), options_with(Durability::kNone));
    append_range(*log, 1, kCount);
    PROCREG_REQUIRE_OK(log->close());
  }
  const std::string plain_bytes = read_bytes(plain.file(segment_file_name(1)));
  const std::string plain_records = plain_bytes.substr(kHeaderBytes);
  for (const Durability policy : {Durability::kGroupCommit, Durability::kSyncEach}) {
    BOOST_TEST_CONTEXT("durability " << static_cast<int>(policy)) {
      TempDir tmp;
      const std::string path = tmp.file(segment_file_name(1));
      auto log = open_log(tmp.path(), options_with(policy));
      append_range(*log, 1, kCount);
      BOOST_REQUIRE_EQUAL(log->segments().size(), 1u);
      const std::uint64_t end = log->segments().back().bytes;
      BOOST_REQUIRE_EQUAL(end, plain_bytes.size());
      const std::string bytes = read_bytes(path);
      BOOST_TEST(bytes.size() > end);
      BOOST_TEST(bytes.size() % kPage == 0u);
      BOOST_TEST(all_zero(bytes, end));
      BOOST_TEST((bytes.substr(kHeaderBytes, end - kHeaderBytes) == plain_records));
      auto header = read_segment_header(tmp.path(), segment_file_name(1));
      BOOST_REQUIRE(header.ok());
      BOOST_TEST(header->unsynced_limit == unsynced_limit_for(LogOptions{}.max_record_bytes));
      // The reader takes the zeros for the end of what was written, not for a torn tail.
      expect_reader_ends(tmp.path(), kCount, 0, [](std::uint64_t seq) { return payload_for(seq); });
      PROCREG_REQUIRE_OK(log->close());
      BOOST_TEST(file_size(path) == end);
      BOOST_TEST((read_bytes(path).substr(kHeaderBytes) == plain_records));
    }
  }
}

BOOST_AUTO_TEST_CASE(only_the_active_segment_is_zero_filled_across_rolls) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kSyncEach, 4096));
  append_range(*log, 1, 120);
  const std::vector<SegmentInfo> segments = log->segments();
  BOOST_REQUIRE_GT(segments.size(), 5u);
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    BOOST_TEST_CONTEXT("segment " << segments[i].name) {
      BOOST_TEST(segments[i].last_seq != 0u);
      BOOST_TEST(file_size(tmp.file(segments[i].name)) == segments[i].bytes);
    }
  }
  const std::string last = read_bytes(tmp.file(segments.back().name));
  BOOST_TEST(last.size() > segments.back().bytes);
  BOOST_TEST(last.size() % kPage == 0u);
  BOOST_TEST(all_zero(last, segments.back().bytes));
  BOOST_TEST(read_all(tmp.path()).size() == 120u);
}

BOOST_AUTO_TEST_CASE(recovery_cuts_the_zero_fill_a_crashed_writer_left) {
  for (const Durability policy : {Durability::kSyncEach, Durability::kGroupCommit}) {
    BOOST_TEST_CONTEXT("durability " << static_cast<int>(policy)) {
      TempDir live, copy;
      const auto segments = crashed_copy(live.path(), copy.path(), options_with(policy), 50);
      const std::string path = copy.file(segments.back().name);
      const std::uint64_t size = file_size(path);
      BOOST_REQUIRE_GT(size, segments.back().bytes);
      {
        auto log = open_log(copy.path(), options_with(policy));
        const RecoveryReport& report = log->recovery();
        BOOST_TEST(log->last_seq() == 50u);
        BOOST_TEST(report.last_seq == 50u);
        BOOST_TEST(!report.truncated_tail);
        BOOST_TEST(report.zero_fill_segment == segments.back().name);
        BOOST_TEST(report.zero_fill_bytes_cut == size - segments.back().bytes);
        BOOST_TEST(report.zero_fill_bytes_cut > 0u);
        BOOST_TEST(report.to_string().find("zero fill") != std::string::npos, report.to_string());
        BOOST_TEST(file_size(path) == segments.back().bytes);
        PROCREG_REQUIRE_OK(log->close());
      }
      auto again = open_log(copy.path(), options_with(policy));
      BOOST_TEST(!again->recovery().truncated_tail);
      BOOST_TEST(again->recovery().zero_fill_bytes_cut == 0u);
      BOOST_TEST(again->recovery().zero_fill_segment.empty());
      BOOST_TEST(again->last_seq() == 50u);
      PROCREG_REQUIRE_OK(again->close());
      expect_reader_ends(copy.path(), 50, 0,
                         [](std::uint64_t seq) { return nonzero_payload(seq); });
    }
  }
}

BOOST_AUTO_TEST_CASE(a_torn_last_record_is_a_torn_tail) {
  constexpr std::uint64_t kCount = 40;
  TempDir live, copy;
  const auto segments =
      crashed_copy(live.path(), copy.path(), options_with(Durability::kSyncEach), kCount);
  const std::string name = segments.back().name;
  const std::string path = copy.file(name);
  const RecordSpan last = record_spans(copy.path(), name).back();
  BOOST_REQUIRE_EQUAL(last.seq, kCount);
  const auto files = testing::snapshot(copy.path());

  // 512 bytes of the payload never written (zeros), bytes after them written.
  overwrite(path, last.offset + kRecordHeaderBytes + 128, std::string(512, '\0'));
  expect_torn_tail(copy.path(), name, last.offset, kCount - 1);

  // The whole record zero: nothing tells it from the zero fill, which is cut as such.
  testing::restore(copy.path(), files);
  overwrite(path, last.offset, std::string(last.size, '\0'));
  const std::uint64_t size = file_size(path);
  expect_reader_ends(copy.path(), kCount - 1, 0,
                     [](std::uint64_t seq) { return nonzero_payload(seq); });
  auto log = open_log(copy.path(), options_with(Durability::kSyncEach));
  BOOST_TEST(!log->recovery().truncated_tail);
  BOOST_TEST(log->recovery().zero_fill_bytes_cut == size - last.offset);
  BOOST_TEST(log->last_seq() == kCount - 1);
  BOOST_TEST(file_size(path) == last.offset);
}

BOOST_AUTO_TEST_CASE(damage_within_the_unsynced_limit_of_the_end_is_a_torn_tail) {
  // Records k..N, written after the last completed sync, may have reached the disk in any
  // order: a damaged record k followed by intact ones is still a write a crash cut short.
  constexpr std::uint64_t kCount = 40;
  constexpr std::uint64_t kDamaged = 20;
  TempDir live, copy;
  const auto segments =
      crashed_copy(live.path(), copy.path(), options_with(Durability::kSyncEach), kCount);
  const std::string name = segments.back().name;
  const std::vector<RecordSpan> spans = record_spans(copy.path(), name);
  BOOST_REQUIRE_EQUAL(spans.size(), kCount);
  const RecordSpan damaged = spans[kDamaged - 1];
  BOOST_REQUIRE_EQUAL(damaged.seq, kDamaged);
  flip_byte(copy.file(name), damaged.offset + kRecordHeaderBytes + 10);
  expect_torn_tail(copy.path(), name, damaged.offset, kDamaged - 1);
}

BOOST_AUTO_TEST_CASE(a_record_partly_written_over_the_zeros_is_a_torn_tail) {
  constexpr std::uint64_t kCount = 40;
  TempDir live, copy;
  const auto segments =
      crashed_copy(live.path(), copy.path(), options_with(Durability::kSyncEach), kCount);
  const std::string name = segments.back().name;
  const std::uint64_t end = segments.back().bytes;
  overwrite(copy.file(name), end,
            record_bytes(kCount + 1, nonzero_payload(kCount + 1)).substr(0, 30));
  expect_torn_tail(copy.path(), name, end, kCount);
}

BOOST_AUTO_TEST_CASE(nonzero_bytes_beyond_the_unsynced_limit_make_damage_corruption) {
  constexpr std::uint64_t kCount = 40;
  constexpr std::uint64_t kDamaged = 20;
  LogOptions options = options_with(Durability::kSyncEach);
  options.max_record_bytes = 1000;
  options.zero_fill_bytes = 12u << 20;  // longer than the limit
  TempDir live, copy;
  const auto segments = crashed_copy(live.path(), copy.path(), options, kCount);
  const std::string name = segments.back().name;
  const std::string path = copy.file(name);
  auto header = read_segment_header(copy.path(), name);
  BOOST_REQUIRE(header.ok());
  const std::uint64_t limit = header->unsynced_limit;
  BOOST_REQUIRE_EQUAL(limit, unsynced_limit_for(1000));
  const std::uint64_t offset = record_spans(copy.path(), name)[kDamaged - 1].offset;
  BOOST_REQUIRE_LT(offset + limit + 100, file_size(path));
  flip_byte(path, offset + kRecordHeaderBytes + 10);
  const auto damaged = testing::snapshot(copy.path());

  for (const std::uint64_t far : {limit + 100, limit}) {
    BOOST_TEST_CONTEXT("a nonzero byte at the damaged record's offset + " << far) {
      testing::restore(copy.path(), damaged);
      overwrite(path, offset + far, "x");
      expect_corruption(copy.path(), name, offset, kDamaged - 1, "record CRC mismatch");
    }
  }
  // The same damage with nonzero bytes only within the limit: a torn tail.
  for (const std::uint64_t near : {std::uint64_t{0}, limit - 1}) {
    BOOST_TEST_CONTEXT("a nonzero byte at the damaged record's offset + " << near << " only") {
      testing::restore(copy.path(), damaged);
      if (near > 0) overwrite(path, offset + near, "x");
      expect_torn_tail(copy.path(), name, offset, kDamaged - 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(zero_fill_in_a_segment_before_the_last_is_corruption) {
  TempDir tmp;
  std::vector<SegmentInfo> segments;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kSyncEach, 4096));
    for (std::uint64_t seq = 1; seq <= 30; ++seq) {
      PROCREG_REQUIRE_OK(log->append(seq, nonzero_payload(seq)));
    }
    PROCREG_REQUIRE_OK(log->close());
    segments = log->segments();
  }
  BOOST_REQUIRE_GT(segments.size(), 2u);
  const SegmentInfo& first = segments.front();
  const std::string path = tmp.file(first.name);
  BOOST_REQUIRE_EQUAL(file_size(path), first.bytes);
  write_bytes(path, read_bytes(path) + std::string(4096, '\0'));
  expect_corruption(tmp.path(), first.name, first.bytes, first.last_seq, "zero fill");
}

BOOST_AUTO_TEST_CASE(damage_in_a_log_without_zero_fill_stays_corruption) {
  // unsynced_limit 0 (kNone): the rules of version 3, where only the last record may be torn.
  constexpr std::uint64_t kCount = 40;
  constexpr std::uint64_t kDamaged = 20;
  TempDir live, copy;
  const auto segments =
      crashed_copy(live.path(), copy.path(), options_with(Durability::kNone), kCount);
  const std::string name = segments.back().name;
  auto header = read_segment_header(copy.path(), name);
  BOOST_REQUIRE(header.ok());
  BOOST_TEST(header->unsynced_limit == 0u);
  BOOST_REQUIRE_EQUAL(file_size(copy.file(name)), segments.back().bytes);
  const std::uint64_t offset = record_spans(copy.path(), name)[kDamaged - 1].offset;
  flip_byte(copy.file(name), offset + kRecordHeaderBytes + 10);
  expect_corruption(copy.path(), name, offset, kDamaged - 1, "record CRC mismatch");
}

namespace {

// Creates segment 1 in `dir` with the given unsynced_limit and a zero fill of 4096 bytes.
std::shared_ptr<SegmentWriter> create_segment(const std::string& dir, std::uint32_t limit) {
  auto dir_fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  BOOST_REQUIRE_MESSAGE(dir_fd.ok(), dir_fd.status().to_string());
  SegmentHeader header;
  header.epoch = 1234;
  header.first_seq = 1;
  header.hub = kHub;
  header.max_record_bytes = 1000;
  header.term = 1;
  header.incarnation = 5678;
  header.unsynced_limit = limit;
  auto created = SegmentWriter::create(dir_fd->get(), dir, header, false, 4096);
  BOOST_REQUIRE_MESSAGE(created.ok(), created.status().to_string());
  BOOST_REQUIRE_EQUAL((*created)->size(), kHeaderBytes);
  auto read_back = read_segment_header(dir, (*created)->name());
  BOOST_REQUIRE_MESSAGE(read_back.ok(), read_back.status().to_string());
  BOOST_REQUIRE_EQUAL(read_back->unsynced_limit, limit);
  return std::move(*created);
}

// The file at `path` holds `records` and then zeros, up to a whole number of pages.
void expect_zero_filled(const std::string& path, const std::string& records) {
  const std::string bytes = read_bytes(path);
  BOOST_TEST(bytes.size() > records.size());
  BOOST_TEST(bytes.size() % kPage == 0u);
  BOOST_TEST((bytes.substr(0, records.size()) == records));
  BOOST_TEST(all_zero(bytes, records.size()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(segment_writer_keeps_unsynced_bytes_within_the_limit) {
  TempDir tmp;
  const auto created = create_segment(tmp.path(), 1000);
  SegmentWriter& segment = *created;
  const std::string path = tmp.file(segment.name());
  std::string records = read_bytes(path).substr(0, segment.size());
  expect_zero_filled(path, records);
  // Synced at creation: 1000 bytes may be written, not one more.
  BOOST_TEST(!segment.must_sync_before(1000));
  BOOST_TEST(segment.must_sync_before(1001));
  const std::string chunk(400, 'r');
  PROCREG_REQUIRE_OK(segment.append(chunk.data(), chunk.size()));
  records += chunk;
  BOOST_TEST(!segment.must_sync_before(600));
  BOOST_TEST(segment.must_sync_before(601));
  PROCREG_REQUIRE_OK(segment.sync());
  BOOST_TEST(!segment.must_sync_before(1000));
  BOOST_TEST(segment.must_sync_before(1001));
  // Writes as the Log makes them, a sync whenever must_sync_before says so, past the first
  // zero fill: the file stays zero-filled ahead of the records.
  const std::uint64_t first_fill = file_size(path);
  for (int i = 0; i < 30; ++i) {
    const std::string more(700, static_cast<char>('a' + i % 26));
    if (segment.must_sync_before(more.size())) PROCREG_REQUIRE_OK(segment.sync());
    BOOST_REQUIRE(!segment.must_sync_before(more.size()));
    PROCREG_REQUIRE_OK(segment.append(more.data(), more.size()));
    records += more;
    BOOST_REQUIRE_EQUAL(segment.size(), records.size());
    expect_zero_filled(path, records);
  }
  BOOST_TEST(file_size(path) > first_fill);
  PROCREG_REQUIRE_OK(segment.seal());
  BOOST_TEST(file_size(path) == segment.size());
  BOOST_TEST((read_bytes(path) == records));
}

BOOST_AUTO_TEST_CASE(segment_writer_grows_its_fill_for_a_longer_append) {
  TempDir tmp;
  const auto created = create_segment(tmp.path(), 64u << 10);
  SegmentWriter& segment = *created;
  const std::string path = tmp.file(segment.name());
  std::string records = read_bytes(path).substr(0, segment.size());
  const std::uint64_t before = file_size(path);
  const std::string longer(3 * kPage, 'x');
  BOOST_REQUIRE_GT(longer.size(), before - segment.size());  // longer than the fill left
  BOOST_REQUIRE(!segment.must_sync_before(longer.size()));
  PROCREG_REQUIRE_OK(segment.append(longer.data(), longer.size()));
  records += longer;
  BOOST_REQUIRE_EQUAL(segment.size(), records.size());
  BOOST_TEST(file_size(path) > before);
  expect_zero_filled(path, records);
  PROCREG_REQUIRE_OK(segment.seal());
  BOOST_TEST((read_bytes(path) == records));
}

namespace {

// What a thread reading a live log over and over saw.
struct FollowResult {
  std::string error;         // the first problem, if any
  std::uint64_t passes = 0;  // complete reads from seq 1
  std::uint64_t passes_while_writing = 0;
  std::uint64_t last_seen = 0;
};

// One read of the log in `dir` from seq 1 to its end: every record in order. Returns the last
// seq read, or sets *error.
std::uint64_t read_once(const std::string& dir, std::string* error) {
  auto reader = LogReader::open(dir);
  if (!reader.ok()) {
    *error = "open: " + reader.status().to_string();
    return 0;
  }
  LogRecord record;
  std::uint64_t last = 0;
  for (;;) {  // ends at the end of the log, which is finite
    auto more = (*reader)->next(&record);
    if (!more.ok()) {
      *error = "after seq " + std::to_string(last) + ": " + more.status().to_string();
      return last;
    }
    if (!*more) return last;
    if (record.seq != last + 1) {
      *error = "seq " + std::to_string(record.seq) + " after " + std::to_string(last);
      return last;
    }
    last = record.seq;
  }
}

// Reads `dir` again and again until `done` (then once more) or `deadline`.
FollowResult follow(const std::string& dir, const std::atomic<bool>& done,
                    std::chrono::steady_clock::time_point deadline) {
  FollowResult result;
  bool last_pass = false;
  while (!last_pass && std::chrono::steady_clock::now() < deadline) {
    last_pass = done.load(std::memory_order_acquire);
    const std::uint64_t last = read_once(dir, &result.error);
    if (!result.error.empty()) return result;
    if (last < result.last_seen) {
      result.error = "read up to seq " + std::to_string(last) + " after reading up to " +
                     std::to_string(result.last_seen);
      return result;
    }
    result.last_seen = last;
    ++result.passes;
    if (!last_pass) ++result.passes_while_writing;
  }
  return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_reader_following_a_live_log_never_sees_damage) {
  constexpr std::uint64_t kCount = 20000;
  TempDir tmp;
  LogOptions options = options_with(Durability::kGroupCommit, 1u << 20);
  options.zero_fill_bytes = 64u << 10;
  auto log = open_log(tmp.path(), options);
  std::atomic<bool> done{false};
  Status written;
  std::thread writer([&] {
    for (std::uint64_t seq = 1; seq <= kCount && written.ok(); ++seq) {
      written = log->append(seq, payload_for(seq));
    }
    done.store(true, std::memory_order_release);
  });
  FollowResult followed;
  std::thread reader([&] {
    followed =
        follow(tmp.path(), done, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  });
  writer.join();
  reader.join();
  PROCREG_REQUIRE_OK(written);
  BOOST_TEST(followed.error.empty(), followed.error);
  BOOST_TEST(followed.passes > 0u);
  BOOST_TEST(followed.last_seen <= kCount);
  BOOST_TEST_MESSAGE("reads: " << followed.passes << " (" << followed.passes_while_writing
                               << " while writing), the last up to seq " << followed.last_seen);
  BOOST_TEST(log->segments().size() > 2u);
  const auto records = read_all(tmp.path());
  BOOST_REQUIRE_EQUAL(records.size(), kCount);
  for (std::uint64_t seq = 1; seq <= kCount; ++seq) {
    BOOST_REQUIRE(records[seq - 1].payload == payload_for(seq));
  }
  PROCREG_REQUIRE_OK(log->close());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::replay
