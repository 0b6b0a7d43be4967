// Time travel: a read-only registry as of a sequence number or a writer time answers every
// query as the writer did then; "who held child X at sequence N" from the log alone.
#include <boost/test/unit_test.hpp>

#include "fixture.h"

namespace procreg::testing {
namespace {

BOOST_FIXTURE_TEST_SUITE(time_travel, RegistryFixture)

BOOST_AUTO_TEST_CASE(as_of_a_writer_time_and_as_of_a_sequence) {
  const std::int64_t t0 = now();
  committed(reg().insert(S("a"), {np("n1", "p1")}));  // at t0
  advance(std::chrono::milliseconds(1'000));
  const std::uint64_t moved = committed(reg().insert(S("a"), {np("n2", "p2")}));  // t0 + 1 s
  advance(std::chrono::milliseconds(1'000));
  committed(reg().insert(S("b"), {np("n1", "p3")}));  // t0 + 2 s
  const std::map<std::string, Dump> at_2s = reg().dump_all_tables();
  advance(std::chrono::milliseconds(1'000));
  committed(reg().erase("a"));  // t0 + 3 s

  auto as_of = [&](std::optional<std::int64_t> time, std::uint64_t seq) {
    ReplayOptions o{log_dir(), kLocalNode, seq};
    o.upto_time_ms = time;
    auto r = Registry::open_replay(o);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    return std::move(*r);
  };
  BOOST_TEST(as_of(t0 - 1, 0)->last_sequence() == 0u);  // before the first event
  BOOST_TEST((as_of(t0 + 500, 0)->get_pid("a") == std::optional<Pid>("p1")));
  BOOST_TEST((as_of(t0 + 1'000, 0)->get_pid("a") == std::optional<Pid>("p2")));  // inclusive
  BOOST_TEST((as_of(t0 + 2'999, 0)->dump_all_tables() == at_2s));
  BOOST_TEST(!as_of(t0 + 3'000, 0)->entry_exists("a"));
  // Who held "a" at the sequence of its move, and just before: from the log alone.
  BOOST_TEST((as_of(std::nullopt, moved)->get_pids("a") == std::vector<Pid>{"p2"}));
  BOOST_TEST((as_of(std::nullopt, moved - 1)->get_pids("a") == std::vector<Pid>{"p1"}));
  // Both bounds: whichever comes first.
  BOOST_TEST(as_of(t0 + 10'000, moved)->last_sequence() == moved);
  BOOST_TEST(as_of(t0, moved)->last_sequence() == moved - 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::testing
