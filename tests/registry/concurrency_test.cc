// Readers during writes see consistent states (never half of a bulk operation), and several
// writer threads under every durability policy commit gapless, read-your-writes sequences.
// Run under ThreadSanitizer in CI (ctest label "concurrency").
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procreg/registry.h"
#include "temp_dir.h"

namespace procreg {
namespace {

constexpr int kBatch = 16;

RegistryOptions options_for(const std::string& dir, Durability durability) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = durability;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

std::vector<Entry> batch(int b) {
  std::vector<Entry> out;
  for (int i = 0; i < kBatch; ++i) {
    Metadata md{{"tag", Value("batch-" + std::to_string(b))}};
    out.push_back(Entry{make_spec("b" + std::to_string(b) + "-" + std::to_string(i)),
                        {{"n0", "<0." + std::to_string(i) + ".0>"}},
                        md});
  }
  return out;
}

// Counts how many rows of each batch are bound in a dump; every count must be 0 or kBatch.
bool whole_batches(const Dump& dump, std::string* why) {
  std::map<std::string, int> count;
  for (const auto& [id, entry] : dump) count[id.substr(0, id.find('-'))]++;
  for (const auto& [prefix, n] : count) {
    if (n != kBatch) {
      *why = prefix + " has " + std::to_string(n) + " rows";
      return false;
    }
  }
  return true;
}

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE(readers_never_see_half_of_a_bulk_operation) {
  testing::TempDir dir;
  auto opened = Registry::open(options_for(dir.path(), Durability::kNone));
  BOOST_REQUIRE(opened.ok());
  Registry& registry = **opened;
  constexpr int kRounds = 150;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<long> reads{0};
  std::string first_tear;
  std::mutex tear_mu;

  auto reader = [&](int which) {
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done.load() && std::chrono::steady_clock::now() < limit) {
      std::string why;
      bool ok = true;
      if (which == 0) {
        ok = whole_batches(registry.dump(), &why);
      } else {
        for (int b = 0; b < kRounds && ok; b += 7) {
          const auto n = registry.match_tag("batch-" + std::to_string(b)).size();
          ok = n == 0 || n == kBatch;
          if (!ok) why = "match_tag batch-" + std::to_string(b) + " = " + std::to_string(n);
        }
      }
      reads.fetch_add(1);
      if (!ok && torn.fetch_add(1) == 0) {
        std::lock_guard lock(tear_mu);
        first_tear = why;
      }
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader, i % 2);

  for (int b = 0; b < kRounds; ++b) {
    BOOST_REQUIRE(registry.bulk_insert(batch(b)).ok());
    if (b % 3 == 2) {  // empty an older batch: all its rows become tombstones at once
      std::vector<std::pair<ChildId, std::vector<NodeName>>> gone;
      for (const auto& e : batch(b - 2)) gone.emplace_back(e.spec.id, std::vector<NodeName>{"n0"});
      BOOST_REQUIRE(registry.bulk_delete(gone).ok());
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(torn.load() == 0, "first torn read: " << first_tear);
  BOOST_TEST(reads.load() > 0);
  BOOST_TEST(registry.dump().size() == static_cast<std::size_t>(kRounds - kRounds / 3) * kBatch);
}

void concurrent_writers(Durability durability) {
  testing::TempDir dir;
  auto opened = Registry::open(options_for(dir.path(), durability));
  BOOST_REQUIRE(opened.ok());
  Registry& registry = **opened;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::vector<std::uint64_t>> seqs(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "w" + std::to_string(t) + "-" + std::to_string(i);
        auto seq = registry.insert(make_spec(id), {{"n" + std::to_string(t), "<0.1.0>"}});
        // read-your-writes: the row is visible as soon as the write returns
        if (!seq.ok() || !registry.lookup(id) || registry.last_sequence() < *seq) {
          failures.fetch_add(1);
          continue;
        }
        seqs[t].push_back(*seq);
      }
    });
  }
  for (auto& w : writers) w.join();
  BOOST_TEST(failures.load() == 0);
  std::set<std::uint64_t> all;
  for (const auto& s : seqs) all.insert(s.begin(), s.end());
  BOOST_TEST(all.size() == static_cast<std::size_t>(kThreads * kPerThread));
  BOOST_TEST(*all.begin() == 1u);
  BOOST_TEST(*all.rbegin() == static_cast<std::uint64_t>(kThreads * kPerThread));
  BOOST_TEST(registry.dump().size() == static_cast<std::size_t>(kThreads * kPerThread));
}

BOOST_AUTO_TEST_CASE(writer_threads_get_gapless_sequences_without_sync) {
  concurrent_writers(Durability::kNone);
}
BOOST_AUTO_TEST_CASE(writer_threads_get_gapless_sequences_under_group_commit) {
  concurrent_writers(Durability::kGroupCommit);
}
BOOST_AUTO_TEST_CASE(writer_threads_get_gapless_sequences_when_syncing_each_append) {
  concurrent_writers(Durability::kSyncEach);
}

BOOST_AUTO_TEST_CASE(group_commit_writers_validate_against_pending_events) {
  // Under group commit a write is validated before the previous one is applied: bulk_insert
  // merges must still see every earlier write, so the final row holds every thread's node.
  testing::TempDir dir;
  auto opened = Registry::open(options_for(dir.path(), Durability::kGroupCommit));
  BOOST_REQUIRE(opened.ok());
  Registry& registry = **opened;
  constexpr int kThreads = 6;
  std::atomic<int> failures{0};  // Boost.Test's macros are for the main thread only
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Entry e{
            make_spec("shared"), {{"n" + std::to_string(t), "<" + std::to_string(i) + ">"}}, {}};
        if (!registry.bulk_insert({e}).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  BOOST_TEST(failures.load() == 0);
  auto row = registry.lookup("shared");
  BOOST_REQUIRE(row);
  BOOST_TEST(row->node_pids.size() == static_cast<std::size_t>(kThreads));
  for (const auto& np : row->node_pids) BOOST_TEST(np.pid == "<19>");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
