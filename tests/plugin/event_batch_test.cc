// Event batches on the bus (docs/PROTOCOL.md, "Event messages"): events committed together go
// out as one event message per run of consecutive events of one table, cut after an event with
// hook events and by HubServerOptions' bounds; every event's bytes are its log record's. A raw
// SUB socket reads what the writer publishes, and the log is the reference.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "log/log.h"
#include "log/log_reader.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// One event message as received.
struct Received {
  std::string table;
  plugin::wire::EventHeader header;
  std::vector<std::string> events;  // the event bytes it carries, in seq order
};

// Everything a raw SUB socket reads on one hub, up to a given seq.
class Listener {
 public:
  Listener(zmq::context_t& ctx, const Writer& w)
      : hub_(w.registry->hub()), sub_(ctx, zmq::socket_type::sub) {
    sub_.set(zmq::sockopt::linger, 0);
    sub_.set(zmq::sockopt::subscribe, plugin::wire::hub_prefix(hub_));
    sub_.connect(w.server->publish_endpoint());
    // Subscribed once a heartbeat (every 100 ms) arrives.
    const auto deadline = Clock::now() + kWait;
    bool heard = false;
    while (!heard && Clock::now() < deadline) {
      plugin::Frames frames;
      auto got =
          plugin::recv_until(sub_, &frames, {4, 17u << 20}, Clock::now() + milliseconds(200));
      BOOST_REQUIRE(got.ok());
      heard = *got && plugin::wire::parse_topic(plugin::view(frames[0]))->kind ==
                          plugin::wire::TopicKind::kHeartbeat;
    }
    BOOST_REQUIRE_MESSAGE(heard, "no heartbeat reached the SUB socket");
  }

  // Event messages (and, in `hooks`, the seq of each hook message, in arrival order) until one
  // holds seq `last`.
  std::vector<Received> until(std::uint64_t last, std::vector<std::uint64_t>* hooks = nullptr) {
    std::vector<Received> out;
    const auto deadline = Clock::now() + kWait;
    std::uint64_t& seen = seen_;
    while (seen < last && Clock::now() < deadline) {
      plugin::Frames frames;
      auto got =
          plugin::recv_until(sub_, &frames, {4, 17u << 20}, Clock::now() + milliseconds(200));
      BOOST_REQUIRE(got.ok());
      if (!*got) continue;
      auto topic = plugin::wire::parse_topic(plugin::view(frames[0]));
      BOOST_REQUIRE(topic.ok());
      if (topic->kind == plugin::wire::TopicKind::kHook) {
        auto h = plugin::wire::decode_hook_header(plugin::view(frames[1]));
        BOOST_REQUIRE(h.ok());
        if (hooks != nullptr) hooks->push_back(h->seq);
        // A hook message follows its event's message: nothing of a later event before it.
        BOOST_TEST(h->seq == seen);
        continue;
      }
      if (topic->kind != plugin::wire::TopicKind::kEvent) continue;
      BOOST_REQUIRE(frames.size() == 3u);
      auto header = plugin::wire::decode_event_header(plugin::view(frames[1]));
      BOOST_REQUIRE_MESSAGE(header.ok(), header.status().to_string());
      Received r{topic->table, *header, {}};
      if (header->count == 1) {
        r.events.emplace_back(plugin::view(frames[2]));
      } else {
        std::vector<std::string_view> views;
        const Status s = plugin::wire::decode_event_batch(plugin::view(frames[2]), header->count,
                                                          events::DecodeLimits{}, &views);
        BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
        for (const auto v : views) r.events.emplace_back(v);
      }
      BOOST_TEST(header->seq == seen + 1);  // nothing lost, nothing reordered
      seen = header->seq + header->count - 1;
      out.push_back(std::move(r));
    }
    BOOST_REQUIRE_MESSAGE(seen == last, "received up to seq " << seen << " of " << last);
    return out;
  }

 private:
  std::string hub_;
  zmq::socket_t sub_;
  std::uint64_t seen_ = 0;  // the last seq received
};

