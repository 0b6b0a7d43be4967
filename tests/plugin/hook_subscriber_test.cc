// Hook subscribers on the bus: every hook event exactly once and in order (the writer's own
// in-process hook stream is the reference), across the subscriber's restart from a stored
// position, on a lossy bus, and for a subscriber of one kind only; a subscriber ahead of a writer
// back on an older copy of its log stops with an error.
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "lossy_proxy.h"
#include "procreg/hook_subscriber.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using std::chrono::milliseconds;

// Records what a handler receives (handlers run on the subscriber's thread).
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

std::vector<HookHandlerSpec> both(Recorder& r) {
  return {{HookTopic::kChildRegistered, r.handler(), 0},
          {HookTopic::kChildUnregistered, r.handler(), 0}};
}

HookSubscriberOptions subscriber_options(const Writer& w, const std::string& bus) {
  HookSubscriberOptions o;
  o.hub = w.registry->hub();
  o.bus_endpoint = bus;
  o.replay_endpoint = w.server->replay_endpoint();
  o.request_timeout = milliseconds(1'000);
  return o;
}

std::unique_ptr<HookSubscriber> start_subscriber(zmq::context_t& ctx,
                                                 const HookSubscriberOptions& o,
                                                 std::vector<HookHandlerSpec> handlers) {
  auto s = HookSubscriber::start(ctx, o, std::move(handlers));
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(*s);
}

// The writer's in-process hook stream: the reference every subscriber must match.
struct Reference {
  Recorder recorder;
  HookSubscription registered, unregistered;
  explicit Reference(Registry& r)
      : registered(r.subscribe(HookTopic::kChildRegistered, recorder.handler())),
        unregistered(r.subscribe(HookTopic::kChildUnregistered, recorder.handler())) {}
  std::vector<HookEvent> events(Registry& r) {
    BOOST_REQUIRE(r.wait_for_hooks(r.last_sequence(), kWait).ok());
    return recorder.take();
  }
};

std::vector<HookEvent> only(const std::vector<HookEvent>& in, HookTopic topic) {
  std::vector<HookEvent> out;
  for (const auto& e : in) {
    if (e.topic == topic) out.push_back(e);
  }
  return out;
}

BOOST_AUTO_TEST_SUITE(hook_subscriber)

BOOST_AUTO_TEST_CASE(two_subscribers_see_every_hook_event_once_in_order) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  Reference reference(*w.registry);
  Recorder a, b;
  HookSubscriberOptions o = subscriber_options(w, w.server->publish_endpoint());
  o.from_seq = 0;  // the whole history
  auto sa = start_subscriber(ctx, o, both(a));
  random_workload(*w.registry, 11, 500);  // partly before b exists
  auto sb = start_subscriber(ctx, o, both(b));
  random_workload(*w.registry, 12, 1'500);
  const auto expected = reference.events(*w.registry);
  BOOST_REQUIRE(!expected.empty());
  BOOST_REQUIRE(sa->wait_position(w.registry->last_sequence(), kWait).ok());
  BOOST_REQUIRE(sb->wait_position(w.registry->last_sequence(), kWait).ok());
  BOOST_TEST((a.take() == expected));
  BOOST_TEST((b.take() == expected));
  BOOST_TEST(sa->stats().delivered == expected.size());
}

BOOST_AUTO_TEST_CASE(a_restarted_subscriber_resumes_from_its_stored_position) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  Reference reference(*w.registry);
  Recorder first, second;
  HookSubscriberOptions o = subscriber_options(w, w.server->publish_endpoint());
  o.from_seq = 0;
  auto s = start_subscriber(ctx, o, both(first));
  random_workload(*w.registry, 13, 800);
  BOOST_REQUIRE(s->wait_position(w.registry->last_sequence() / 2, kWait).ok());
  s->stop();  // mid-stream; what it has delivered is exactly what its position says
  const HookPosition stored = s->position();
  s.reset();
  random_workload(*w.registry, 14, 800);  // events while it is down
  o.from_seq = stored.seq;
  o.from_epoch = stored.epoch;
  o.from_partial = stored.partial;
  auto again = start_subscriber(ctx, o, both(second));
  random_workload(*w.registry, 15, 400);
  BOOST_REQUIRE(again->wait_position(w.registry->last_sequence(), kWait).ok());
  std::vector<HookEvent> all = first.take();
  const auto rest = second.take();
  all.insert(all.end(), rest.begin(), rest.end());
  BOOST_TEST((all == reference.events(*w.registry)));
}

