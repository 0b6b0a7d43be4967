// Malformed and forged input on every endpoint, over real sockets: the replay service and the
// command channel answer each bad request with the documented error reply (code and id) or drop
// it, count it, and answer the next valid request correctly; a replica and a hook subscriber on
// a bus where a rogue publisher sends garbage and forged messages on the hub's topics count
// them, and still converge and deliver every hook event exactly once (the writer's tables and
// its in-process hook stream are the reference). docs/PROTOCOL.md, "Checks and errors",
// "Limits", "Error counting", "Forged and corrupt bus messages".
#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "events/codec.h"
#include "plugin/wire.h"
#include "plugin/wire_samples.h"
#include "plugin/zmq_util.h"
#include "procreg/bus_proxy.h"
#include "procreg/hook_subscriber.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using plugin::wire::test::add_key;
using plugin::wire::test::from_hex;
using plugin::wire::test::remove_key;
using plugin::wire::test::replace_value;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint64_t kFarAhead = std::uint64_t{1} << 62;
constexpr std::uint64_t kMaxSeq = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t kMaxRequestBytes = 4096;  // the test servers' max_request_bytes

// ---- MessagePack items for the edits of wire_samples.h -----------------------------------

std::string str_item(const std::string& s) {  // a str of up to 65535 bytes
  std::string out;
  if (s.size() < 32) {
    out.push_back(static_cast<char>(0xa0 | s.size()));
  } else if (s.size() < 256) {
    out.push_back('\xd9');
    out.push_back(static_cast<char>(s.size()));
  } else {
    out.push_back('\xda');
    out.push_back(static_cast<char>(s.size() >> 8));
    out.push_back(static_cast<char>(s.size() & 0xff));
  }
  return out + s;
}

template <typename T>
std::string encoded(const T& m) {
  std::string out;
  plugin::wire::encode(m, &out);
  return out;
}

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// ---- a raw DEALER on a ROUTER endpoint -----------------------------------------------------

