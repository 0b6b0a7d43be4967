// Elector (include/procreg/election.h) against a real etcd on 127.0.0.1 (etcd_server.h): who
// campaigns, the term, the member keys' JSON, and the WriteLease a winner holds.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "etcd_server.h"
#include "procreg/election.h"

namespace procreg {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using testing::EtcdServer;
using testing::wait_for;

constexpr milliseconds kIo{3'000};

std::unique_ptr<Elector> member(const EtcdServer& etcd, const std::string& name,
                                std::int64_t ttl_s = 1) {
  ElectionOptions o;
  o.url = "etcd://127.0.0.1:" + std::to_string(etcd.port()) + "/hubs/h";
  o.name = name;
  o.ttl_s = ttl_s;
  o.poll_interval = milliseconds(50);
  o.request_timeout = milliseconds(300);
  auto e = Elector::start(o);
  BOOST_REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  return std::move(*e);
}

// The member keys etcd holds (the elector publishes within its poll interval).
std::size_t members_in_etcd(const EtcdServer& etcd) {
  auto kvs = etcd.client().range_prefix("hubs/h/members/", kIo);
  return kvs.ok() ? kvs->size() : 0;
}

BOOST_AUTO_TEST_SUITE(elector)

BOOST_AUTO_TEST_CASE(bad_options_are_refused_before_any_request) {
  ElectionOptions o;
  o.url = "http://127.0.0.1:1/x";
  o.name = "a";
  BOOST_TEST(Elector::start(o).status().code() == Code::kInvalidArgument);
  o.url = "etcd://127.0.0.1:1/x";
  o.name = "a/b";
  BOOST_TEST(Elector::start(o).status().code() == Code::kInvalidArgument);
  o.name = "a";
  o.ttl_s = 0;
  BOOST_TEST(Elector::start(o).status().code() == Code::kInvalidArgument);
  o.ttl_s = 1;  // nothing listens on port 1: the grant fails, clearly
  auto e = Elector::start(o);
  BOOST_TEST(e.status().code() == Code::kUnavailable, e.status().to_string());
  BOOST_TEST(e.status().message().find("lease") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_lone_candidate_leads_at_the_revision_of_its_key_and_proclaims) {
  EtcdServer etcd;
  auto a = member(etcd, "a");
  a->set_progress({7, 1, 42});
  BOOST_TEST(!a->won());
  a->set_candidate(true);
  BOOST_REQUIRE(wait_for([&] { return a->won().has_value(); }, milliseconds(5'000)));
  const Elector::Won won = *a->won();
  BOOST_TEST(won.key.rev > 0);
  BOOST_TEST(a->stats().term == static_cast<std::uint64_t>(won.key.rev));
  BOOST_TEST(won.lease->held());
  BOOST_REQUIRE(a->proclaim(R"({"command":"tcp://127.0.0.1:9"})").ok());
  auto leader = etcd.client().leader("hubs/h/leader", kIo);
  BOOST_REQUIRE(leader.ok());
  BOOST_REQUIRE(leader->has_value());
  BOOST_TEST((*leader)->key.rev == won.key.rev);
  BOOST_TEST((*leader)->value == R"({"command":"tcp://127.0.0.1:9"})");
  // The member key: the documented JSON (docs/PROTOCOL.md, "Election"), keys in byte order,
  // put before the campaign.
  auto kvs = etcd.client().range_prefix("hubs/h/members/", kIo);
  BOOST_REQUIRE(kvs.ok());
  BOOST_REQUIRE(kvs->size() == 1u);
  BOOST_TEST((*kvs)[0].key == "hubs/h/members/a");
  BOOST_TEST((*kvs)[0].value == R"({"epoch":7,"name":"a","seq":42,"term":1})");
  BOOST_TEST((*kvs)[0].lease == a->stats().lease_id);
  // A change is published within a poll interval.
  a->set_progress({7, 1, 43});
  BOOST_TEST(wait_for(
      [&] {
        auto now = etcd.client().range_prefix("hubs/h/members/", kIo);
        return now.ok() && now->size() == 1 &&
               (*now)[0].value == R"({"epoch":7,"name":"a","seq":43,"term":1})";
      },
      milliseconds(3'000)));
  // The lease is renewed: still held after two TTLs.
  std::this_thread::sleep_for(milliseconds(2'200));
  BOOST_TEST(won.lease->held());
  BOOST_TEST(!a->lost());
  BOOST_TEST(a->stats().keepalives >= 3u);
}

BOOST_AUTO_TEST_CASE(the_most_complete_member_leads_whoever_asks_first) {
  EtcdServer etcd;
  auto behind = member(etcd, "a");  // the smaller name, and first to ask
  auto ahead = member(etcd, "b");
  behind->set_progress({7, 3, 100});
  ahead->set_progress({7, 3, 120});
  BOOST_REQUIRE(wait_for([&] { return members_in_etcd(etcd) == 2; }, milliseconds(5'000)));
  behind->set_candidate(true);
  std::this_thread::sleep_for(milliseconds(500));
  BOOST_TEST(!behind->won());  // b is ahead: a waits for it
  ahead->set_candidate(true);
  BOOST_REQUIRE(wait_for([&] { return ahead->won().has_value(); }, milliseconds(5'000)));
  BOOST_TEST(!behind->won());
  BOOST_REQUIRE(wait_for([&] { return behind->leader().has_value(); }, milliseconds(2'000)));
  BOOST_TEST(behind->leader()->rev == ahead->won()->key.rev);

  // A higher term beats a higher seq: the copy of the newer history leads.
  ahead->stop();
  auto newer = member(etcd, "c");
  newer->set_progress({7, 4, 90});
  BOOST_REQUIRE(wait_for([&] { return members_in_etcd(etcd) == 2; }, milliseconds(5'000)));
  newer->set_candidate(true);
  // Generous: under the thread sanitizer on a loaded machine the campaign took over 5 s once.
  BOOST_REQUIRE(wait_for([&] { return newer->won().has_value(); }, milliseconds(15'000)));
  BOOST_TEST(!behind->won());
}

BOOST_AUTO_TEST_CASE(a_lost_lease_ends_the_leadership_and_another_leads_at_a_higher_term) {
  EtcdServer etcd;
  auto a = member(etcd, "a");
  a->set_candidate(true);
  BOOST_REQUIRE(wait_for([&] { return a->won().has_value(); }, milliseconds(5'000)));
  const Elector::Won first = *a->won();
  auto b = member(etcd, "b");
  b->set_candidate(true);
  std::this_thread::sleep_for(milliseconds(300));
  BOOST_TEST(!b->won());  // a leads

  // etcd drops a's lease (as when its keep-alives stop for a TTL): a's writer stops counting on
  // it at once, and b is elected.
  BOOST_REQUIRE(etcd.client().revoke(a->stats().lease_id, kIo).ok());
  BOOST_REQUIRE(wait_for([&] { return a->lost(); }, milliseconds(3'000)));
  BOOST_TEST(!first.lease->held());
  BOOST_TEST(first.lease->lost());
  BOOST_TEST(!a->lost_reason().empty());
  BOOST_REQUIRE(wait_for([&] { return b->won().has_value(); }, milliseconds(5'000)));
  BOOST_TEST(b->won()->key.rev > first.key.rev);
}

BOOST_AUTO_TEST_CASE(a_leader_that_stops_resigns_and_another_leads_at_once) {
  EtcdServer etcd;
  auto a = member(etcd, "a", /*ttl_s=*/30);
  a->set_candidate(true);
  BOOST_REQUIRE(wait_for([&] { return a->won().has_value(); }, milliseconds(5'000)));
  auto lease = a->won()->lease;
  auto b = member(etcd, "b", 30);
  b->set_candidate(true);
  const auto stopped = Clock::now();
  a->stop();
  BOOST_TEST(!lease->held());
  // Well within the 30 s TTL: the resignation, not the lease's expiry, let b lead.
  BOOST_REQUIRE(wait_for([&] { return b->won().has_value(); }, milliseconds(5'000)));
  BOOST_TEST((Clock::now() - stopped < milliseconds(5'000)));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
