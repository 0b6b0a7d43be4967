// A writer killed with SIGKILL at random moments and restarted on the same log, over and over
// (crash_harness.h says what is checked after each kill). The kill moments and the writers'
// workloads come from one seed, drawn at random unless given, and printed with any failure.
//
// The kill counts suit a test run (about 80 kills, 20 of them of a writer snapshotting every
// 50..200 events, keeping 2 and compacting); a soak run asks for more after "--":
//   crash_test --run_test=kill -- --kills 1000 [--replica-kills 50] [--snapshot-kills 300]
//                                 [--seed S]
// (tools/crash-soak.sh does that, printing progress).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include <boost/test/unit_test.hpp>

#include "crash_harness.h"

namespace procreg::crash {
namespace {

using std::chrono::milliseconds;

// --name N after "--" on the command line, else `fallback`.
std::uint64_t arg(const char* name, std::uint64_t fallback) {
  const auto& suite = boost::unit_test::framework::master_test_suite();
  for (int i = 1; i + 1 < suite.argc; ++i) {
    if (std::strcmp(suite.argv[i], name) == 0) return std::stoull(suite.argv[i + 1]);
  }
  return fallback;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSlowBuild = true;  // ASan slows the writer's start: kill it later
#else
constexpr bool kSlowBuild = false;
#endif

std::uint64_t seed() {
  static const std::uint64_t s = arg("--seed", std::random_device{}());
  return s;
}

HarnessTotals add(HarnessTotals a, const HarnessTotals& b) {
  a.kills += b.kills;
  a.kills_before_ready += b.kills_before_ready;
  a.acks += b.acks;
  a.in_flight += b.in_flight;
  a.torn_tails += b.torn_tails;
  a.simulated_tails += b.simulated_tails;
  a.replica_checks += b.replica_checks;
  a.snapshot_temps += b.snapshot_temps;
  a.snapshot_opens += b.snapshot_opens;
  a.full_replay_checks += b.full_replay_checks;
  a.compacted_checks += b.compacted_checks;
  a.compacted_acks += b.compacted_acks;
  a.last_seq = std::max(a.last_seq, b.last_seq);
  return a;
}

// The totals of the logs done (`done`) and of the current one (`h`).
void progress(const HarnessTotals& current, const HarnessTotals& done, std::uint64_t kills,
              std::uint64_t of) {
  const HarnessTotals t = add(done, current);
  BOOST_TEST_MESSAGE(
      "seed " << seed() << ": " << kills << "/" << of << " kills (" << t.kills_before_ready
              << " while opening), " << t.acks << " acknowledged writes checked, " << t.in_flight
              << " calls interrupted, " << t.torn_tails << " torn tails (" << t.simulated_tails
              << " simulated), " << t.replica_checks << " replica checks, " << t.snapshot_opens
              << " opens from a snapshot, " << t.snapshot_temps << " snapshot writes cut short, "
              << t.full_replay_checks << " compared with a full replay, " << t.compacted_checks
              << " checks of a compacted log, longest log " << t.last_seq << " events");
}

// Kills a writer `kills` times: mostly at 1..60 ms into its write load, one in six while it
// opens its log; one in four times a torn write is added to a clean tail before the checks.
// With snapshots, one kill in four (of those into the load) waits for 400 writes first.
// Every `per_log` kills the writer is stopped and a new log (a new harness) begins, so that
// the checks, which replay the whole log, stay cheap in a long soak run.
HarnessTotals kill_repeatedly(HarnessOptions options, std::uint64_t kills, std::uint64_t per_log) {
  std::mt19937_64 rng(options.seed);
  BOOST_TEST_MESSAGE("crash test seed " << seed() << " (repeat with -- --seed " << seed() << ")");
  HarnessTotals all;
  for (std::uint64_t log = 0, k = 0; k < kills; ++log) {
    options.seed = rng();
    if (options.snapshot_every_events > 0) options.snapshot_every_events = 50 + rng() % 151;
    CrashHarness h(options);
    for (std::uint64_t i = 0; i < per_log && k < kills; ++i, ++k) {
      const bool before_ready = rng() % 6 == 0;
      const milliseconds delay(before_ready ? rng() % (kSlowBuild ? 150 : 30) : 1 + rng() % 60);
      const bool tear = rng() % 4 == 0;
      // With snapshots, one kill in four comes after 400 more writes (two snapshots' worth at
      // the longest interval): on a slow machine, time alone may not grow the log enough for
      // snapshots to cover a segment, and compaction would go unchecked.
      const std::uint64_t after_acks =
          options.snapshot_every_events > 0 && !before_ready && rng() % 4 == 0 ? 400 : 0;
      BOOST_TEST_CONTEXT("seed " << seed() << ", log " << log << ", kill " << k << " "
                                 << delay.count() << " ms "
                                 << (before_ready ? "after exec" : "into the load")
                                 << (tear ? ", torn write added" : "")
                                 << (after_acks > 0 ? ", after 400 writes" : "")) {
        h.kill_once(delay, before_ready, tear, after_acks);
      }
      if ((k + 1) % 50 == 0) progress(h.totals(), all, k + 1, kills);
    }
    BOOST_TEST_CONTEXT("seed " << seed() << ", log " << log << ", the last restart") {
      h.restart_and_stop();
    }
    all = add(all, h.totals());
  }
  progress(HarnessTotals{}, all, kills, kills);
  return all;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kill)

BOOST_AUTO_TEST_CASE(a_writer_killed_at_random_moments_loses_no_acknowledged_write) {
  HarnessOptions o;
  o.seed = seed();
  const std::uint64_t kills = arg("--kills", 50);
  const HarnessTotals t = kill_repeatedly(o, kills, 100);
  BOOST_TEST(t.kills == kills);
  BOOST_TEST(t.acks > 0u);
}

BOOST_AUTO_TEST_CASE(a_replica_converges_to_each_restarted_writer) {
  HarnessOptions o;
  o.seed = seed() + 1;
  o.replica = true;
  const std::uint64_t kills = arg("--replica-kills", 8);
  const HarnessTotals t = kill_repeatedly(o, kills, 25);
  BOOST_TEST(t.kills == kills);
  BOOST_TEST(t.replica_checks > 0u);
}

BOOST_AUTO_TEST_CASE(
    a_writer_killed_while_snapshotting_and_compacting_loses_no_acknowledged_write) {
  HarnessOptions o;
  o.seed = seed() + 2;
  o.snapshot_every_events = 1;  // each log draws its own: every 50..200 events
  o.snapshot_keep = 2;
  o.compact = true;
  const std::uint64_t kills = arg("--snapshot-kills", 20);
  const HarnessTotals t = kill_repeatedly(o, kills, 40);
  BOOST_TEST(t.kills == kills);
  BOOST_TEST(t.acks > 0u);
  if (kills >= 20) {  // enough load for snapshots to be used and segments to go
    BOOST_TEST(t.snapshot_opens > 0u);
    BOOST_TEST(t.compacted_checks > 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::crash