class RawClient {
 public:
  RawClient(zmq::context_t& ctx, const std::string& endpoint)
      : socket_(ctx, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void send(const std::vector<std::string>& frames) {
    plugin::Frames out;
    for (const auto& f : frames) out.emplace_back(f.data(), f.size());
    auto sent = plugin::send_message(socket_, out);
    BOOST_REQUIRE(sent.ok() && *sent);
  }
  // The next message, or nothing within `limit`.
  std::optional<std::vector<std::string>> receive(milliseconds limit = kWait) {
    auto ready = plugin::wait_readable(socket_, limit);
    BOOST_REQUIRE(ready.ok());
    if (!*ready) return std::nullopt;
    plugin::Frames in;
    auto got = plugin::recv_message(socket_, &in, plugin::RecvLimits{}, /*dont_wait=*/true);
    BOOST_REQUIRE(got.ok() && *got);
    std::vector<std::string> frames;
    for (const auto& f : in) frames.emplace_back(plugin::view(f));
    return frames;
  }

 private:
  zmq::socket_t socket_;
};

// A request the service refuses: the frames the client sends, and the reply it gets (code and
// id), or no reply at all (dropped). Either way it is counted.
struct Refused {
  std::string name;
  std::vector<std::string> frames;
  std::optional<Code> code;  // nothing: dropped without a reply
  std::uint64_t id = 0;      // the reply's id
  std::string message_part;
  bool bad_frame = true;  // counted in HubServerStats::bad_frames (else only as an error)
};

// Bad requests every ROUTER endpoint refuses alike, built from a valid body (id 42, this hub).
// The command channel answers a request over its limits (`answers_oversized`: with
// resource_exhausted and the id its first bytes give); the replay service drops it.
std::vector<Refused> common_refusals(const std::string& valid, bool answers_oversized = false) {
  const std::string pad(2 * kMaxRequestBytes, 'x');
  return {
      {"garbage bytes", {"\xc1\xff garbage"}, Code::kCorruption, 0, "", true},
      {"an empty frame", {""}, Code::kCorruption, 0, "", true},
      {"a body that is not a map", {from_hex("93010203")}, Code::kCorruption, 0, "", true},
      {"two frames", {valid, valid}, Code::kInvalidArgument, 0, "one frame, got 2", true},
      {"three frames", {valid, "", valid}, Code::kInvalidArgument, 0, "one frame, got 3", true},
      // 4 frames and the routing id are 5, over the limit of 4.
      {"four frames",
       {valid, valid, valid, valid},
       answers_oversized ? std::optional<Code>(Code::kResourceExhausted) : std::nullopt,
       answers_oversized ? 42u : 0u,
       "",
       true},
      {"an empty frame before the body (a REQ socket's delimiter)",
       {"", valid},
       Code::kInvalidArgument,
       0,
       "one frame, got 2",
       true},
      {"version 2", {replace_value(valid, "v", from_hex("02"))}, Code::kUnsupported, 42, "", true},
      {"version 0", {replace_value(valid, "v", from_hex("00"))}, Code::kCorruption, 42, "", true},
      {"no version", {remove_key(valid, "v")}, Code::kCorruption, 42, "\"v\"", true},
      {"a hub of the wrong type",
       {replace_value(valid, "hub", from_hex("05"))},
       Code::kCorruption,
       42,
       "hub",
       true},
      {"a bin hub",
       {replace_value(valid, "hub", from_hex("c403687562"))},
       Code::kCorruption,
       42,
       "hub",
       true},
      {"an op of the wrong type",
       {replace_value(valid, "op", from_hex("c3"))},
       Code::kCorruption,
       42,
       "op",
       true},
      {"an unknown op",
       {replace_value(valid, "op", str_item("compact"))},
       Code::kUnsupported,
       42,
       "compact",
       true},
      {"a duplicate key",
       {plugin::wire::test::duplicate_key(valid, "hub")},
       Code::kCorruption,
       42,
       "",
       true},
      {"trailing bytes", {valid + '\x00'}, Code::kCorruption, 42, "trailing", true},
      {"a truncated body",
       {valid.substr(0, valid.size() - 1)},
       Code::kCorruption,
       42,
       "truncated",
       true},
      {"an id of the wrong type",
       {replace_value(valid, "id", str_item("42"))},
       Code::kCorruption,
       0,
       "id",
       true},
      {"a negative id",
       {replace_value(valid, "id", from_hex("ff"))},
       Code::kCorruption,
       0,
       "id",
       true},
      {"no id", {remove_key(valid, "id")}, Code::kCorruption, 0, "\"id\"", true},
      {"oversized",
       {add_key(valid, "pad", str_item(pad))},
       answers_oversized ? std::optional<Code>(Code::kResourceExhausted) : std::nullopt,
       answers_oversized ? 42u : 0u,
       answers_oversized ? "over 4096 bytes" : "",
       true},
      {"another hub",
       {replace_value(valid, "hub", str_item("other"))},
       Code::kNotFound,
       42,
       "serves hub 'hub', not 'other'",
       false},
  };
}

// Sends a refused request, checks its reply (or that none came: the valid request sent right
// after is answered first) and the counters, then `valid_exchange` must still succeed.
template <typename Stats, typename DecodeReply, typename Valid>
void check_refusal(RawClient& client, const Refused& c, Stats stats, DecodeReply decode_reply,
                   Valid valid_exchange, bool is_replay) {
  BOOST_TEST_CONTEXT(c.name) {
    const HubServerStats before = stats();
    client.send(c.frames);
    if (c.code) {
      auto reply = client.receive();
      BOOST_REQUIRE_MESSAGE(reply.has_value(), "no reply");
      BOOST_REQUIRE_EQUAL(reply->size(), 1u);  // an error reply has no further frames
      decode_reply(reply->front(), *c.code, c.id, c.message_part);
    }
    valid_exchange();  // for a dropped request, its reply is the first that comes
    const HubServerStats after = stats();
    BOOST_TEST(after.bad_frames - before.bad_frames == (c.bad_frame ? 1u : 0u));
    if (is_replay) {
      BOOST_TEST(after.replay_errors - before.replay_errors == (c.code ? 1u : 0u));
      BOOST_TEST(after.replay_requests - before.replay_requests == (c.code ? 2u : 1u));
    } else {
      BOOST_TEST(after.command_errors - before.command_errors == (c.code ? 1u : 0u));
      BOOST_TEST(after.commands - before.commands == (c.code ? 2u : 1u));
    }
  }
}

Writer small_request_writer(zmq::context_t& ctx, const TempDir& dir, const Transport& t) {
  HubServerOptions so = Writer::server_options(t);
  so.max_request_bytes = kMaxRequestBytes;
  return Writer::open(ctx, writer_options(dir.path()), so);
}

// ---- the bus: a rogue publisher beside the writer ---------------------------------------

struct Recorder {
  std::mutex mu;
  std::vector<HookEvent> events;
  HookHandler handler() {
    return [this](const HookEvent& e) {
      std::lock_guard l(mu);
      events.push_back(e);
    };
  }
  std::vector<HookEvent> take() {
    std::lock_guard l(mu);
    return events;
  }
};

// A writer publishing through a BusProxy, a replica and a hook subscriber (of both kinds, from
// the start) on its backend, the writer's in-process hook stream as the reference, and a rogue
// PUB connected to the proxy's frontend like the writer.
struct RogueBus {
  zmq::context_t ctx;
  TempDir dir;
  std::unique_ptr<BusProxy> proxy;
  Writer w;
  Recorder reference;
  HookSubscription ref_registered, ref_unregistered;
  Recorder delivered;
  std::unique_ptr<Replica> replica;
  std::unique_ptr<HookSubscriber> hooks;
  zmq::socket_t rogue;
  std::uint64_t epoch = 0;

