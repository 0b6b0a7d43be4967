// Durable hook subscribers: compaction keeps the events after the lowest recorded position,
// within SnapshotOptions::durable_max_events; a name further behind is cut off; positions
// survive a reopen.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "fixture.h"
#include "log/log_format.h"

namespace procreg::testing {
namespace {

namespace fs = std::filesystem;

RegistryOptions options_for(const std::string& dir) {
  RegistryOptions o;
  o.hub = kHub;
  o.log_dir = dir;
  o.local_node = kLocalNode;
  o.log.durability = Durability::kNone;
  o.log.segment_bytes = 4096;
  o.snapshots.every_bytes = 0;
  o.snapshots.keep = 1;
  o.snapshots.compact = true;
  o.snapshots.durable_max_events = 150;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

void insert_rows(Registry& r, int from, int to) {
  for (int i = from; i < to; ++i) {
    BOOST_REQUIRE(r.insert(S("c" + std::to_string(i)), {np("n1", "p" + std::to_string(i))}).ok());
  }
}

// The first seq the log still holds (its oldest segment's first_seq).
std::uint64_t first_kept(const std::string& dir) {
  std::vector<std::uint64_t> firsts;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (auto first = replay::parse_segment_file_name(name)) firsts.push_back(*first);
  }
  BOOST_REQUIRE(!firsts.empty());
  return *std::min_element(firsts.begin(), firsts.end());
}

BOOST_AUTO_TEST_SUITE(durable)

BOOST_AUTO_TEST_CASE(compaction_keeps_what_a_durable_subscriber_needs_within_the_bound) {
  TempDir dir;
  {
    auto opened = Registry::open(options_for(dir.path()));
    BOOST_REQUIRE(opened.ok());
    Registry& r = **opened;
    insert_rows(r, 0, 50);
    BOOST_TEST(r.set_durable_position("billing", 20).ok());
    BOOST_TEST(r.set_durable_position("bad name", 20).code() == Code::kInvalidArgument);
    BOOST_TEST(r.set_durable_position("billing", 51).code() == Code::kInvalidArgument);

    // A snapshot at 150 would let compaction drop everything before it but billing needs 21..
    insert_rows(r, 50, 150);
    BOOST_REQUIRE(r.snapshot().ok());
    BOOST_TEST(first_kept(dir.path()) <= 21u);
    BOOST_TEST(r.stats().durable_subscribers == 1u);
    BOOST_TEST(r.stats().durable_max_lag == 130u);

    // It moves on: so does the log's start.
    BOOST_TEST(r.set_durable_position("billing", 100).ok());
    BOOST_REQUIRE(r.snapshot().ok());
    BOOST_TEST(first_kept(dir.path()) > 21u);
    BOOST_TEST(first_kept(dir.path()) <= 101u);

    // Past the bound (150 events behind), it is cut off and no longer holds the log.
    insert_rows(r, 150, 300);
    BOOST_REQUIRE(r.snapshot().ok());
    BOOST_TEST(r.stats().durable_cut_off == 1u);
    BOOST_TEST(r.stats().durable_max_lag == 0u);  // it holds nothing back now
    // Its position stays, so that it learns at its next start that the events are gone.
    BOOST_TEST(r.durable_positions().at("billing") == 100u);
    BOOST_TEST(first_kept(dir.path()) > 101u);
    BOOST_TEST(r.set_durable_position("ledger", 290).ok());
  }
  // Positions survive a reopen (written at close).
  auto reopened = Registry::open(options_for(dir.path()));
  BOOST_REQUIRE(reopened.ok());
  const auto positions = (*reopened)->durable_positions();
  BOOST_TEST(positions.size() == 2u);
  BOOST_TEST(positions.at("ledger") == 290u);
  BOOST_TEST((*reopened)->stats().durable_max_lag == 10u);  // ledger; billing, cut, counts not
}

BOOST_AUTO_TEST_CASE(a_damaged_positions_file_fails_the_open_and_says_where) {
  TempDir dir;
  {
    auto opened = Registry::open(options_for(dir.path()));
    BOOST_REQUIRE(opened.ok());
    insert_rows(**opened, 0, 3);
  }
  {
    std::ofstream f(dir.path() + "/durable-positions");
    f << "3 billing\n4 ledger cut\nnot a line\n";
  }
  auto opened = Registry::open(options_for(dir.path()));
  BOOST_REQUIRE(!opened.ok());
  BOOST_TEST(opened.status().code() == Code::kCorruption);
  BOOST_TEST(opened.status().message().find("line 3") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
