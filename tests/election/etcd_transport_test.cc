// The etcd client's transport errors (plugin/election/etcd_client.h): no etcd, an etcd that
// never answers, and an answer that is not etcd's JSON. Loopback only, no etcd process.
#include <chrono>
#include <string>

#include <boost/test/unit_test.hpp>

#include "loopback.h"
#include "plugin/election/etcd_client.h"

namespace procreg::etcd {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

BOOST_AUTO_TEST_SUITE(etcd_transport)

BOOST_AUTO_TEST_CASE(a_port_nothing_listens_on_is_unavailable_at_once) {
  Client client("127.0.0.1", testing::free_ports(1)[0]);
  const milliseconds timeout{2'000};
  const auto start = Clock::now();
  const auto grant = client.grant(5, timeout);
  BOOST_TEST(grant.status().code() == Code::kUnavailable, grant.status());
  BOOST_TEST(client.keepalive(1, timeout).status().code() == Code::kUnavailable);
  BOOST_TEST(client.revoke(1, timeout).code() == Code::kUnavailable);
  BOOST_TEST(client.leader("svc", timeout).status().code() == Code::kUnavailable);
  BOOST_TEST(client.proclaim({"svc", "svc/1", 1, 1}, "v", timeout).code() == Code::kUnavailable);
  BOOST_TEST(client.resign({"svc", "svc/1", 1, 1}, timeout).code() == Code::kUnavailable);
  BOOST_TEST(client.put("k", "v", 0, timeout).code() == Code::kUnavailable);
  BOOST_TEST(client.range_prefix("k", timeout).status().code() == Code::kUnavailable);
  BOOST_TEST(client.delete_key("k", timeout).code() == Code::kUnavailable);
  // A refused campaign is a transport failure, not a lost election.
  const auto campaign = client.campaign("svc", 1, "v", timeout);
  BOOST_TEST(campaign.status().code() == Code::kUnavailable, campaign.status());
  // Ten refused connections: each far below its 2 s timeout.
  BOOST_TEST(since(start) < milliseconds(2'000), since(start).count() << " ms");
  BOOST_TEST(grant.status().message().find("127.0.0.1") != std::string::npos, grant.status());
}

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_is_unavailable_after_the_timeout) {
  testing::SilentListener silent;
  Client client("127.0.0.1", silent.port());
  const milliseconds timeout{300};
  auto start = Clock::now();
  const Status put = client.put("k", "v", 0, timeout);
  const milliseconds took = since(start);
  BOOST_TEST(put.code() == Code::kUnavailable, put);
  BOOST_TEST(put.message().find("no answer within 300 ms") != std::string::npos, put);
  BOOST_TEST(took >= milliseconds(250));
  BOOST_TEST(took < milliseconds(1'300), took.count() << " ms");

  // A campaign that times out is kTimeout; its clean-up delete times out too, and says so.
  start = Clock::now();
  const auto campaign = client.campaign("svc", 1, "v", timeout);
  const milliseconds campaign_took = since(start);
  BOOST_TEST(campaign.status().code() == Code::kTimeout, campaign.status());
  BOOST_TEST(
      campaign.status().message().find("deleting the candidate key failed") != std::string::npos,
      campaign.status());
  BOOST_TEST(campaign_took < timeout + Client::kCleanupTimeout + milliseconds(1'000),
             campaign_took.count() << " ms");
}

BOOST_AUTO_TEST_CASE(an_answer_that_is_not_json_is_internal_and_quoted) {
  testing::OneShotHttpServer server(testing::http_answer("200 OK", "not etcd :-)"));
  Client client("127.0.0.1", server.port());
  const auto range = client.range_prefix("k", milliseconds(3'000));
  BOOST_TEST(range.status().code() == Code::kInternal, range.status());
  BOOST_TEST(range.status().message().find("etcd answered /v3/kv/range") != std::string::npos,
             range.status());
  BOOST_TEST(range.status().message().find("not etcd :-)") != std::string::npos, range.status());
}

BOOST_AUTO_TEST_CASE(an_answer_of_the_wrong_shape_is_internal) {
  testing::OneShotHttpServer server(testing::http_answer("200 OK", R"({"ID":"12x","TTL":"5"})"));
  Client client("127.0.0.1", server.port());
  const auto grant = client.grant(5, milliseconds(3'000));
  BOOST_TEST(grant.status().code() == Code::kInternal, grant.status());
  BOOST_TEST(grant.status().message().find("\"ID\" is not a 64-bit integer") != std::string::npos,
             grant.status());
}

BOOST_AUTO_TEST_CASE(an_error_answer_carries_etcds_message_and_code) {
  // What etcd answers when its raft does not commit in time (gRPC code 14, Unavailable).
  testing::OneShotHttpServer server(testing::http_answer(
      "503 Service Unavailable",
      R"({"error":"etcdserver: request timed out","message":"etcdserver: request timed out",)"
      R"("code":14})"));
  Client client("127.0.0.1", server.port());
  const Status put = client.put("k", "v", 0, milliseconds(3'000));
  BOOST_TEST(put.code() == Code::kUnavailable, put);
  BOOST_TEST(put.message() == "etcd /v3/kv/put: etcdserver: request timed out", put);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::etcd