  RogueBus() {
    auto p = BusProxy::start(ctx);
    BOOST_REQUIRE(p.ok());
    proxy = std::move(*p);
    HubServerOptions so = Writer::server_options(tcp_transport());
    so.publish_endpoint = proxy->frontend_endpoint();
    so.publish_connect = true;
    w = Writer::open(ctx, writer_options(dir.path()), so);
    epoch = w.registry->epoch();
    ref_registered = w.registry->subscribe(HookTopic::kChildRegistered, reference.handler());
    ref_unregistered = w.registry->subscribe(HookTopic::kChildUnregistered, reference.handler());
    random_workload(*w.registry, 31, 200);  // history before the subscribers exist
    replica = start_replica(ctx, w.replica_options(proxy->backend_endpoint()));
    HookSubscriberOptions o;
    o.hub = w.registry->hub();
    o.bus_endpoint = proxy->backend_endpoint();
    o.replay_endpoint = w.server->replay_endpoint();
    o.request_timeout = milliseconds(1'000);
    o.from_seq = 0;
    auto s = HookSubscriber::start(ctx, o,
                                   {{HookTopic::kChildRegistered, delivered.handler(), 0},
                                    {HookTopic::kChildUnregistered, delivered.handler(), 0}});
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
    hooks = std::move(*s);
    BOOST_REQUIRE(replica->wait_caught_up(kWait).ok());
    BOOST_REQUIRE(hooks->wait_position(w.registry->last_sequence(), kWait).ok());
    rogue = zmq::socket_t(ctx, zmq::socket_type::pub);
    rogue.set(zmq::sockopt::linger, 0);
    rogue.connect(proxy->frontend_endpoint());
    wait_until_rogue_is_heard();
  }
  ~RogueBus() {
    hooks->stop();
    replica->stop();
    rogue.close();
  }

  void send(const std::vector<std::string>& frames) {
    plugin::Frames out;
    for (const auto& f : frames) out.emplace_back(f.data(), f.size());
    BOOST_REQUIRE(plugin::send_message(rogue, out).ok());
  }

  std::string hub() const { return w.registry->hub(); }
  std::string event_topic() const { return plugin::wire::event_topic(hub(), hub()); }
  std::string hook_topic(const std::string& child = "w1") const {
    return plugin::wire::hook_topic(hub(), HookTopic::kChildRegistered, child);
  }
  std::string heartbeat_topic() const { return plugin::wire::heartbeat_topic(hub()); }
  std::string event_header(std::uint64_t seq, std::uint64_t ep = 0, std::uint32_t count = 1) const {
    return encoded(plugin::wire::EventHeader{seq, ep == 0 ? epoch : ep, 0, count});
  }
  // Frame 2 of an event batch holding `events`.
  static std::string event_batch(const std::vector<std::string_view>& events) {
    std::string out;
    plugin::wire::encode_event_batch(events, &out);
    return out;
  }
  std::string hook_header(std::uint64_t seq, std::uint32_t index = 0, std::uint32_t count = 1,
                          std::uint64_t ep = 0) const {
    return encoded(plugin::wire::HookHeader{seq, ep == 0 ? epoch : ep, 0, 0, index, count});
  }
  std::string hook_payload(const std::string& hub_name, const std::string& child) const {
    return encoded(plugin::wire::HookPayload{hub_name, hub_name, child, {{"n1", "<p>"}}});
  }
  std::string heartbeat(std::uint64_t seq, std::uint64_t heads, std::uint64_t ep = 0) const {
    return encoded(
        plugin::wire::Heartbeat{seq, ep == 0 ? epoch : ep, 1'700'000'000'000, heads, heads});
  }
  // A well-formed event of this hub and epoch at `seq`: an insert the writer never wrote.
  std::string forged_event(std::uint64_t seq) const {
    Event e;
    e.hub = hub();
    e.table = hub();
    e.seq = seq;
    e.epoch = epoch;
    e.writer_time_ms = 1;
    e.body = events::Insert{Row{Entry{make_spec("forged"), {{"n9", "<forged>"}}, {}}, {}}};
    return events::encode(e);
  }

  // The rogue's messages reach the subscribers once the proxy forwarded their subscriptions
  // to it. Until then it sends duplicates (seq 1, which both have), counted as such and
  // harmless, and waits until both counted one.
  void wait_until_rogue_is_heard() {
    const auto r0 = replica->stats().duplicates_dropped;
    const auto h0 = hooks->stats().duplicates_dropped;
    bool heard = false;
    for (int i = 0; i < 1'000 && !heard; ++i) {
      send({event_topic(), event_header(1), "x"});
      send({hook_topic(), hook_header(1), "x"});
      heard = eventually(
          [&] {
            return replica->stats().duplicates_dropped > r0 &&
                   hooks->stats().duplicates_dropped > h0;
          },
          milliseconds(20));
    }
    BOOST_REQUIRE_MESSAGE(heard, "the rogue publisher is never heard");
  }

  // Everything converged: the replica equals the writer and is caught up, the hook subscriber
  // delivered exactly the writer's hook stream and its position is the writer's head.
  void check_converged_and_delivered_once() {
    check_converged(*w.registry, *replica);
    BOOST_TEST(replica->wait_caught_up(kWait).ok());
    BOOST_TEST(replica->last_applied() == w.registry->last_sequence());
    BOOST_REQUIRE(w.registry->wait_for_hooks(w.registry->last_sequence(), kWait).ok());
    const auto expected = reference.take();
    BOOST_REQUIRE(hooks->wait_position(w.registry->last_sequence(), kWait).ok());
    BOOST_TEST(hooks->position().seq == w.registry->last_sequence());  // not past the writer
    BOOST_TEST(hooks->position().epoch == epoch);
    BOOST_TEST(hooks->position().partial == 0u);
    const auto got = delivered.take();
    BOOST_TEST(got.size() == expected.size());
    BOOST_TEST((got == expected));
    BOOST_TEST(replica->stats().resyncs == 0u);
    BOOST_TEST(replica->stats().snapshots_loaded == 1u);
    BOOST_TEST(hooks->stats().resyncs == 0u);
  }
};

BOOST_AUTO_TEST_SUITE(malformed)

// ---- the replay service ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_replay_service_refuses_each_bad_request_as_documented_and_goes_on) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = small_request_writer(ctx, dir, tcp_transport());
  for (int i = 0; i < 20; ++i) {
    BOOST_REQUIRE(w.registry->insert(make_spec("c" + std::to_string(i)), {{"n1", "<p>"}}).ok());
  }
  const std::uint64_t head = w.registry->last_sequence();
  RawClient client(ctx, w.server->replay_endpoint());
  const std::string valid = encoded(plugin::wire::test::sample_range_request());  // id 42, hub

