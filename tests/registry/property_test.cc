// The fold property: a random workload over every mutation kind (hooks on and off, TTLs,
// two tables, janitor passes); the live registry equals the one replayed from its log, the
// one reopened from it, and replaying up to sequence k gives exactly the live state after
// its k-th event.
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "log/log.h"
#include "log/log_reader.h"
#include "procreg/registry.h"
#include "state/projection.h"
#include "temp_dir.h"

namespace procreg {
namespace {

using AllTables = std::map<std::string, Dump>;

class Workload {
 public:
  Workload(Registry& registry, std::atomic<std::int64_t>& clock, std::uint32_t seed)
      : registry_(registry), clock_(clock), rng_(seed) {}

  // Performs one random call; returns false if the call failed unexpectedly.
  bool step() {
    clock_ += pick(0, 3) == 0 ? pick(1000, 40'000) : pick(0, 50);
    const int kind = pick(0, 99);
    WriteOptions w;
    w.hooks = pick(0, 1) == 1;
    w.table = pick(0, 4) == 0 ? "side" : "";
    if (kind < 25) return insert(w);
    if (kind < 45) return ok(registry_.bulk_insert(entries(pick(1, 5)), w));
    if (kind < 55) return ok(registry_.erase(id(), w));
    if (kind < 75) return ok(registry_.bulk_delete(deletions(pick(1, 4)), w));
    if (kind < 88) return update(w);
    if (kind < 89) return registry_.clear_all(w).ok();
    return registry_.run_janitor().ok();
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string id() { return "c" + std::to_string(pick(0, 299)); }
  NodePid pair() {
    return NodePid{"n" + std::to_string(pick(0, 4)), "<0." + std::to_string(pick(0, 999)) + ".0>"};
  }
  NodePids pairs() {
    NodePids out;
    for (int i = pick(0, 3); i > 0; --i) out.push_back(pair());
    return out;
  }
  Metadata metadata() {
    Metadata md;
    if (pick(0, 2) == 0) md["tag"] = "t" + std::to_string(pick(0, 3));
    if (pick(0, 3) == 0) md["n"] = pick(-5, 5);
    return md;
  }
  ChildSpec spec(const std::string& child) {
    return make_spec(child, "Elixir.W", "start_link", {Value(pick(0, 2)), Value("arg")});
  }
  std::vector<Entry> entries(int n) {
    std::vector<Entry> out;
    for (int i = 0; i < n; ++i) out.push_back(Entry{spec(id()), pairs(), metadata()});
    return out;
  }
  std::vector<std::pair<ChildId, std::vector<NodeName>>> deletions(int n) {
    std::vector<std::pair<ChildId, std::vector<NodeName>>> out;
    for (int i = 0; i < n; ++i) {
      std::vector<NodeName> nodes;
      for (int j = pick(0, 2); j > 0; --j) nodes.push_back(pair().node);
      out.emplace_back(id(), std::move(nodes));
    }
    return out;
  }
  bool insert(const WriteOptions& w) {
    InsertOptions o;
    static_cast<WriteOptions&>(o) = w;
    o.metadata = metadata();
    NodePids nodes = pairs();
    if (pick(0, 3) == 0) o.ttl_ms = pick(-1000, 60'000);
    if (nodes.empty() && pick(0, 1) == 0) o.metadata["pending"] = true;
    return ok(registry_.insert(spec(id()), std::move(nodes), o));
  }
  bool update(const WriteOptions& w) {
    const int how = pick(0, 3);
    auto fn = [&, how](const ChildSpec& s, const NodePids& np, const Metadata& md) {
      Entry e{s, np, md};
      if (how == 0) e.metadata["u"] = pick(0, 9);
      if (how == 1) e.node_pids.push_back(pair());
      if (how == 2) e.spec.id = id();   // a new row under another id; the old one stays
      if (how == 3) e.spec.id.clear();  // invalid: nothing is written
      return e;
    };
    auto r = registry_.update(id(), fn, w);
    return r.ok() || r.status().code() == Code::kNotFound ||
           r.status().code() == Code::kInvalidArgument;
  }
  static bool ok(const Result<std::uint64_t>& r) { return r.ok(); }

  Registry& registry_;
  std::atomic<std::int64_t>& clock_;
  std::mt19937 rng_;
};

RegistryOptions options_for(const std::string& dir, std::atomic<std::int64_t>& clock) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = Durability::kNone;
  o.log.segment_bytes = 1u << 20;  // several segments
  o.janitor_interval = std::chrono::milliseconds(0);
  o.clock = [&clock] { return clock.load(); };
  return o;
}

BOOST_AUTO_TEST_SUITE(property)

BOOST_AUTO_TEST_CASE(random_workload_live_equals_replayed_reopened_and_every_prefix) {
  testing::TempDir dir;
  std::atomic<std::int64_t> clock{1'700'000'000'000};
  const RegistryOptions options = options_for(dir.path(), clock);
  constexpr int kOps = 100'000;
  constexpr std::uint64_t kSampleEvery = 997;  // prime: samples land on every event kind
  std::map<std::uint64_t, AllTables> samples;  // state after event k, for sampled k
  AllTables live;
  std::uint64_t last_seq = 0;
  {
    auto opened = Registry::open(options);
    BOOST_REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
    Registry& registry = **opened;
    std::uint64_t hooks_seen = 0;
    auto sub_r =
        registry.subscribe(HookTopic::kChildRegistered, [&](const HookEvent&) { ++hooks_seen; });
    Workload workload(registry, clock, 20261123);
    for (int i = 0; i < kOps; ++i) {
      BOOST_REQUIRE(workload.step());
      const std::uint64_t seq = registry.last_sequence();
      if (seq != last_seq && seq % kSampleEvery == 0) samples[seq] = registry.dump_all_tables();
      last_seq = seq;
    }
    BOOST_REQUIRE(registry.wait_for_hooks(last_seq, std::chrono::seconds(30)).ok());
    BOOST_TEST(hooks_seen > 0u);
    live = registry.dump_all_tables();
    BOOST_TEST(registry.stats().events_written == last_seq);
  }
  BOOST_TEST_MESSAGE(last_seq << " events, " << samples.size() << " sampled prefixes");
  BOOST_REQUIRE(last_seq > 50'000u);
  BOOST_REQUIRE(live.size() == 2u);

  auto replayed = Registry::open_replay(ReplayOptions{dir.path(), "n0", 0});
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->last_sequence() == last_seq);
  BOOST_TEST(((*replayed)->dump_all_tables() == live));

  auto reopened = Registry::open(options);
  BOOST_REQUIRE_MESSAGE(reopened.ok(), reopened.status().to_string());
  BOOST_TEST((*reopened)->last_sequence() == last_seq);
  BOOST_TEST(((*reopened)->dump_all_tables() == live));

  // One fold over the log, compared with the live state at every sampled prefix.
  auto reader = replay::LogReader::open(dir.path());
  BOOST_REQUIRE(reader.ok());
  replay::Projection fold("hub", "n0");
  replay::LogRecord record;
  std::size_t compared = 0;
  for (;;) {
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
    if (!*more) break;
    auto event = events::decode(record.payload);
    BOOST_REQUIRE_MESSAGE(event.ok(), event.status().to_string());
    BOOST_REQUIRE(fold.apply(std::move(*event)).ok());
    auto sample = samples.find(fold.last_seq());
    if (sample != samples.end()) {
      BOOST_TEST((fold.dump_all_tables() == sample->second), "prefix " << fold.last_seq());
      ++compared;
    }
  }
  BOOST_TEST(compared == samples.size());
  BOOST_TEST(fold.last_seq() == last_seq);

  // open_replay up to a sequence stops exactly there.
  for (auto it = samples.begin(); it != samples.end(); std::advance(it, 13)) {
    auto as_of = Registry::open_replay(ReplayOptions{dir.path(), "n0", it->first});
    BOOST_REQUIRE(as_of.ok());
    BOOST_TEST((*as_of)->last_sequence() == it->first);
    BOOST_TEST(((*as_of)->dump_all_tables() == it->second), "as of " << it->first);
    if (std::distance(it, samples.end()) <= 13) break;
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE(concurrent_random_workload_under_group_commit_replays_exactly) {
  // Under group commit, writes are validated against events appended but not yet applied (the
  // overlay). Four threads of random calls; the result must still be exactly the fold.
  testing::TempDir dir;
  std::atomic<std::int64_t> clock{1'700'000'000'000};
  RegistryOptions options = options_for(dir.path(), clock);
  options.log.durability = Durability::kGroupCommit;
  AllTables live;
  {
    auto opened = Registry::open(options);
    BOOST_REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
    Registry& registry = **opened;
    std::atomic<int> failures{0};  // Boost.Test's macros are for the main thread only
    std::vector<std::thread> threads;
    for (std::uint32_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        Workload workload(registry, clock, 1000 + t);
        for (int i = 0; i < 1500; ++i) {
          if (!workload.step()) failures.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    BOOST_TEST(failures.load() == 0);
    live = registry.dump_all_tables();
    BOOST_TEST(registry.stats().events_written == registry.last_sequence());
  }
  auto replayed = Registry::open_replay(ReplayOptions{dir.path(), "n0", 0});
  BOOST_REQUIRE(replayed.ok());
  BOOST_TEST(((*replayed)->dump_all_tables() == live));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