// The payload of every record of the log in `dir`, by seq.
std::map<std::uint64_t, std::string> log_payloads(const std::string& dir) {
  auto reader = replay::LogReader::open(dir);
  BOOST_REQUIRE(reader.ok());
  std::map<std::uint64_t, std::string> out;
  replay::LogRecord rec;
  for (int i = 0; i < 100'000; ++i) {
    auto more = (*reader)->next(&rec);
    BOOST_REQUIRE(more.ok());
    if (!*more) break;
    out[rec.seq] = rec.payload;
  }
  return out;
}

// Every event of `messages` is its log record's payload, and carries the seq its position says.
void check_against_log(const std::vector<Received>& messages, const std::string& dir) {
  const auto log = log_payloads(dir);
  for (const Received& m : messages) {
    BOOST_TEST(m.events.size() == m.header.count);
    for (std::size_t i = 0; i < m.events.size(); ++i) {
      const std::uint64_t seq = m.header.seq + i;
      BOOST_TEST_CONTEXT("seq " << seq) {
        BOOST_REQUIRE(log.count(seq) == 1u);
        BOOST_TEST((m.events[i] == log.at(seq)));
        auto e = events::decode(m.events[i]);
        BOOST_REQUIRE(e.ok());
        BOOST_TEST(e->seq == seq);
        BOOST_TEST(e->table == m.table);
      }
    }
  }
}

std::vector<std::uint32_t> counts(const std::vector<Received>& messages) {
  std::vector<std::uint32_t> out;
  for (const auto& m : messages) out.push_back(m.header.count);
  return out;
}

InsertOptions on_table(const std::string& table, bool hooks = false) {
  InsertOptions o;
  o.table = table;
  o.hooks = hooks;
  return o;
}

BOOST_AUTO_TEST_SUITE(event_batches)

BOOST_AUTO_TEST_CASE(events_written_together_go_out_as_one_message_per_run_of_a_table) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  Listener listen(ctx, w);

  // seqs 1-5 default table, 6-7 table t2, 8-9 default (9 with hooks), 10 default.
  WriteBatch b;
  for (int i = 0; i < 5; ++i) b.insert(make_spec("a" + std::to_string(i)), {{"n0", "<a>"}});
  for (int i = 0; i < 2; ++i) {
    b.insert(make_spec("b" + std::to_string(i)), {{"n0", "<b>"}}, on_table("t2"));
  }
  b.insert(make_spec("c0"), {{"n0", "<c>"}});
  b.insert(make_spec("c1"), {{"n0", "<c>"}}, on_table("", true));
  b.insert(make_spec("c2"), {{"n0", "<c>"}});
  for (const auto& r : w.registry->write(std::move(b))) BOOST_REQUIRE(r.ok());
  BOOST_REQUIRE(w.registry->last_sequence() == 10u);

  std::vector<std::uint64_t> hooks;
  const auto messages = listen.until(10, &hooks);
  BOOST_TEST((counts(messages) == std::vector<std::uint32_t>{5, 2, 2, 1}));
  BOOST_REQUIRE(messages.size() == 4u);
  BOOST_TEST(messages[0].table == "hub");
  BOOST_TEST(messages[1].table == "t2");
  BOOST_TEST(messages[2].table == "hub");
  // table_prev chains the runs of a table: the last seq of its previous run.
  BOOST_TEST(messages[0].header.table_prev == 0u);
  BOOST_TEST(messages[1].header.table_prev == 0u);
  BOOST_TEST(messages[2].header.table_prev == 5u);
  BOOST_TEST(messages[3].header.table_prev == 9u);
  BOOST_TEST((hooks == std::vector<std::uint64_t>{9}));
  check_against_log(messages, dir.path());

  const HubServerStats st = w.server->stats();
  BOOST_TEST(st.events_published == 10u);
  BOOST_TEST(st.event_messages_published == 4u);
  BOOST_TEST(st.hook_messages_published == 1u);

  // Calls made one by one are one message each (version 1).
  BOOST_REQUIRE(w.registry->insert(make_spec("d0"), {{"n0", "<d>"}}).ok());
  BOOST_REQUIRE(w.registry->insert(make_spec("d1"), {{"n0", "<d>"}}).ok());
  const auto singles = listen.until(12);
  BOOST_TEST((counts(singles) == std::vector<std::uint32_t>{1, 1}));
  check_against_log(singles, dir.path());
}