  std::uint64_t next_id = 1'000;
  auto valid_exchange = [&] {  // the whole log, in one reply
    plugin::wire::ReplayRequest req;
    req.id = next_id++;
    req.hub = "hub";
    req.from = 1;
    client.send({encoded(req)});
    auto reply = client.receive();
    BOOST_REQUIRE(reply.has_value());
    auto h = plugin::wire::decode_replay_reply_header(reply->front());
    BOOST_REQUIRE_MESSAGE(h.ok(), h.status().to_string());
    BOOST_TEST(h->id == req.id);
    BOOST_TEST(h->status.ok(), h->status.to_string());
    BOOST_TEST(h->epoch == w.registry->epoch());
    BOOST_TEST(h->head == head);
    BOOST_TEST(h->first == 1u);
    BOOST_TEST(h->last == head);
    BOOST_TEST(h->end);
    BOOST_REQUIRE_EQUAL(reply->size(), head + 1);
    for (std::uint64_t s = 1; s <= head; ++s) {
      auto e = events::decode((*reply)[s]);
      BOOST_REQUIRE(e.ok());
      BOOST_TEST(e->seq == s);
    }
  };
  auto decode_reply = [&](const std::string& bytes, Code code, std::uint64_t id,
                          const std::string& part) {
    auto h = plugin::wire::decode_replay_reply_header(bytes);
    BOOST_REQUIRE_MESSAGE(h.ok(), h.status().to_string());
    BOOST_TEST(h->id == id);
    BOOST_TEST(code_name(h->status.code()) == code_name(code), h->status.to_string());
    BOOST_TEST(contains(h->status.message(), part), h->status.message() << " lacks " << part);
    BOOST_TEST(h->count == 0u);
    BOOST_TEST(h->epoch == w.registry->epoch());
    BOOST_TEST(h->head == head);
  };

