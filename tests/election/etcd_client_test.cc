// The etcd client (plugin/election/etcd_client.h) against a real etcd on 127.0.0.1, one per
// test case (etcd_server.h).
#include "plugin/election/etcd_client.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "etcd_server.h"
#include "loopback.h"

namespace procreg::etcd {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using testing::EtcdServer;
using testing::wait_for;

// Each request's bound: far above what loopback needs, so a slow machine does not fail a test.
constexpr milliseconds kIo{3'000};

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

std::int64_t new_lease(Client& client, std::int64_t ttl_s = 30) {
  const auto grant = client.grant(ttl_s, kIo);
  BOOST_REQUIRE_MESSAGE(grant.ok(), grant.status());
  return grant->id;
}

// The keys under `prefix`, in etcd's order.
std::vector<std::string> keys(Client& client, const std::string& prefix) {
  const auto kvs = client.range_prefix(prefix, kIo);
  BOOST_REQUIRE_MESSAGE(kvs.ok(), kvs.status());
  std::vector<std::string> out;
  for (const auto& kv : *kvs) out.push_back(kv.key);
  return out;
}

// Waits until `client`'s election `name` has `n` candidate keys queued.
bool candidates_queued(Client& client, const std::string& name, std::size_t n) {
  return wait_for(
      [&] {
        const auto kvs = client.range_prefix(name + "/", kIo);
        return kvs.ok() && kvs->size() == n;
      },
      milliseconds(5'000));
}

BOOST_AUTO_TEST_SUITE(etcd_client)

BOOST_AUTO_TEST_CASE(a_granted_lease_kept_alive_reports_its_remaining_ttl) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto grant = client.grant(30, kIo);
  BOOST_REQUIRE_MESSAGE(grant.ok(), grant.status());
  BOOST_TEST(grant->id > 0);
  BOOST_TEST(grant->ttl_s == 30);
  const auto ttl = client.keepalive(grant->id, kIo);
  BOOST_REQUIRE_MESSAGE(ttl.ok(), ttl.status());
  BOOST_TEST(*ttl > 0);
  BOOST_TEST(*ttl <= 30);
  BOOST_TEST(client.grant(0, kIo).status().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(keepalive_of_a_revoked_lease_returns_zero) {
  EtcdServer etcd;
  Client client = etcd.client();
  const std::int64_t lease = new_lease(client);
  BOOST_REQUIRE(client.put("revoked/k", "v", lease, kIo).ok());
  const Status revoked = client.revoke(lease, kIo);
  BOOST_REQUIRE_MESSAGE(revoked.ok(), revoked);
  const auto ttl = client.keepalive(lease, kIo);
  BOOST_REQUIRE_MESSAGE(ttl.ok(), ttl.status());
  BOOST_TEST(*ttl == 0);
  BOOST_TEST(keys(client, "revoked/").empty());
  // etcd answers a second revoke with HTTP 404 "requested lease not found".
  const Status again = client.revoke(lease, kIo);
  BOOST_TEST(again.code() == Code::kNotFound, again);
  BOOST_TEST(again.message().find("lease not found") != std::string::npos, again);
}

BOOST_AUTO_TEST_CASE(a_one_second_lease_not_kept_alive_expires_with_its_keys) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto grant = client.grant(1, kIo);
  BOOST_REQUIRE_MESSAGE(grant.ok(), grant.status());
  BOOST_TEST(grant->ttl_s == 1);
  BOOST_REQUIRE(client.put("short/k", "v", grant->id, kIo).ok());
  const auto start = Clock::now();
  // Reads do not renew the lease; keepalive would.
  const bool gone = wait_for([&] { return keys(client, "short/").empty(); }, milliseconds(5'000));
  BOOST_REQUIRE_MESSAGE(gone, "the key of a 1 s lease still exists after 5 s");
  BOOST_TEST_MESSAGE("expired after " << since(start).count() << " ms");
  const auto ttl = client.keepalive(grant->id, kIo);
  BOOST_REQUIRE_MESSAGE(ttl.ok(), ttl.status());
  BOOST_TEST(*ttl == 0);
  const Status put = client.put("short/k", "v", grant->id, kIo);
  BOOST_TEST(put.code() == Code::kNotFound, put);
}

BOOST_AUTO_TEST_CASE(a_campaign_on_a_free_election_leads_and_leader_reports_its_value) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto none = client.leader("svc", kIo);
  BOOST_REQUIRE_MESSAGE(none.ok(), none.status());
  BOOST_TEST(!none->has_value());

  const std::int64_t lease = new_lease(client);
  const auto won = client.campaign("svc", lease, "node-a", kIo);
  BOOST_REQUIRE_MESSAGE(won.ok(), won.status());
  BOOST_TEST(won->name == "svc");
  BOOST_TEST(won->key == candidate_key("svc", lease));
  BOOST_TEST(won->rev > 0);
  BOOST_TEST(won->lease == lease);

  const auto leader = client.leader("svc", kIo);
  BOOST_REQUIRE_MESSAGE(leader.ok(), leader.status());
  BOOST_REQUIRE(leader->has_value());
  BOOST_TEST((*leader)->value == "node-a");
  BOOST_TEST((*leader)->key.key == won->key);
  BOOST_TEST((*leader)->key.rev == won->rev);
  BOOST_TEST((*leader)->key.lease == lease);
}

BOOST_AUTO_TEST_CASE(candidate_key_is_the_lease_in_lower_case_hex) {
  BOOST_TEST(candidate_key("svc", 0x2040a25106381e0f) == "svc/2040a25106381e0f");
  BOOST_TEST(candidate_key("a/b", 10) == "a/b/a");
}

BOOST_AUTO_TEST_CASE(proclaim_changes_the_leaders_value_and_needs_the_leader_key) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto won = client.campaign("svc", new_lease(client), "v1", kIo);
  BOOST_REQUIRE_MESSAGE(won.ok(), won.status());
  const Status proclaimed = client.proclaim(*won, std::string("v2\0\xff", 4), kIo);
  BOOST_REQUIRE_MESSAGE(proclaimed.ok(), proclaimed);
  const auto leader = client.leader("svc", kIo);
  BOOST_REQUIRE_MESSAGE(leader.ok() && leader->has_value(), leader.status());
  BOOST_TEST((*leader)->value == std::string("v2\0\xff", 4));

  LeaderKey stale = *won;
  stale.rev += 1000;  // not the key's create revision: not the leader
  const Status refused = client.proclaim(stale, "v3", kIo);
  BOOST_TEST(refused.code() == Code::kConflict, refused);
}

BOOST_AUTO_TEST_CASE(a_second_candidate_times_out_and_leaves_no_key) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto first = client.campaign("svc", new_lease(client), "a", kIo);
  BOOST_REQUIRE_MESSAGE(first.ok(), first.status());
  const std::int64_t second_lease = new_lease(client);
  const auto start = Clock::now();
  const auto second = client.campaign("svc", second_lease, "b", milliseconds(500));
  const milliseconds took = since(start);
  BOOST_TEST(second.status().code() == Code::kTimeout, second.status());
  BOOST_TEST(took >= milliseconds(450));
  BOOST_TEST(took < milliseconds(500) + Client::kCleanupTimeout, took.count() << " ms");
  BOOST_TEST(keys(client, "svc/") == std::vector<std::string>{first->key});
  const auto leader = client.leader("svc", kIo);
  BOOST_REQUIRE_MESSAGE(leader.ok() && leader->has_value(), leader.status());
  BOOST_TEST((*leader)->value == "a");
}

BOOST_AUTO_TEST_CASE(a_waiting_candidate_leads_once_the_leaders_lease_is_revoked) {
  EtcdServer etcd;
  Client client = etcd.client();
  const std::int64_t first_lease = new_lease(client);
  const auto first = client.campaign("svc", first_lease, "a", kIo);
  BOOST_REQUIRE_MESSAGE(first.ok(), first.status());
  const std::int64_t second_lease = new_lease(client);
  std::optional<Result<LeaderKey>> second;
  std::jthread waiter(
      [&] { second.emplace(client.campaign("svc", second_lease, "b", milliseconds(10'000))); });
  const bool queued = candidates_queued(client, "svc", 2);
  const Status revoked = client.revoke(first_lease, kIo);
  waiter.join();
  BOOST_REQUIRE_MESSAGE(queued, "the second candidate's key never appeared");
  BOOST_REQUIRE_MESSAGE(revoked.ok(), revoked);
  BOOST_REQUIRE(second.has_value());
  BOOST_REQUIRE_MESSAGE(second->ok(), second->status());
  BOOST_TEST((*second)->rev > first->rev);
  BOOST_TEST((*second)->key == candidate_key("svc", second_lease));
  const auto leader = client.leader("svc", kIo);
  BOOST_REQUIRE_MESSAGE(leader.ok() && leader->has_value(), leader.status());
  BOOST_TEST((*leader)->value == "b");
}

BOOST_AUTO_TEST_CASE(resign_leaves_the_election_without_a_leader) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto won = client.campaign("svc", new_lease(client), "a", kIo);
  BOOST_REQUIRE_MESSAGE(won.ok(), won.status());
  const Status resigned = client.resign(*won, kIo);
  BOOST_REQUIRE_MESSAGE(resigned.ok(), resigned);
  const auto leader = client.leader("svc", kIo);
  BOOST_REQUIRE_MESSAGE(leader.ok(), leader.status());
  BOOST_TEST(!leader->has_value());
  BOOST_TEST(keys(client, "svc/").empty());
  const Status again = client.resign(*won, kIo);  // etcd: ok when the key is gone
  BOOST_TEST(again.ok(), again);
  const Status proclaimed = client.proclaim(*won, "b", kIo);
  BOOST_TEST(proclaimed.code() == Code::kConflict, proclaimed);
}

BOOST_AUTO_TEST_CASE(a_campaign_with_a_revoked_lease_is_not_found_and_leaves_no_key) {
  EtcdServer etcd;
  Client client = etcd.client();
  const std::int64_t lease = new_lease(client);
  BOOST_REQUIRE(client.revoke(lease, kIo).ok());
  const auto won = client.campaign("svc", lease, "a", kIo);
  BOOST_TEST(won.status().code() == Code::kNotFound, won.status());
  BOOST_TEST(keys(client, "svc/").empty());
}

BOOST_AUTO_TEST_CASE(put_range_and_delete_round_trip_binary_keys_and_values) {
  EtcdServer etcd;
  Client client = etcd.client();
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const std::int64_t lease = new_lease(client);
  // Keys under "p\xff": the range end is then "q", the 0xff dropped.
  const std::string p = std::string("p\xff", 2);
  BOOST_REQUIRE(client.put(p + "b", every_byte, 0, kIo).ok());
  BOOST_REQUIRE(client.put(p + std::string("a\0z", 3), "", lease, kIo).ok());
  BOOST_REQUIRE(client.put(p + "\xff\xff", "last", 0, kIo).ok());
  BOOST_REQUIRE(client.put("p", "outside", 0, kIo).ok());
  BOOST_REQUIRE(client.put("q", "outside", 0, kIo).ok());
  BOOST_REQUIRE(client.put(p + "b", every_byte + "!", 0, kIo).ok());  // a second version

  const auto kvs = client.range_prefix(p, kIo);
  BOOST_REQUIRE_MESSAGE(kvs.ok(), kvs.status());
  BOOST_REQUIRE_EQUAL(kvs->size(), 3u);
  BOOST_TEST((*kvs)[0].key == p + std::string("a\0z", 3));
  BOOST_TEST((*kvs)[0].value == "");
  BOOST_TEST((*kvs)[0].lease == lease);
  BOOST_TEST((*kvs)[1].key == p + "b");
  BOOST_TEST((*kvs)[1].value == every_byte + "!");
  BOOST_TEST((*kvs)[1].lease == 0);
  BOOST_TEST((*kvs)[1].create_revision > 0);
  BOOST_TEST((*kvs)[1].mod_revision > (*kvs)[1].create_revision);
  BOOST_TEST((*kvs)[2].key == p + "\xff\xff");
  BOOST_TEST((*kvs)[2].value == "last");

  BOOST_REQUIRE(client.delete_key(p + "b", kIo).ok());
  BOOST_TEST(client.delete_key(p + "b", kIo).ok());  // absent: still ok
  BOOST_TEST(keys(client, p).size() == 2u);
  BOOST_TEST(keys(client, "").size() == 4u);  // the empty prefix: every key
}

BOOST_AUTO_TEST_CASE(a_put_on_a_lease_that_does_not_exist_is_not_found) {
  EtcdServer etcd;
  Client client = etcd.client();
  const Status put = client.put("k", "v", 12345, kIo);
  BOOST_TEST(put.code() == Code::kNotFound, put);
  BOOST_TEST(put.message().find("requested lease not found") != std::string::npos, put);
}

BOOST_AUTO_TEST_CASE(the_cancel_flag_ends_a_waiting_campaign_at_once_and_leaves_no_key) {
  EtcdServer etcd;
  Client client = etcd.client();
  const auto first = client.campaign("svc", new_lease(client), "a", kIo);
  BOOST_REQUIRE_MESSAGE(first.ok(), first.status());
  const std::int64_t second_lease = new_lease(client);
  std::atomic<bool> cancel{false};
  std::optional<Result<LeaderKey>> second;
  Clock::time_point returned;
  std::jthread waiter([&] {
    second.emplace(client.campaign("svc", second_lease, "b", milliseconds(30'000), &cancel));
    returned = Clock::now();
  });
  const bool queued = candidates_queued(client, "svc", 2);
  const auto cancelled = Clock::now();
  cancel = true;
  waiter.join();
  BOOST_REQUIRE_MESSAGE(queued, "the second candidate's key never appeared");
  const auto took = std::chrono::duration_cast<milliseconds>(returned - cancelled);
  BOOST_TEST_MESSAGE("returned " << took.count() << " ms after the cancel");
  // 50 ms to see the flag, then one delete on loopback; far less than the 30 s timeout.
  BOOST_TEST(took < milliseconds(1'000), took.count() << " ms");
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(second->status().code() == Code::kTimeout, second->status());
  BOOST_TEST(keys(client, "svc/") == std::vector<std::string>{first->key});

  // Cancelled before it starts: no request waits at all.
  const auto again = client.campaign("svc", second_lease, "b", milliseconds(30'000), &cancel);
  BOOST_TEST(again.status().code() == Code::kTimeout, again.status());
  BOOST_TEST(keys(client, "svc/") == std::vector<std::string>{first->key});
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::etcd