BOOST_AUTO_TEST_CASE(a_durable_subscriber_resumes_from_the_position_the_writer_recorded) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 21, 300);  // before the name exists: not delivered
  const std::uint64_t joined = w.registry->last_sequence();
  Reference reference(*w.registry);
  Recorder first, second;
  HookSubscriberOptions o = subscriber_options(w, w.server->publish_endpoint());
  o.durable_name = "billing";
  o.position_interval = milliseconds(50);
  auto s = start_subscriber(ctx, o, both(first));  // a new name: from the head
  random_workload(*w.registry, 22, 600);
  BOOST_REQUIRE(s->wait_position(w.registry->last_sequence(), kWait).ok());
  s->stop();  // reports its final position
  const std::uint64_t stopped_at = s->position().seq;
  BOOST_TEST(w.registry->durable_positions().at("billing") == stopped_at);
  s.reset();
  random_workload(*w.registry, 23, 600);                // while it is down
  auto again = start_subscriber(ctx, o, both(second));  // from the recorded position
  BOOST_REQUIRE(again->wait_position(w.registry->last_sequence(), kWait).ok());
  std::vector<HookEvent> all = first.take();
  const auto rest = second.take();
  all.insert(all.end(), rest.begin(), rest.end());
  BOOST_TEST(!all.empty());
  BOOST_TEST((all == reference.events(*w.registry)));  // every hook event after `joined`, once
  BOOST_TEST(joined > 0u);
  // A bad name is refused before anything starts.
  o.durable_name = "no spaces";
  BOOST_TEST(HookSubscriber::start(ctx, o, both(second)).status().code() == Code::kInvalidArgument);
}

// A writer back on an older copy of its log keeps the epoch but means other events by the seqs
// after the copy. A subscriber past that point cannot tell which hook events changed: it stops
// with an error instead of waiting for those seqs or delivering new events on top, and so does
// one started from the stored position.
BOOST_AUTO_TEST_CASE(a_subscriber_ahead_of_a_writer_back_on_an_older_copy_of_its_log_stops) {
  zmq::context_t ctx;
  TempDir dir, sockets;
  const Transport t = ipc_transport(sockets);  // the same endpoints across restarts
  const std::string log = dir.file("log");
  const std::string copy = dir.file("copy");
  auto w =
      std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  random_workload(*w->registry, 16, 300);
  w.reset();
  std::filesystem::copy(log, copy, std::filesystem::copy_options::recursive);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  const std::uint64_t copied = w->registry->last_sequence();

  Recorder first;
  HookSubscriberOptions o = subscriber_options(*w, w->server->publish_endpoint());
  o.from_seq = 0;
  auto s = start_subscriber(ctx, o, both(first));
  random_workload(*w->registry, 17, 300);
  BOOST_REQUIRE(s->wait_position(w->registry->last_sequence(), kWait).ok());
  const HookPosition stored = s->position();
  BOOST_REQUIRE(stored.seq > copied);
  const std::size_t delivered = first.take().size();
  BOOST_REQUIRE(delivered > 0u);

  w.reset();
  std::filesystem::remove_all(log);
  std::filesystem::rename(copy, log);
  w = std::make_unique<Writer>(Writer::open(ctx, writer_options(log), Writer::server_options(t)));
  BOOST_REQUIRE(w->registry->epoch() == stored.epoch);
  random_workload(*w->registry, 18, 50);
  BOOST_REQUIRE(w->registry->last_sequence() < stored.seq);

  const Status waited = s->wait_position(stored.seq + 1, kWait);
  BOOST_TEST(waited.code() == Code::kCorruption, waited.to_string());
  BOOST_TEST(s->status().code() == Code::kCorruption);
  BOOST_TEST(first.take().size() == delivered);

  Recorder second;
  o.from_seq = stored.seq;
  o.from_epoch = stored.epoch;
  o.from_partial = stored.partial;
  auto again = start_subscriber(ctx, o, both(second));
  const Status refused = again->wait_position(stored.seq + 1, kWait);
  BOOST_TEST(refused.code() == Code::kCorruption, refused.to_string());
  BOOST_TEST(second.take().empty());
}