  std::vector<Refused> cases = common_refusals(valid);
  auto with = [&](const std::string& key, const std::string& item) {
    return replace_value(valid, key, item);
  };
  const std::string snapshot = encoded(plugin::wire::test::sample_snapshot_request());  // id 43
  cases.insert(
      cases.end(),
      {
          {"max_n of the wrong type",
           {with("max_n", str_item("1"))},
           Code::kCorruption,
           42,
           "max_n",
           true},
          {"max_n of 2^32",
           {with("max_n", from_hex("cf0000000100000000"))},
           Code::kCorruption,
           42,
           "max_n",
           true},
          {"from negative", {with("from", from_hex("d0ff"))}, Code::kCorruption, 42, "from", true},
          {"max_events 0",
           {with("max_n", from_hex("00"))},
           Code::kInvalidArgument,
           42,
           "max_events must be",
           false},
          {"max_events above 65536",
           {with("max_n", from_hex("ce00010001"))},
           Code::kInvalidArgument,
           42,
           "max_events must be",
           false},
          {"max_bytes 0",
           {with("max_b", from_hex("00"))},
           Code::kInvalidArgument,
           42,
           "max_bytes",
           false},
          {"max_bytes above 16 MiB",
           {with("max_b", from_hex("ce01000001"))},
           Code::kInvalidArgument,
           42,
           "max_bytes",
           false},
          {"a range from 0",
           {with("from", from_hex("00"))},
           Code::kInvalidArgument,
           42,
           "range from 0",
           false},
          {"a snapshot that does not exist",
           {snapshot},
           Code::kNotFound,
           43,
           "snapshot 9 expired, start again",
           false},
      });
  for (std::size_t i = 0; i < cases.size(); ++i) {
    check_refusal(
        client, cases[i], [&] { return w.server->stats(); }, decode_reply, valid_exchange,
        /*is_replay=*/true);
  }
  // A request just under the limit is served: unknown keys are skipped whatever their size.
  const std::string padded =
      add_key(valid, "pad", str_item(std::string(kMaxRequestBytes - valid.size() - 64, 'x')));
  BOOST_REQUIRE_LT(padded.size(), kMaxRequestBytes - 16);
  client.send({padded});
  auto reply = client.receive();
  BOOST_REQUIRE(reply.has_value());
  auto h = plugin::wire::decode_replay_reply_header(reply->front());
  BOOST_REQUIRE(h.ok());
  BOOST_TEST(h->id == 42u);
  BOOST_TEST(h->status.ok(), h->status.to_string());
  BOOST_TEST(h->first == 8u);  // the sample asks from 8
}

// ---- the command channel -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_command_channel_refuses_each_bad_command_as_documented_and_goes_on) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = small_request_writer(ctx, dir, tcp_transport());
  auto revision = w.registry->insert(make_spec("w1"), {{"n1", "<p1>"}});
  BOOST_REQUIRE(revision.ok());
  RawClient client(ctx, w.server->command_endpoint());
  const std::string valid = encoded(plugin::wire::test::sample_command(
      plugin::wire::CommandOp::kErase));  // id 42: erase w1 (never sent as is)

  std::uint64_t next_id = 1'000;
  auto valid_exchange = [&] {  // an insert of a new child, committed and answered
    plugin::wire::Command c;
    c.id = next_id++;
    c.hub = "hub";
    c.op = plugin::wire::CommandOp::kInsert;
    c.spec = make_spec("ok" + std::to_string(c.id));
    c.node_pids = {{"n2", "<" + std::to_string(c.id) + ">"}};
    client.send({encoded(c)});
    auto reply = client.receive();
    BOOST_REQUIRE(reply.has_value());
    BOOST_REQUIRE_EQUAL(reply->size(), 1u);
    auto r = plugin::wire::decode_command_reply(reply->front());
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    BOOST_TEST(r->id == c.id);
    BOOST_TEST(r->status.ok(), r->status.to_string());
    BOOST_TEST(r->seq == w.registry->last_sequence());
    BOOST_TEST(r->epoch == w.registry->epoch());
    BOOST_TEST((w.registry->get_pid(c.spec.id) == std::optional<Pid>(c.node_pids[0].pid)));
  };
  auto decode_reply = [&](const std::string& bytes, Code code, std::uint64_t id,
                          const std::string& part) {
    auto r = plugin::wire::decode_command_reply(bytes);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    BOOST_TEST(r->id == id);
    BOOST_TEST(code_name(r->status.code()) == code_name(code), r->status.to_string());
    BOOST_TEST(contains(r->status.message(), part), r->status.message() << " lacks " << part);
    BOOST_TEST(r->seq == 0u);
    BOOST_TEST(r->epoch == w.registry->epoch());
    // The code travels by its name.
    BOOST_TEST(contains(bytes, str_item(std::string(code_name(code)))));
  };

  std::vector<Refused> cases = common_refusals(valid, /*answers_oversized=*/true);
  const std::string insert =
      encoded(plugin::wire::test::sample_command(plugin::wire::CommandOp::kInsert));
  const std::string bulk_delete =
      encoded(plugin::wire::test::sample_command(plugin::wire::CommandOp::kBulkDelete));
  plugin::wire::Command stale =
      plugin::wire::test::sample_command(plugin::wire::CommandOp::kUpdate);
  stale.expect_revision = *revision + 1'000;
  plugin::wire::Command absent =
      plugin::wire::test::sample_command(plugin::wire::CommandOp::kUpdate);
  absent.child_id = "absent";
  const std::string expected_conflict = "row 'w1' is at revision " + std::to_string(*revision) +
                                        ", not " + std::to_string(stale.expect_revision);
  cases.insert(cases.end(), {
                                {"a timeout of 2^32 ms",
                                 {replace_value(insert, "tmo", from_hex("cf0000000100000000"))},
                                 Code::kCorruption,
                                 42,
                                 "tmo",
                                 true},
                                {"hooks as 1",
                                 {replace_value(insert, "hk", from_hex("01"))},
                                 Code::kCorruption,
                                 42,
                                 "hk",
                                 true},
                                {"a spec that is an array",
                                 {replace_value(insert, "spec", from_hex("90"))},
                                 Code::kCorruption,
                                 42,
                                 "spec",
                                 true},
                                {"an insert without its spec",
                                 {remove_key(insert, "spec")},
                                 Code::kCorruption,
                                 42,
                                 "spec",
                                 true},
                                {"an erase without its child",
                                 {remove_key(valid, "cid")},
                                 Code::kCorruption,
                                 42,
                                 "cid",
                                 true},
                                {"a delete pair of three",
                                 {replace_value(bulk_delete, "dels", from_hex("9193a2773190a178"))},
                                 Code::kCorruption,
                                 42,
                                 "dels",
                                 true},
                                {"an update at a stale revision",
                                 {encoded(stale)},
                                 Code::kConflict,
                                 42,
                                 expected_conflict,
                                 false},
                                {"an update of a missing child",
                                 {encoded(absent)},
                                 Code::kNotFound,
                                 42,
                                 "No child found",
                                 false},
                            });
  for (std::size_t i = 0; i < cases.size(); ++i) {
    check_refusal(
        client, cases[i], [&] { return w.server->stats(); }, decode_reply, valid_exchange,
        /*is_replay=*/false);
  }
  // Nothing refused was written: w1 is still at its revision and bound.
  BOOST_TEST((w.registry->get_pid("w1") == std::optional<Pid>("<p1>")));
  BOOST_TEST(!w.registry->entry_exists("absent"));
}

