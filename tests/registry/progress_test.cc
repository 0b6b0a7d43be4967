// A replay's progress callback (ReplayOptions::progress): the position just past the record last
// applied, reported by events and by bytes, so that a display by bytes advances monotonically to
// the log's size, also on a log of few large records.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "fixture.h"
#include "log/log_format.h"
#include "replay/replay.h"

namespace procreg::testing {
namespace {

namespace fs = std::filesystem;

struct Position {
  std::uint64_t bytes;  // of the log read: the segments before, and the offset in this one
  std::uint64_t seq;
};

// Writes with `write`, then replays the whole log and returns what the callback saw, by bytes.
template <typename Write>
std::vector<Position> replay_positions(std::uint64_t segment_bytes, const Write& write,
                                       std::uint64_t* total) {
  TempDir dir;
  {
    RegistryOptions o;
    o.hub = kHub;
    o.log_dir = dir.path();
    o.local_node = kLocalNode;
    o.log.durability = Durability::kNone;
    o.log.segment_bytes = segment_bytes;
    o.snapshots.every_bytes = 0;
    o.janitor_interval = std::chrono::milliseconds(0);
    auto opened = Registry::open(o);
    BOOST_REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
    write(**opened);
  }
  auto segments = replay::list_segments(dir.path());
  BOOST_REQUIRE(segments.ok());
  std::map<std::string, std::uint64_t> before;
  *total = 0;
  for (const auto& s : *segments) {
    before[s.name] = *total;
    *total += fs::file_size(dir.file(s.name));
  }
  std::vector<Position> seen;
  ReplayOptions ro{dir.path(), kLocalNode, 0};
  ro.progress = [&](const std::string& segment, std::uint64_t offset, std::uint64_t seq) {
    BOOST_REQUIRE(before.count(segment) == 1);
    seen.push_back({before[segment] + offset, seq});
  };
  auto replayed = Registry::open_replay(ro);
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->last_sequence() == (seen.empty() ? 0 : seen.back().seq));
  return seen;
}

void check_monotonic(const std::vector<Position>& seen, std::uint64_t total) {
  BOOST_REQUIRE(!seen.empty());
  for (std::size_t i = 1; i < seen.size(); ++i) {
    BOOST_TEST(seen[i].bytes > seen[i - 1].bytes);
    BOOST_TEST(seen[i].seq > seen[i - 1].seq);
    BOOST_TEST(seen[i].seq - seen[i - 1].seq <= replay::kProgressEvents);
  }
  BOOST_TEST(seen.back().bytes == total);  // the last call: the end of the log
}

BOOST_AUTO_TEST_SUITE(replay_progress)

BOOST_AUTO_TEST_CASE(many_small_records_report_by_count_and_bytes_to_the_end) {
  std::uint64_t total = 0;
  const auto seen = replay_positions(
      256 << 10,
      [](Registry& r) {
        for (int i = 0; i < 9'000; ++i) {
          BOOST_REQUIRE(r.insert(S("p" + std::to_string(i)), {np("n1", "x")}).ok());
        }
      },
      &total);
  check_monotonic(seen, total);
  BOOST_TEST(seen.back().seq == 9'000u);
  // 4096 of these records are more than kProgressBytes: bytes set the pace, one call per
  // kProgressBytes of records (counted across segments) and the last.
  BOOST_TEST(seen.size() >= 9'000 / replay::kProgressEvents);
  BOOST_TEST(seen.size() <= total / replay::kProgressBytes + 2);
}

BOOST_AUTO_TEST_CASE(few_large_records_report_each_on_the_way) {
  // 6 bulk inserts of 5000 rows each: 6 records of well over kProgressBytes.
  std::uint64_t total = 0;
  const auto seen = replay_positions(
      64ull << 20,
      [](Registry& r) {
        for (int b = 0; b < 6; ++b) {
          std::vector<Entry> rows;
          for (int i = 0; i < 5'000; ++i) {
            rows.push_back(E("b" + std::to_string(b) + "-" + std::to_string(i),
                             {np("n1", "pid-" + std::to_string(i))}));
          }
          BOOST_REQUIRE(r.bulk_insert(std::move(rows)).ok());
        }
      },
      &total);
  BOOST_TEST_MESSAGE("log of " << total << " bytes, " << seen.size() << " calls");
  BOOST_REQUIRE(total > 6 * replay::kProgressBytes);
  check_monotonic(seen, total);
  BOOST_TEST(seen.size() == 6u);  // each record alone passes kProgressBytes
  for (std::size_t i = 0; i < seen.size(); ++i) BOOST_TEST(seen[i].seq == i + 1);
}

BOOST_AUTO_TEST_CASE(a_log_below_both_bounds_reports_once_at_its_end) {
  std::uint64_t total = 0;
  const auto seen = replay_positions(
      64ull << 20,
      [](Registry& r) {
        for (int i = 0; i < 5; ++i)
          BOOST_REQUIRE(r.insert(S("c" + std::to_string(i)), {np("n1", "x")}).ok());
      },
      &total);
  BOOST_REQUIRE(seen.size() == 1u);
  BOOST_TEST(seen[0].seq == 5u);
  BOOST_TEST(seen[0].bytes == total);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
