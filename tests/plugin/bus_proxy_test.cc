// The local bus: PUB -> XSUB | proxy | XPUB -> SUB, over tcp on 127.0.0.1, ipc and inproc;
// subscriptions travel upstream (prefix filtering), bind failures are clear errors, and stop()
// ends the proxy promptly.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <zmq.hpp>

#include "procreg/bus_proxy.h"
#include "temp_dir.h"

namespace procreg {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Publishes `topic` until the subscriber receives it (PUB/SUB drops messages sent before a
// subscription has reached the publisher); bounded by count and time.
bool delivered(zmq::socket_t& pub, zmq::socket_t& sub, const std::string& topic) {
  const auto limit = steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < 1000 && steady_clock::now() < limit; ++i) {
    pub.send(zmq::buffer(topic), zmq::send_flags::none);
    zmq::message_t msg;
    if (sub.recv(msg, zmq::recv_flags::none) && msg.to_string() == topic) return true;
  }
  return false;
}

BusProxyOptions endpoints(std::string frontend, std::string backend) {
  BusProxyOptions o;
  o.frontend = std::move(frontend);
  o.backend = std::move(backend);
  return o;
}

void check_forwarding(const BusProxyOptions& options) {
  zmq::context_t ctx;
  auto proxy = BusProxy::start(ctx, options);
  BOOST_REQUIRE_MESSAGE(proxy.ok(), proxy.status().to_string());
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  for (auto* s : {&pub, &sub}) s->set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvtimeo, 20);
  pub.connect((*proxy)->frontend_endpoint());
  sub.connect((*proxy)->backend_endpoint());
  sub.set(zmq::sockopt::subscribe, "prg/hub-a/");
  BOOST_TEST(delivered(pub, sub, "prg/hub-a/ev"));
  // A topic nobody subscribed to is filtered out before it reaches the subscriber.
  pub.send(zmq::str_buffer("prg/hub-b/ev"), zmq::send_flags::none);
  pub.send(zmq::str_buffer("prg/hub-a/last"), zmq::send_flags::none);
  std::vector<std::string> got;
  zmq::message_t msg;
  while (sub.recv(msg, zmq::recv_flags::none)) got.push_back(msg.to_string());
  const auto has = [&](const char* topic) {
    return std::find(got.begin(), got.end(), topic) != got.end();
  };
  BOOST_TEST(!has("prg/hub-b/ev"));
  BOOST_TEST(has("prg/hub-a/last"));
  const auto start = steady_clock::now();
  (*proxy)->stop();
  BOOST_TEST((steady_clock::now() - start < std::chrono::seconds(2)));
}

BOOST_AUTO_TEST_SUITE(bus_proxy)

BOOST_AUTO_TEST_CASE(forwards_over_tcp_loopback_with_ephemeral_ports) {
  check_forwarding(BusProxyOptions{});
}

BOOST_AUTO_TEST_CASE(forwards_over_ipc) {
  testing::TempDir dir;
  check_forwarding(endpoints("ipc://" + dir.file("front"), "ipc://" + dir.file("back")));
}

BOOST_AUTO_TEST_CASE(forwards_over_inproc) {
  check_forwarding(endpoints("inproc://bus-front", "inproc://bus-back"));
}

BOOST_AUTO_TEST_CASE(resolves_ephemeral_ports_to_real_ones) {
  zmq::context_t ctx;
  auto proxy = BusProxy::start(ctx);
  BOOST_REQUIRE(proxy.ok());
  for (const std::string& ep : {(*proxy)->frontend_endpoint(), (*proxy)->backend_endpoint()}) {
    BOOST_TEST(ep.rfind("tcp://127.0.0.1:", 0) == 0u, ep);
    BOOST_TEST(ep.find('*') == std::string::npos, ep);
  }
}

BOOST_AUTO_TEST_CASE(an_endpoint_in_use_or_malformed_is_a_clear_error) {
  zmq::context_t ctx;
  auto first = BusProxy::start(ctx);
  BOOST_REQUIRE(first.ok());
  auto clash = BusProxy::start(ctx, endpoints((*first)->frontend_endpoint(), "tcp://127.0.0.1:*"));
  BOOST_TEST(clash.status().code() == Code::kUnavailable);
  BOOST_TEST(clash.status().message().find((*first)->frontend_endpoint()) != std::string::npos,
             clash.status().message());
  auto bad = BusProxy::start(ctx, endpoints("nonsense", "tcp://127.0.0.1:*"));
  BOOST_TEST(bad.status().code() == Code::kUnavailable);
  BOOST_TEST(bad.status().message().find("nonsense") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stop_is_idempotent_and_the_destructor_stops) {
  zmq::context_t ctx;
  auto proxy = BusProxy::start(ctx);
  BOOST_REQUIRE(proxy.ok());
  (*proxy)->stop();
  (*proxy)->stop();
  auto other = BusProxy::start(ctx);
  BOOST_REQUIRE(other.ok());  // destroyed at scope end while running
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