// ---- the bus -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(garbage_on_the_bus_is_counted_and_the_subscribers_still_converge) {
  RogueBus bus;
  const auto r0 = bus.replica->stats();
  const auto h0 = bus.hooks->stats();
  const std::uint64_t head = bus.w.registry->last_sequence();
  const std::string et = bus.event_topic(), ht = bus.hook_topic(), hb = bus.heartbeat_topic();
  const std::string body = bus.forged_event(head + 1);  // a body, for messages refused before it
  const std::string payload = bus.hook_payload(bus.hub(), "w1");
  std::uint64_t replica_bad = 0, hooks_bad = 0;
  auto to_replica = [&](const std::vector<std::string>& frames) {
    bus.send(frames);
    ++replica_bad;
  };
  auto to_hooks = [&](const std::vector<std::string>& frames) {
    bus.send(frames);
    ++hooks_bad;
  };
  auto to_both = [&](const std::vector<std::string>& frames) {
    bus.send(frames);
    ++replica_bad;
    ++hooks_bad;
  };

  // Events (the replica's subscription): wrong frame counts, garbage and newer headers, topics
  // under its prefix that do not parse, header and body that disagree, corrupt bodies.
  to_replica({et});
  to_replica({et, bus.event_header(head + 1)});
  to_replica({et, bus.event_header(head + 1), body, "extra"});
  to_replica({et, "\xc1 garbage", body});
  to_replica({et, replace_value(bus.event_header(head + 1), "v", from_hex("03")), body});
  // Event batches: no count, a count out of range, a frame that is not n bins, an event that
  // does not decode or disagrees with its place, seqs past 2^64.
  const std::string batch_header = bus.event_header(head + 1, 0, 2);
  const std::string forged2 = bus.forged_event(head + 2);
  to_replica({et, remove_key(batch_header, "n"), bus.event_batch({body, forged2})});
  to_replica({et, replace_value(batch_header, "n", from_hex("00")), bus.event_batch({body})});
  to_replica({et, batch_header, bus.event_batch({body})});
  to_replica({et, batch_header, bus.event_batch({body, forged2, forged2})});
  to_replica({et, batch_header, body});
  to_replica({et, batch_header, bus.event_batch({"\x93 corrupt", forged2})});
  to_replica({et, batch_header, bus.event_batch({forged2, forged2})});  // 1st says head + 2
  to_replica({et, bus.event_header(kMaxSeq, 0, 2), bus.event_batch({body, forged2})});
  to_replica({et, bus.event_header(head + 2), body});  // the body says head + 1
  to_replica({et, bus.event_header(head + 1), "\x93 corrupt"});
  to_replica({et, bus.event_header(kFarAhead), "\x93 corrupt"});
  to_replica({plugin::wire::events_prefix(bus.hub()), bus.event_header(head + 1), body});
  to_replica({plugin::wire::events_prefix(bus.hub()) + "03:hub", bus.event_header(head + 1), body});
  to_replica({plugin::wire::events_prefix(bus.hub()) + "9:hub", bus.event_header(head + 1), body});
  // Heartbeats (both subscriptions).
  to_both({hb});
  to_both({hb, bus.heartbeat(head, 0), "extra"});
  to_both({hb, "a", "b", "c", "d"});           // 5 frames: over the limit of 4
  to_both({hb, std::string(18u << 20, 'x')});  // over 17 MiB
  to_both({hb, replace_value(bus.heartbeat(head, 0), "v", from_hex("02"))});
  to_both({hb, "\x81\xa1v"});
  to_both({hb + "x", bus.heartbeat(head, 0)});
  // Hook messages (the hook subscriber's): the same kinds, an index past the count, a kind
  // that does not exist, a far-ahead header over a corrupt payload, and payloads that do not
  // agree with their topic.
  to_hooks({ht});
  to_hooks({ht, bus.hook_header(head + 1)});
  to_hooks({ht, bus.hook_header(head + 1), payload, "extra"});
  to_hooks({ht, "\xc1 garbage", payload});
  to_hooks({ht, replace_value(bus.hook_header(head + 1), "v", from_hex("02")), payload});
  to_hooks({ht, replace_value(bus.hook_header(head + 1), "i", from_hex("01")), payload});
  to_hooks({plugin::wire::hooks_prefix(bus.hub()) + "child_moved/2:w1", bus.hook_header(head + 1),
            payload});
  to_hooks({plugin::wire::hooks_prefix(bus.hub()), bus.hook_header(head + 1), payload});
  to_hooks({ht, bus.hook_header(kFarAhead), "\x93 corrupt"});
  to_hooks({ht, bus.hook_header(kMaxSeq), bus.hook_payload("other", "w1")});
  to_hooks({ht, bus.hook_header(kFarAhead), bus.hook_payload(bus.hub(), "w2")});

  const bool all_counted = eventually([&] {
    return bus.replica->stats().bad_frames - r0.bad_frames >= replica_bad &&
           bus.hooks->stats().bad_frames - h0.bad_frames >= hooks_bad;
  });
  BOOST_TEST_REQUIRE(all_counted, "replica counted "
                                      << bus.replica->stats().bad_frames - r0.bad_frames << " of "
                                      << replica_bad << ", hook subscriber "
                                      << bus.hooks->stats().bad_frames - h0.bad_frames << " of "
                                      << hooks_bad);
  // Each counted once.
  BOOST_TEST(bus.replica->stats().bad_frames - r0.bad_frames == replica_bad);
  BOOST_TEST(bus.hooks->stats().bad_frames - h0.bad_frames == hooks_bad);
  // Nothing else was taken for the writer's: with the writer idle, the replica is caught up at
  // its head again, and the hook subscriber delivered nothing and stayed at the head.
  BOOST_TEST(bus.replica->wait_caught_up(kWait).ok());
  BOOST_TEST(bus.replica->last_applied() == head);
  BOOST_TEST(bus.replica->stats().gaps_detected > r0.gaps_detected);
  BOOST_TEST(bus.hooks->stats().delivered == h0.delivered);
  BOOST_TEST(bus.hooks->position().seq == head);

  // The writer goes on, with the same garbage interleaved: every message still reaches the
  // subscribers whole, and none of it is taken for the writer's.
  std::atomic<bool> done{false};
  std::thread writes([&] {
    random_workload(*bus.w.registry, 32, 1'500);
    done = true;
  });
  for (int round = 0; round < 400 && !done.load(); ++round) {
    const std::uint64_t now = bus.w.registry->last_sequence();
    bus.send({et, bus.event_header(now + 1), "\x93 corrupt"});
    bus.send({et, bus.event_header(kFarAhead), "\x93 corrupt"});
    bus.send({hb, replace_value(bus.heartbeat(now, 0), "v", from_hex("02"))});
    bus.send({ht, bus.hook_header(now + 1), "\x93 corrupt"});
    bus.send({ht, bus.hook_header(kFarAhead), "\x93 corrupt"});
    bus.send({ht, bus.hook_header(kMaxSeq), bus.hook_payload("other", "w1")});
    bus.send({ht, "\xc1", payload});
    if (round % 20 == 0) bus.send({hb, bus.heartbeat(now, 0, bus.epoch + 1)});  // asks the writer
    std::this_thread::sleep_for(milliseconds(2));
  }
  writes.join();
  bus.check_converged_and_delivered_once();
  BOOST_TEST(bus.replica->stats().bad_frames > r0.bad_frames + replica_bad);
  BOOST_TEST(bus.hooks->stats().bad_frames > h0.bad_frames + hooks_bad);
}