BOOST_AUTO_TEST_CASE(a_subscriber_on_a_lossy_bus_still_sees_everything_once_in_order) {
  zmq::context_t ctx;
  TempDir dir;
  LossyProxy lossy(ctx, 0.25, 11);
  HubServerOptions so = Writer::server_options(tcp_transport());
  so.publish_endpoint = lossy.frontend();
  so.publish_connect = true;
  Writer w = Writer::open(ctx, writer_options(dir.path()), so);
  Reference reference(*w.registry);
  Recorder r;
  HookSubscriberOptions o = subscriber_options(w, lossy.backend());
  o.from_seq = 0;
  auto s = start_subscriber(ctx, o, both(r));
  // Live before the load (its subscription has crossed the proxy): on a loaded machine a
  // subscriber still catching up could otherwise fetch every event from the replay service,
  // and the loss under test would never reach it.
  const auto live_by = std::chrono::steady_clock::now() + kWait;
  for (int i = 0; i < 1'000 && s->stats().live_messages == 0; ++i) {
    BOOST_REQUIRE(std::chrono::steady_clock::now() < live_by);
    random_workload(*w.registry, 1'000 + i, 5);
    std::this_thread::sleep_for(milliseconds(10));
  }
  BOOST_REQUIRE(s->stats().live_messages > 0u);
  random_workload(*w.registry, 16, 2'000);
  BOOST_REQUIRE(s->wait_position(w.registry->last_sequence(), kWait).ok());
  const auto got = r.take();
  const auto expected = reference.events(*w.registry);
  BOOST_TEST(got.size() == expected.size());
  for (std::size_t i = 0; i < std::min(got.size(), expected.size()); ++i) {
    if (!(got[i] == expected[i])) {
      BOOST_ERROR("first difference at " << i << ": got seq " << got[i].seq << " child "
                                         << got[i].child_id << ", expected seq " << expected[i].seq
                                         << " child " << expected[i].child_id);
      for (std::size_t k = i >= 4 ? i - 4 : 0; k < i + 6 && k < got.size() && k < expected.size();
           ++k) {
        BOOST_TEST_MESSAGE(k << ": got " << got[k].seq << "/" << got[k].child_id << "/"
                             << int(got[k].topic) << "  expected " << expected[k].seq << "/"
                             << expected[k].child_id << "/" << int(expected[k].topic));
      }
      break;
    }
  }
  BOOST_TEST(lossy.dropped() > 0u);
  BOOST_TEST(s->stats().gaps_detected > 0u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_of_one_kind_gets_that_kind_only) {
  zmq::context_t ctx;
  TempDir dir;
  LossyProxy lossy(ctx, 0.1, 5);
  HubServerOptions so = Writer::server_options(tcp_transport());
  so.publish_endpoint = lossy.frontend();
  so.publish_connect = true;
  Writer w = Writer::open(ctx, writer_options(dir.path()), so);
  Reference reference(*w.registry);
  Recorder r;
  HookSubscriberOptions o = subscriber_options(w, lossy.backend());
  o.from_seq = 0;
  auto s = start_subscriber(ctx, o, {{HookTopic::kChildUnregistered, r.handler(), 0}});
  random_workload(*w.registry, 17, 1'500);
  BOOST_REQUIRE(s->wait_position(w.registry->last_sequence(), kWait).ok());
  const auto expected = only(reference.events(*w.registry), HookTopic::kChildUnregistered);
  BOOST_REQUIRE(!expected.empty());
  BOOST_TEST((r.take() == expected));
}

BOOST_AUTO_TEST_CASE(handlers_run_by_priority_and_a_throwing_one_is_counted) {
  zmq::context_t ctx;
  TempDir dir;
  Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(tcp_transport()));
  std::mutex mu;
  std::vector<std::string> order;
  auto note = [&](std::string what) {
    return [&, what](const HookEvent&) {
      std::lock_guard l(mu);
      order.push_back(what);
      if (what == "thrower") throw std::runtime_error("handler failed");
    };
  };
  std::vector<std::string> errors;
  HookSubscriberOptions o = subscriber_options(w, w.server->publish_endpoint());
  o.from_seq = 0;
  auto s = HookSubscriber::start(ctx, o,
                                 {{HookTopic::kChildRegistered, note("low"), -1},
                                  {HookTopic::kChildRegistered, note("thrower"), 5},
                                  {HookTopic::kChildRegistered, note("high"), 10}},
                                 [&](std::string_view error, const HookEvent&) {
                                   std::lock_guard l(mu);
                                   errors.emplace_back(error);
                                 });
  BOOST_REQUIRE(s.ok());
  WriteOptions hooks_on;
  hooks_on.hooks = true;
  InsertOptions io;
  io.hooks = true;
  auto seq = w.registry->insert(make_spec("a"), {{"n1", "<1>"}}, io);
  BOOST_REQUIRE(seq.ok());
  BOOST_REQUIRE((*s)->wait_position(*seq, kWait).ok());
  std::lock_guard l(mu);
  BOOST_TEST((order == std::vector<std::string>{"high", "thrower", "low"}));
  BOOST_TEST((errors == std::vector<std::string>{"handler failed"}));
  BOOST_TEST((*s)->stats().handler_errors == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
