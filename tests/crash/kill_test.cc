// A writer killed with SIGKILL at random moments and restarted on the same log, over and over
// (crash_harness.h says what is checked after each kill). The kill moments and the writers'
// workloads come from one seed, drawn at random unless given, and printed with any failure.
//
// The kill counts suit a test run (about 60 kills); a soak run asks for more after "--":
//   crash_test --run_test=kill -- --kills 1000 [--replica-kills 50] [--seed S]
// (tools/crash-soak.sh does that, printing progress).
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
constexpr std::uint64_t kSlowBuild = 1;  // sanitizers slow the writer's start a lot
#else
constexpr std::uint64_t kSlowBuild = 0;
#endif

std::uint64_t seed() {
  static const std::uint64_t s = arg("--seed", std::random_device{}());
  return s;
}

void progress(const CrashHarness& h, std::uint64_t of) {
  const HarnessTotals& t = h.totals();
  BOOST_TEST_MESSAGE("seed " << seed() << ": " << t.kills << "/" << of << " kills ("
                             << t.kills_before_ready << " while opening), " << t.acks
                             << " acknowledged writes checked, " << t.in_flight
                             << " calls interrupted, " << t.torn_tails << " torn tails ("
                             << t.simulated_tails << " simulated), " << t.replica_checks
                             << " replica checks, log at seq " << t.last_seq);
}

// Kills a writer `kills` times: mostly at 1..60 ms into its write load, one in six while it
// opens its log; one in four times a torn write is added to a clean tail before the checks.
void kill_repeatedly(CrashHarness& h, std::uint64_t kills, std::uint64_t stream) {
  std::mt19937_64 rng(seed() + stream);
  BOOST_TEST_MESSAGE("crash test seed " << seed() << " (repeat with -- --seed " << seed() << ")");
  for (std::uint64_t k = 0; k < kills; ++k) {
    const bool before_ready = rng() % 6 == 0;
    const milliseconds delay(before_ready ? rng() % (kSlowBuild ? 150 : 30) : 1 + rng() % 60);
    const bool tear = rng() % 4 == 0;
    BOOST_TEST_CONTEXT("seed " << seed() << ", kill " << k << " " << delay.count() << " ms "
                               << (before_ready ? "after exec" : "into the load")
                               << (tear ? ", torn write added" : "")) {
      h.kill_once(delay, before_ready, tear);
    }
    if ((k + 1) % 50 == 0) progress(h, kills);
  }
  BOOST_TEST_CONTEXT("seed " << seed() << ", the last restart") { h.restart_and_stop(); }
  progress(h, kills);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kill)

BOOST_AUTO_TEST_CASE(a_writer_killed_at_random_moments_loses_no_acknowledged_write) {
  HarnessOptions o;
  o.seed = seed();
  CrashHarness h(o);
  const std::uint64_t kills = arg("--kills", kSlowBuild ? 25 : 50);
  kill_repeatedly(h, kills, 0);
  BOOST_TEST(h.totals().kills == kills);
  BOOST_TEST(h.totals().acks > 0u);
}

BOOST_AUTO_TEST_CASE(a_replica_converges_to_each_restarted_writer) {
  HarnessOptions o;
  o.seed = seed() + 1;
  o.replica = true;
  CrashHarness h(o);
  const std::uint64_t kills = arg("--replica-kills", kSlowBuild ? 4 : 8);
  kill_repeatedly(h, kills, 1);
  BOOST_TEST(h.totals().replica_checks > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::crash