BOOST_AUTO_TEST_CASE(a_forged_seq_far_ahead_is_repaired_from_the_writer_and_then_discarded) {
  RogueBus bus;
  const std::uint64_t head = bus.w.registry->last_sequence();
  // One message at a time; each is counted once the replica has repaired and seen that the
  // writer's head contradicts it, and the replica is caught up again at the writer's head
  // without the writer ever reaching that seq.
  struct Forgery {
    std::string name;
    std::vector<std::string> frames;
    std::uint64_t replica_bad;  // the discarded claim, plus a discarded buffered event
    bool replica_gap;           // the replica repairs
    std::uint64_t hooks_bad;
    bool hooks_gap;  // the hook subscriber catches up
  };
  const std::vector<Forgery> forgeries = {
      {"a heartbeat far ahead",
       {bus.heartbeat_topic(), bus.heartbeat(kFarAhead, kFarAhead)},
       1,
       true,
       0,
       true},
      {"a heartbeat at the last seq",
       {bus.heartbeat_topic(), bus.heartbeat(kMaxSeq, kMaxSeq)},
       1,
       true,
       0,
       true},
      {"a well-formed event far ahead",
       {bus.event_topic(), bus.event_header(kFarAhead), bus.forged_event(kFarAhead)},
       2,
       true,
       0,
       false},
      {"a well-formed event at the last seq",
       {bus.event_topic(), bus.event_header(kMaxSeq), bus.forged_event(kMaxSeq)},
       2,
       true,
       0,
       false},
      {"a well-formed event just ahead",
       {bus.event_topic(), bus.event_header(head + 2), bus.forged_event(head + 2)},
       2,
       true,
       0,
       false},
      {"an event far ahead with a corrupt body",
       {bus.event_topic(), bus.event_header(kFarAhead), "\x93 corrupt"},
       1,
       true,
       0,
       false},
      {"a hook message far ahead with a corrupt payload",
       {bus.hook_topic(), bus.hook_header(kFarAhead), "\x93 corrupt"},
       0,
       false,
       1,
       true},
      {"a hook message far ahead that does not continue the chain",
       {bus.hook_topic(), bus.hook_header(kFarAhead, 1, 2), bus.hook_payload(bus.hub(), "w1")},
       0,
       false,
       0,
       true},
  };
  for (const auto& f : forgeries) {
    BOOST_TEST_CONTEXT(f.name) {
      const auto r0 = bus.replica->stats();
      const auto h0 = bus.hooks->stats();
      bus.send(f.frames);
      const bool handled = eventually([&] {
        const auto r = bus.replica->stats();
        const auto h = bus.hooks->stats();
        return r.bad_frames - r0.bad_frames >= f.replica_bad &&
               (!f.replica_gap || r.gaps_detected > r0.gaps_detected) &&
               h.bad_frames - h0.bad_frames >= f.hooks_bad &&
               (!f.hooks_gap || h.gaps_detected > h0.gaps_detected);
      });
      BOOST_TEST_REQUIRE(handled, "replica bad frames "
                                      << bus.replica->stats().bad_frames - r0.bad_frames
                                      << ", hook subscriber bad frames "
                                      << bus.hooks->stats().bad_frames - h0.bad_frames);
      // Caught up at the writer's head, which never reaches the forged seq.
      BOOST_TEST(bus.replica->wait_caught_up(kWait).ok());
      BOOST_TEST(bus.replica->last_applied() == head);
      BOOST_TEST(bus.replica->stats().bad_frames - r0.bad_frames == f.replica_bad);
      BOOST_TEST(bus.hooks->stats().bad_frames - h0.bad_frames == f.hooks_bad);
      BOOST_TEST(bus.hooks->stats().delivered == h0.delivered);
      BOOST_TEST(bus.hooks->position().seq == head);
    }
  }
  BOOST_TEST(!bus.replica->registry().entry_exists("forged"));
  random_workload(*bus.w.registry, 33, 500);
  bus.check_converged_and_delivered_once();
}

