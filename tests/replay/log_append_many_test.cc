// Log::append_many: several records with one write per segment (and one fdatasync per segment
// under kSyncEach), the same bytes as one append() each, checked before anything is written.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "log_test_util.h"

namespace procreg::replay {
namespace {

using testing::open_log;
using testing::options_with;
using testing::payload_for;
using testing::read_all;
using testing::TempDir;

constexpr std::uint64_t kSmallSegment = 4096;

// payload_for(seq) for seq in [first, last], and views of them.
struct Payloads {
  Payloads(std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t seq = first; seq <= last; ++seq) owned.push_back(payload_for(seq));
    for (const auto& p : owned) views.emplace_back(p);
  }
  std::vector<std::string> owned;
  std::vector<std::string_view> views;
};

BOOST_AUTO_TEST_SUITE(log_append_many)

BOOST_AUTO_TEST_CASE(a_batch_writes_the_same_files_as_one_append_each) {
  // Across many rolls: the same segments, the same bytes, whatever the batch boundaries.
  TempDir one_by_one, batched;
  {
    auto log = open_log(one_by_one.path(), options_with(Durability::kNone, kSmallSegment));
    for (std::uint64_t seq = 1; seq <= 600; ++seq) {
      PROCREG_REQUIRE_OK(log->append(seq, payload_for(seq)));
    }
    PROCREG_REQUIRE_OK(log->close());
  }
  std::vector<SegmentInfo> segments;
  {
    auto log = open_log(batched.path(), options_with(Durability::kNone, kSmallSegment));
    std::uint64_t seq = 1;
    for (std::uint64_t n : {1u, 7u, 250u, 2u, 300u, 40u}) {
      Payloads batch(seq, seq + n - 1);
      PROCREG_REQUIRE_OK(log->append_many(seq, batch.views));
      seq += n;
      BOOST_TEST(log->last_seq() == seq - 1);
    }
    BOOST_REQUIRE_EQUAL(seq, 601u);
    segments = log->segments();
    PROCREG_REQUIRE_OK(log->close());
  }
  BOOST_TEST_REQUIRE(segments.size() > 10u);
  // The files differ only in their headers' epochs: same names, sizes and records at the
  // same offsets.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(one_by_one.path())) {
    const std::string name = entry.path().filename().string();
    BOOST_TEST_CONTEXT("segment " << name) {
      BOOST_TEST(std::filesystem::file_size(entry.path()) ==
                 std::filesystem::file_size(batched.file(name)));
    }
    ++files;
  }
  BOOST_TEST(files == segments.size());
  const auto expected = read_all(one_by_one.path());
  const auto records = read_all(batched.path());
  BOOST_REQUIRE_EQUAL(records.size(), 600u);
  BOOST_REQUIRE_EQUAL(expected.size(), 600u);
  for (std::size_t i = 0; i < records.size(); ++i) {
    BOOST_TEST_CONTEXT("record " << i) {
      BOOST_REQUIRE_EQUAL(records[i].seq, i + 1);
      BOOST_REQUIRE(records[i].payload == payload_for(i + 1));
      BOOST_REQUIRE_EQUAL(records[i].segment, expected[i].segment);
      BOOST_REQUIRE_EQUAL(records[i].offset, expected[i].offset);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_batch_in_one_segment_is_one_fdatasync_under_sync_each) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kSyncEach));
  Payloads batch(1, 64);
  PROCREG_REQUIRE_OK(log->append_many(1, batch.views));
  const SyncStats stats = log->sync_stats();
  BOOST_TEST(stats.syncs == 1u);
  BOOST_TEST(stats.records == 64u);
  BOOST_TEST(stats.largest_group == 64u);
  BOOST_TEST(log->durable_seq() == 64u);
  PROCREG_REQUIRE_OK(log->append(65, "x"));
  BOOST_TEST(log->sync_stats().syncs == 2u);
}

BOOST_AUTO_TEST_CASE(a_bad_payload_anywhere_in_a_batch_writes_none_of_it) {
  TempDir tmp;
  LogOptions options = options_with(Durability::kSyncEach);
  options.max_record_bytes = 1000;
  auto log = open_log(tmp.path(), options);
  const std::string path = tmp.file(segment_file_name(1));
  const auto size = std::filesystem::file_size(path);
  const std::string big(1001, 'b');
  const std::vector<std::string_view> oversized{"a", "b", big, "d"};
  const Status s = log->append_many(1, oversized);
  BOOST_TEST(s.code() == Code::kResourceExhausted);
  BOOST_TEST(s.message().find("seq 3") != std::string::npos, s.to_string());
  const std::vector<std::string_view> with_empty{"a", "", "c"};
  BOOST_TEST(log->append_many(1, with_empty).code() == Code::kInvalidArgument);
  BOOST_TEST(log->append_many(1, std::vector<std::string_view>{}).code() == Code::kInvalidArgument);
  const std::vector<std::string_view> good{"a", "b"};
  BOOST_TEST(log->append_many(2, good).code() == Code::kInvalidArgument);
  BOOST_TEST(std::filesystem::file_size(path) == size);
  BOOST_TEST(log->last_seq() == 0u);
  // None of them poisoned the log.
  PROCREG_REQUIRE_OK(log->append_many(1, good));
  BOOST_TEST(log->last_seq() == 2u);
  PROCREG_REQUIRE_OK(log->close());
  const auto records = read_all(tmp.path());
  BOOST_REQUIRE_EQUAL(records.size(), 2u);
  BOOST_TEST(records[1].payload == "b");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::replay