BOOST_AUTO_TEST_CASE(the_servers_bounds_cut_runs_by_events_and_bytes) {
  for (const std::uint32_t max_events : {1u, 3u, 256u}) {
    BOOST_TEST_CONTEXT("max_events_per_message " << max_events) {
      zmq::context_t ctx;
      TempDir dir;
      HubServerOptions so = Writer::server_options(tcp_transport());
      so.max_events_per_message = max_events;
      so.max_message_bytes = 4'000;
      Writer w = Writer::open(ctx, writer_options(dir.path()), so);
      Listener listen(ctx, w);
      // 8 small inserts (about 130 bytes each), 3 of about 1.6 KB (2 do not fit under 4000
      // bytes with the small ones, 3 not at all), 1 of 5 KB (over the bound by itself: alone),
      // 1 small.
      WriteBatch b;
      for (int i = 0; i < 8; ++i) b.insert(make_spec("s" + std::to_string(i)), {{"n0", "<s>"}});
      for (int i = 0; i < 3; ++i) {
        b.insert(make_spec("m" + std::to_string(i), "M", "f", {Value(std::string(1'500, 'm'))}),
                 {{"n0", "<m>"}});
      }
      b.insert(make_spec("l0", "M", "f", {Value(std::string(5'000, 'l'))}), {{"n0", "<l>"}});
      b.insert(make_spec("t0"), {{"n0", "<t>"}});
      for (const auto& r : w.registry->write(std::move(b))) BOOST_REQUIRE(r.ok());
      const auto messages = listen.until(13);
      std::vector<std::uint32_t> expected;
      if (max_events == 1) {
        expected.assign(13, 1);
      } else if (max_events == 3) {
        expected = {3, 3, 3, 2, 1, 1};  // s0-s2, s3-s5, s6 s7 m0, m1 m2, l0, t0
      } else {
        expected = {9, 2, 1, 1};  // s0-s7 m0 (about 2.6 KB), m1 m2, l0, t0
      }
      BOOST_TEST(counts(messages) == expected, boost::test_tools::per_element());
      check_against_log(messages, dir.path());
      BOOST_TEST(w.server->stats().event_messages_published == expected.size());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_server_refuses_batch_bounds_out_of_range) {
  zmq::context_t ctx;
  TempDir dir;
  auto r = Registry::open(writer_options(dir.path()));
  BOOST_REQUIRE(r.ok());
  for (const std::uint32_t bad : {0u, plugin::wire::kMaxBatchEvents + 1}) {
    HubServerOptions so = Writer::server_options(tcp_transport());
    so.max_events_per_message = bad;
    auto s = HubServer::start(ctx, **r, so);
    BOOST_REQUIRE(!s.ok());
    BOOST_TEST((s.status().code() == Code::kInvalidArgument));
    BOOST_TEST(s.status().message().find("max_events_per_message") != std::string::npos);
  }
  HubServerOptions big = Writer::server_options(tcp_transport());
  big.max_message_bytes = plugin::wire::kMaxBatchBytes + 1;
  auto s = HubServer::start(ctx, **r, big);
  BOOST_REQUIRE(!s.ok());
  BOOST_TEST((s.status().code() == Code::kInvalidArgument));
  BOOST_TEST(s.status().message().find("max_message_bytes") != std::string::npos);
  HubServerOptions so = Writer::server_options(tcp_transport());
  so.max_events_per_message = plugin::wire::kMaxBatchEvents;
  so.max_message_bytes = plugin::wire::kMaxBatchBytes;
  BOOST_TEST(HubServer::start(ctx, **r, so).ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