BOOST_AUTO_TEST_CASE(a_forged_epoch_is_checked_with_the_writer_and_dropped) {
  RogueBus bus;
  const std::uint64_t head = bus.w.registry->last_sequence();
  const std::uint64_t other = bus.epoch + 1;
  const auto r0 = bus.replica->stats();
  const auto h0 = bus.hooks->stats();
  // A new log would make the replica resynchronise and the hook subscriber deliver the log
  // from its start; the writer's epoch has not changed, so these are not the writer's.
  bus.send({bus.heartbeat_topic(), bus.heartbeat(head, 0, other)});  // both
  bus.send({bus.event_topic(), bus.event_header(head + 1, other), bus.forged_event(head + 1)});
  bus.send({bus.hook_topic(), bus.hook_header(head + 1, 0, 1, other),
            bus.hook_payload(bus.hub(), "w1")});
  // Each message is a bad frame once the writer's epoch is known, or a failed replay request if
  // the replay service did not answer in time (the message is dropped either way).
  auto accounted = [](const auto& now, const auto& before) {
    return (now.bad_frames - before.bad_frames) + (now.replay_failures - before.replay_failures);
  };
  const bool both_checked = eventually([&] {
    return accounted(bus.replica->stats(), r0) >= 2 && accounted(bus.hooks->stats(), h0) >= 2;
  });
  BOOST_TEST_REQUIRE(both_checked, "replica accounted for "
                                       << accounted(bus.replica->stats(), r0) << " (resyncs "
                                       << bus.replica->stats().resyncs << "), hook subscriber for "
                                       << accounted(bus.hooks->stats(), h0) << " (resyncs "
                                       << bus.hooks->stats().resyncs << ")");
  BOOST_TEST(accounted(bus.replica->stats(), r0) == 2u);
  BOOST_TEST(accounted(bus.hooks->stats(), h0) == 2u);
  BOOST_TEST(bus.replica->stats().resyncs == 0u);
  BOOST_TEST(bus.hooks->stats().resyncs == 0u);
  BOOST_TEST(bus.replica->epoch() == bus.epoch);
  BOOST_TEST(bus.replica->wait_caught_up(kWait).ok());
  BOOST_TEST(bus.hooks->stats().delivered == h0.delivered);
  random_workload(*bus.w.registry, 34, 300);
  bus.check_converged_and_delivered_once();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
