// What one peer can make the writer hold (docs/PROTOCOL.md, "Limits"): a replay client that
// sends large range requests and never reads its replies. Unbounded, each request queued a
// reply of up to 16 MiB in the writer (1.46 GB for 90 requests in an earlier probe); now a
// client has at most a few replies queued, the rest are dropped and counted, and other clients
// are served throughout. Real sockets over tcp on 127.0.0.1.
#include <unistd.h>

#include <fstream>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "plugin/command_client.h"
#include "plugin/command_messages.h"
#include "plugin/replay_client.h"
#include "plugin/replay_messages.h"
#include "plugin/replay_service.h"
#include "plugin/zmq_util.h"

namespace procreg::testing {

using std::chrono::milliseconds;

namespace {

// ThreadSanitizer keeps shadow memory for every byte the program touches (several bytes each),
// so the resident set grows several times what the writer holds.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kShadow = 4;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr std::uint64_t kShadow = 4;
#else
constexpr std::uint64_t kShadow = 1;
#endif
#else
constexpr std::uint64_t kShadow = 1;
#endif

// The resident set of this process, in bytes (/proc/self/statm).
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Fills the writer with `events` bulk inserts of `rows` rows, each with `blob_bytes` of metadata.
void fill(Writer& w, int events, int rows, std::size_t blob_bytes) {
  const std::string filler(blob_bytes, 'x');
  for (int e = 0; e < events; ++e) {
    std::vector<Entry> batch;
    for (int i = 0; i < rows; ++i) {
      const std::string id = "c" + std::to_string(e * rows + i);
      batch.push_back(Entry{ChildSpec{id, StartSpec{"M", "f", {}}, {}},
                            {{"n1", "<0.1.0>"}},
                            Metadata{{"blob", Value(filler)}}});
    }
    BOOST_REQUIRE(w.registry->bulk_insert(std::move(batch)).ok());
  }
}

// A client that asks and never reads: a receive queue of 1 message and a small kernel buffer,
// so that it does not take the replies into this process either.
zmq::socket_t greedy_dealer(zmq::context_t& ctx, const std::string& endpoint) {
  zmq::socket_t greedy(ctx, zmq::socket_type::dealer);
  greedy.set(zmq::sockopt::linger, 0);
  greedy.set(zmq::sockopt::rcvhwm, 1);
  greedy.set(zmq::sockopt::rcvbuf, 64 * 1024);
  greedy.connect(endpoint);
  return greedy;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(peer_bounds)

BOOST_AUTO_TEST_CASE(a_replay_client_that_never_reads_cannot_grow_the_writer) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  // About 40 MiB of log: 40 events of 100 rows with 10 KiB of metadata each.
  fill(w, 40, 100, 10'000);
  const std::uint64_t before = resident_bytes();

  // The greedy client: 60 requests for 16 MiB each, and it never reads.
  zmq::socket_t greedy = greedy_dealer(ctx, w.server->replay_endpoint());
  constexpr int kRequests = 60;
  for (int i = 0; i < kRequests; ++i) {
    plugin::wire::ReplayRequest r;
    r.id = static_cast<std::uint64_t>(i + 1);
    r.hub = "hub";
    r.from = 1;
    r.max_events = plugin::wire::kMaxChunkItems;
    r.max_bytes = plugin::wire::kMaxChunkBytes;
    std::string body;
    plugin::wire::encode(r, &body);
    greedy.send(zmq::buffer(body), zmq::send_flags::none);
  }
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (w.server->stats().replay_requests < kRequests &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  const HubServerStats s = w.server->stats();
  BOOST_TEST(s.replay_requests == static_cast<std::uint64_t>(kRequests));
  // At most kReplyQueue replies wait in the writer (plus what the kernel's buffers hold); the
  // rest were dropped and counted.
  BOOST_TEST(s.replay_replies_dropped >= static_cast<std::uint64_t>(kRequests / 2),
             "dropped " << s.replay_replies_dropped);
  const std::uint64_t grown = resident_bytes() > before ? resident_bytes() - before : 0;
  // Unbounded, 60 replies of 16 MiB: about 1 GiB (998 MiB measured without the bound).
  BOOST_TEST(grown < kShadow * (400ull << 20), "the writer grew by " << (grown >> 20) << " MiB");

  // Another client is served meanwhile, and so is a new replica.
  plugin::ReplayClient honest(ctx, w.server->replay_endpoint(), "hub", milliseconds(5'000), 64);
  std::uint64_t events = 0;
  auto range = honest.fetch_range(1, 0, 0, [&](std::string_view) {
    ++events;
    return Status();
  });
  BOOST_REQUIRE_MESSAGE(range.ok(), range.status().to_string());
  BOOST_TEST(events == 40u);
  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  BOOST_TEST(replica->wait_caught_up(kWait).ok());
  BOOST_TEST(replica->registry().dump().size() == 4000u);
}

// The command channel: a client that asks for 1 MiB dump pages and never reads. Unbounded,
// ZeroMQ held every answer in the writer (307 MiB for 300 pages, measured); now a client leaves
// at most max_unread_reply_bytes unread, later reads are answered resource_exhausted and
// counted, and it is served again once it reads.
BOOST_AUTO_TEST_CASE(a_command_client_that_never_reads_cannot_grow_the_writer) {
  zmq::context_t ctx;
  TempDir dir;
  HubServerOptions so = Writer::server_options(tcp_transport());
  so.max_unread_reply_bytes = 8u << 20;
  Writer w = Writer::open(ctx, writer_options(dir.path()), so);
  // 12,000 rows of about 1 KiB: a dump page (about 1 MiB) holds about 1,000 of them.
  fill(w, 12, 1'000, 1'000);
  const std::uint64_t before = resident_bytes();

  zmq::socket_t greedy = greedy_dealer(ctx, w.server->command_endpoint());
  plugin::wire::Command c;
  c.hub = "hub";
  c.op = plugin::wire::CommandOp::kDump;
  c.limit = 10'000;
  constexpr int kRequests = 300;
  for (int i = 0; i < kRequests; ++i) {
    c.id = static_cast<std::uint64_t>(i + 1);
    std::string body;
    plugin::wire::encode(c, &body);
    greedy.send(zmq::buffer(body), zmq::send_flags::none);
  }
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (w.server->stats().commands < kRequests && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  const HubServerStats s = w.server->stats();
  BOOST_TEST(s.commands == static_cast<std::uint64_t>(kRequests));
  // At most 8 MiB of pages wait in the writer, plus what the kernel's buffers took: a few
  // dozen answers; every later read was refused and counted.
  BOOST_TEST(s.replies_refused >= static_cast<std::uint64_t>(kRequests / 2),
             "refused " << s.replies_refused);
  BOOST_TEST(s.command_errors >= s.replies_refused);
  const std::uint64_t grown = resident_bytes() > before ? resident_bytes() - before : 0;
  BOOST_TEST(grown < kShadow * (120ull << 20), "the writer grew by " << (grown >> 20) << " MiB");

  // Another client is served meanwhile, a large answer included.
  plugin::CommandClient honest(ctx, w.server->command_endpoint(), "hub", 8);
  auto page = honest.call(c, milliseconds(5'000));
  BOOST_REQUIRE_MESSAGE(page.ok(), page.status().to_string());
  BOOST_TEST(page->status.ok(), page->status.to_string());
  BOOST_TEST(!page->next.empty());

  // Once the greedy client reads what it was sent, it is answered again.
  zmq::message_t got;
  bool served = false;
  // Up to 20 s: under the address sanitizer on a loaded machine 5 s were not always enough.
  for (int attempt = 0; attempt < 400 && !served; ++attempt) {
    for (int i = 0; i < 10'000 && greedy.recv(got, zmq::recv_flags::dontwait); ++i) {
    }
    c.id = 100'000 + static_cast<std::uint64_t>(attempt);
    std::string body;
    plugin::wire::encode(c, &body);
    greedy.send(zmq::buffer(body), zmq::send_flags::none);
    std::this_thread::sleep_for(milliseconds(50));
    for (int i = 0; i < 10'000 && greedy.recv(got, zmq::recv_flags::dontwait); ++i) {
      auto r = plugin::wire::decode_command_reply(plugin::view(got));
      if (r.ok() && r->id == c.id && r->status.ok()) served = true;
    }
  }
  BOOST_TEST(served);
}

// Connections: each holds a descriptor in the writer, so with a limit of 1,024 files a few
// thousand idle peers used to lock every new client out (with a 6.6 s timeout) and could leave
// the log without a descriptor. Past max_connections a new connection is now refused in its
// handshake, counted, and its client told why at once; the clients already connected, the log
// and the bus go on; and once the flood ends, new clients get in again.
BOOST_AUTO_TEST_CASE(connections_past_the_cap_are_refused_and_the_writer_goes_on) {
  zmq::context_t ctx;
  TempDir dir;
  HubServerOptions so = Writer::server_options(tcp_transport());
  constexpr std::size_t kCap = 24;
  so.max_connections = kCap;
  Writer w = Writer::open(ctx, writer_options(dir.path()), so);
  BOOST_TEST(w.server->stats().max_connections == kCap);
  plugin::wire::Command dump;
  dump.op = plugin::wire::CommandOp::kDump;
  plugin::CommandClient existing(ctx, w.server->command_endpoint(), "hub", 8);
  auto replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
  BOOST_REQUIRE(existing.call(dump, milliseconds(5'000)).ok());
  BOOST_REQUIRE(replica->wait_caught_up(kWait).ok());

  // The flood: 200 peers that connect to the command channel and the replay service and stay.
  // They do not retry within the test once refused (ZeroMQ would every 100 ms by default).
  // Connections in their handshake count (they hold a descriptor too), so a burst may leave
  // a few places free; one peer at a time then fills them.
  const std::uint64_t open_before = w.server->stats().connections_open;
  zmq::context_t attacker;
  attacker.set(zmq::ctxopt::max_sockets, 1024);
  std::vector<zmq::socket_t> flood;
  const auto connect_one = [&](int i) {
    flood.emplace_back(attacker, zmq::socket_type::dealer);
    flood.back().set(zmq::sockopt::linger, 0);
    flood.back().set(zmq::sockopt::reconnect_ivl, 60'000);
    flood.back().connect(i % 2 == 0 ? w.server->command_endpoint() : w.server->replay_endpoint());
  };
  for (int i = 0; i < 200; ++i) connect_one(i);
  // Every peer of the flood either holds a connection or was refused (and is gone).
  const auto settled = [&] {
    const HubServerStats s = w.server->stats();
    return s.connections_open <= kCap &&
           s.connections_open + s.connections_over_limit == open_before + flood.size();
  };
  BOOST_TEST(eventually(settled));
  for (int i = 0; i < static_cast<int>(kCap) && w.server->stats().connections_open < kCap; ++i) {
    connect_one(i);
    BOOST_TEST(eventually(settled));
  }
  BOOST_TEST(w.server->stats().connections_open == kCap);
  BOOST_TEST(w.server->stats().connections_over_limit >= 200 - kCap);

  // A new client is told at once, not after its 10 s timeout.
  {
    plugin::CommandClient late(ctx, w.server->command_endpoint(), "hub", 8);
    auto refused = late.call(dump, milliseconds(10'000));
    BOOST_REQUIRE(!refused.ok());
    BOOST_TEST(refused.status().code() == Code::kResourceExhausted, refused.status().to_string());
    BOOST_TEST(refused.status().message().find("as many connections") != std::string::npos);
  }
  // The clients already connected, the log and the bus go on.
  auto served = existing.call(dump, milliseconds(5'000));
  BOOST_REQUIRE_MESSAGE(served.ok(), served.status().to_string());
  BOOST_TEST(served->status.ok());
  BOOST_REQUIRE(w.registry->insert(ChildSpec{"during", StartSpec{"M", "f", {}}, {}}, {}).ok());
  BOOST_TEST(replica->wait_for(w.registry->last_sequence(), kWait).ok());
  BOOST_TEST(w.server->stats().connections_open <= kCap);

  // The flood ends: its connections are counted out, and a new client gets in.
  flood.clear();
  attacker.close();
  BOOST_TEST(eventually([&] { return w.server->stats().connections_open <= open_before + 1; }),
             "open " << w.server->stats().connections_open);
  plugin::CommandClient after(ctx, w.server->command_endpoint(), "hub", 8);
  auto again = after.call(dump, milliseconds(5'000));
  BOOST_REQUIRE_MESSAGE(again.ok(), again.status().to_string());
  BOOST_TEST(again->status.ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::testing
