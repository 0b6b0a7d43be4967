// HookSubscriber: a follower (plugin/follower.h) that keeps the position P (every hook event of
// events <= P delivered) and the event in progress (its hook messages arrive one by one), and
// fills any hole from the replay service before delivering past it.
// docs/PROTOCOL.md, "Hook subscribers", describes the same algorithm.
#include "procreg/hook_subscriber.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>

#include "events/codec.h"
#include "plugin/follower.h"
#include "plugin/wire.h"
#include "plugin/zap_handler.h"
#include "registry/durable_positions.h"

namespace procreg {

namespace {
plugin::FollowerOptions make_follower_options(const HookSubscriberOptions& o, bool registered,
                                              bool unregistered) {
  plugin::FollowerOptions f = plugin::follower_options("hook subscriber", o);
  if (registered && unregistered) {
    f.topics = {plugin::wire::hooks_prefix(o.hub)};
  } else {
    f.topics = {plugin::wire::hook_kind_prefix(
        o.hub, registered ? HookTopic::kChildRegistered : HookTopic::kChildUnregistered)};
  }
  f.live_kind = plugin::wire::TopicKind::kHook;
  f.read_while_behind = false;  // nothing is delivered past a hole: the messages wait
  return f;
}
}  // namespace

// The follower (plugin/follower.h) positions, catches up and reads the bus; this delivers the
// hook events of fetched events (on_fetched()) and of live hook messages (on_live()), and
// stops where it cannot deliver every hook event exactly once.
struct HookSubscriber::Impl final : plugin::FollowerUser {
  HookSubscriberOptions options;
  std::vector<HookHandlerSpec> handlers;  // sorted by priority, stable
  HookErrorSink on_error;
  bool want_registered = false;
  bool want_unregistered = false;
  events::DecodeLimits limits = events::record_limits(plugin::wire::kMaxChunkBytes);

  std::uint64_t in_progress = 0;  // the event whose hook messages are arriving (0: none)
  std::uint32_t next_index = 0;   // of in_progress

  // Shared with other threads; position, partial and the follower's epoch change together
  // under the follower's mu.
  std::atomic<std::uint64_t> position_{0};
  std::atomic<std::uint32_t> partial{0};  // next_index of in_progress == position + 1
  Status failed;  // under mu: set once, when delivery cannot go on (compacted or shorter history)
  std::atomic<std::uint64_t> delivered{0}, live_messages{0}, events_fetched{0}, handler_errors{0};
  std::unique_ptr<plugin::Follower> follower;  // made once the handlers are known

  // A durable subscriber's reports of its position (options.durable_name), on their own thread
  // and replay socket.
  std::thread reporter;
  std::mutex report_mu;
  std::condition_variable report_cv;
  bool report_stop = false;               // under report_mu
  zmq::context_t* zmq_context = nullptr;  // the caller's, for report_position()
  void report_positions(zmq::context_t& context);

  explicit Impl(HookSubscriberOptions o) : options(std::move(o)) {}

  bool wants(HookTopic t) const {
    return t == HookTopic::kChildRegistered ? want_registered : want_unregistered;
  }
  void set_position(std::uint64_t seq) {
    {
      std::lock_guard l(follower->mu);
      position_ = seq;
    }
    follower->cv.notify_all();
  }
  void deliver(const HookEvent& event);
  void stop_delivery(Status why);  // sets failed: delivery cannot go on
  Status shorter_history(std::uint64_t head) const;
  void on_hook(const plugin::wire::ParsedTopic& topic, const plugin::Frames& frames);

  // plugin::FollowerUser
  std::uint64_t position() const override { return position_.load(); }
  bool halted() const override {
    std::lock_guard l(follower->mu);
    return !failed.ok();
  }
  bool sync() override;  // learns the writer's epoch and head and fixes the starting position
  Status on_fetched(std::string_view event) override;
  void on_live(const plugin::wire::ParsedTopic& topic, const plugin::Frames& frames) override {
    on_hook(topic, frames);
  }
  void on_heartbeat(const plugin::wire::Heartbeat& heartbeat) override;
  bool on_new_log(std::uint64_t epoch) override;
  void on_shorter_history(std::uint64_t head) override { stop_delivery(shorter_history(head)); }
  // Hook events already delivered cannot be taken back: stop, and say why.
  void on_diverged(const Status& why) override {
    stop_delivery(Status::conflict("hook subscriber: " + why.message()));
  }
  void on_history_gone(const Status& why) override;
};

void HookSubscriber::Impl::deliver(const HookEvent& event) {
  for (const auto& h : handlers) {
    if (h.topic != event.topic) continue;
    std::string error;
    try {
      h.handler(event);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "exception";
    } catch (...) {
      error = "non-standard exception";
    }
    if (error.empty()) continue;
    handler_errors.fetch_add(1);
    if (on_error) {
      try {
        on_error(error, event);
      } catch (...) {  // a failing sink must not stop delivery
      }
    }
  }
  delivered.fetch_add(1);
}

void HookSubscriber::Impl::stop_delivery(Status why) {
  {
    std::lock_guard l(follower->mu);
    failed = std::move(why);
  }
  follower->cv.notify_all();
}

// The writer's head never goes back within an epoch while its log keeps every event it
// published; a head below this subscriber's position means it came back on a log that lost
// events (a restored copy, or kNone and an OS crash). The hook events after that head may not
// be the ones delivered, and which ones differ cannot be told: stop, and say so.
Status HookSubscriber::Impl::shorter_history(std::uint64_t head) const {
  return Status::corruption(
      "hook subscriber: the writer's log (epoch " + std::to_string(follower->epoch.load()) +
      ") ends at seq " + std::to_string(head) + ", before this subscriber's position " +
      std::to_string(position_.load()) +
      ": the writer came back on a log that lost events it had published, so the hook events "
      "after seq " +
      std::to_string(head) +
      " may differ from those delivered; start again from a position the writer holds");
}

bool HookSubscriber::Impl::sync() {
  auto reply = follower->probe();
  if (!reply.ok()) return false;
  const auto& h = *reply;
  std::uint64_t start = h.head;
  std::uint32_t done = 0;
  if (options.from_seq) {
    start = *options.from_seq;
    done = options.from_partial;
    if (options.from_epoch != 0 && options.from_epoch != h.epoch) {
      follower->counters.resyncs.fetch_add(1);
      start = 0;  // another log: its whole history is new to us
      done = 0;
    }
  }
  follower->epoch = h.epoch;
  set_position(start);
  if (start > h.head) {             // a stored position the writer's log does not reach
    if (options.from_epoch == 0) {  // the position's log is unknown: say both
      stop_delivery(Status::corruption(
          "hook subscriber: the stored position " + std::to_string(start) +
          " is beyond the writer's head " + std::to_string(h.head) + " (epoch " +
          std::to_string(h.epoch) +
          "): it is of another log (give from_epoch), or the writer came back on a log that "
          "lost events it had published; start again from a position the writer holds"));
    } else {
      stop_delivery(shorter_history(h.head));
    }
    return false;
  }
  in_progress = done > 0 ? start + 1 : 0;
  next_index = done;
  partial = done;
  return true;
}

// An event fetched from the replay service. It may be the one in progress: its first
// next_index hook events were delivered already.
Status HookSubscriber::Impl::on_fetched(std::string_view bytes) {
  auto event = events::decode(bytes, limits);
  if (!event.ok()) return event.status();
  events_fetched.fetch_add(1);
  std::uint32_t skip = event->seq == in_progress ? next_index : 0;
  std::uint32_t index = 0;
  for (const HookEvent& h : hook_events_of(*event)) {
    if (index++ < skip || !wants(h.topic)) continue;
    deliver(h);
  }
  if (event->seq >= in_progress) {  // the event in progress is done (or there was none)
    in_progress = 0;
    next_index = 0;
    partial = 0;
  }
  set_position(event->seq);
  return Status();
}

void HookSubscriber::Impl::on_history_gone(const Status& why) {
  if (why.code() != Code::kCompacted) return;
  // The hook events after P are gone from the writer's log: delivering anything later would
  // skip them silently. Stop, and say so.
  stop_delivery(Status::compacted("hook subscriber: the hook events after seq " +
                                  std::to_string(position_.load()) +
                                  " can no longer be delivered: " + why.message()));
}

// A new log: deliver its hook events from its start (epoch known), or from the start of
// whatever log the writer has once positioned again (epoch 0).
bool HookSubscriber::Impl::on_new_log(std::uint64_t epoch) {
  in_progress = 0;
  next_index = 0;
  if (epoch == 0) {
    follower->epoch = 0;
    options.from_seq = 0;
    options.from_epoch = std::numeric_limits<std::uint64_t>::max();
    return false;
  }
  {
    std::lock_guard l(follower->mu);
    follower->epoch = epoch;
    position_ = 0;
    partial = 0;
  }
  follower->cv.notify_all();
  return true;
}

void HookSubscriber::Impl::on_hook(const plugin::wire::ParsedTopic& topic,
                                   const plugin::Frames& frames) {
  auto& counters = follower->counters;
  live_messages.fetch_add(1);
  auto header =
      frames.size() == 3
          ? plugin::wire::decode_hook_header(plugin::view(frames[1]))
          : Result<plugin::wire::HookHeader>(Status::corruption("a hook message is 3 frames"));
  if (!header.ok() || header->count == 0 || header->index >= header->count) {
    counters.bad_frames.fetch_add(1);
    return;
  }
  const auto& h = *header;
  if (!follower->accept_term(h.term)) return;  // a fenced writer's
  if (h.epoch != follower->epoch.load()) {
    follower->on_other_epoch();
    return;
  }
  const std::uint64_t p = position_.load();
  if (h.seq <= p || (h.seq == in_progress && h.index < next_index)) {
    counters.duplicates_dropped.fetch_add(1);
    return;
  }
  // The chain this subscription follows: both kinds, or one.
  const std::uint64_t prev = want_registered && want_unregistered ? h.hook_prev : h.kind_prev;
  const bool continues =
      h.seq == in_progress ? h.index == next_index : in_progress == 0 && prev <= p && h.index == 0;
  auto payload = plugin::wire::decode_hook_payload(plugin::view(frames[2]), limits);
  // The payload must agree with its topic (the hub, the child), as an event with its header.
  const bool agrees =
      payload.ok() && payload->hub == options.hub && payload->child_id == topic.child_id;
  if (!continues || !agrees) {
    if (continues) counters.bad_frames.fetch_add(1);
    counters.gaps_detected.fetch_add(1);
    (void)follower->catch_up(h.seq);  // through this event; later messages of it are duplicates
    return;
  }
  HookEvent event{topic.hook,        payload->hub,       payload->table,
                  payload->child_id, payload->node_pids, h.seq};
  if (h.seq != in_progress) {
    // The chain proved that events p+1 .. seq-1 fire none of our hooks: the position moves up
    // to just before this event, so `partial` always counts hook events of position + 1.
    set_position(h.seq - 1);
    in_progress = h.seq;
  }
  if (wants(event.topic)) deliver(event);
  next_index = h.index + 1;
  if (next_index == h.count) {
    in_progress = 0;
    next_index = 0;
    partial = 0;
    set_position(h.seq);
  } else {
    partial = next_index;
  }
}

void HookSubscriber::Impl::on_heartbeat(const plugin::wire::Heartbeat& heartbeat) {
  std::uint64_t head = 0;
  if (want_registered) head = std::max(head, heartbeat.registered_head);
  if (want_unregistered) head = std::max(head, heartbeat.unregistered_head);
  const std::uint64_t p = position_.load();
  if (head > p || in_progress != 0) {  // hook events we never saw: fetch them
    follower->counters.gaps_detected.fetch_add(1);
    (void)follower->catch_up(heartbeat.seq);
  } else if (heartbeat.seq > p) {
    set_position(heartbeat.seq);  // nothing of ours in between
  }
}

void HookSubscriber::Impl::report_positions(zmq::context_t& context) {
  plugin::ReplayClient client(context, options.replay_endpoint, options.hub,
                              options.request_timeout, 1, options.curve);
  std::uint64_t reported = 0;
  bool last_round = false;
  while (!last_round) {
    {
      std::unique_lock l(report_mu);
      report_cv.wait_for(l, options.position_interval, [&] { return report_stop; });
      last_round = report_stop;
    }
    const std::uint64_t seq = position_.load();
    if (seq == 0 || seq == reported) continue;
    plugin::wire::ReplayRequest request;
    request.op = plugin::wire::ReplayOp::kPosition;
    request.name = options.durable_name;
    request.have = seq;
    if (client.call(request).ok()) reported = seq;  // else the next round tries again
  }
}

// A durable subscriber without from_seq starts after the position the writer recorded for its
// name (at the head for a new name).
Status start_from_recorded(zmq::context_t& context, HookSubscriberOptions* o) {
  plugin::ReplayClient client(context, o->replay_endpoint, o->hub, o->request_timeout, 1, o->curve);
  plugin::wire::ReplayRequest request;
  request.op = plugin::wire::ReplayOp::kPosition;
  request.name = o->durable_name;
  auto reply = client.call(request);
  if (!reply.ok()) {
    return Status(reply.status().code(), "hook subscriber: the position of \"" + o->durable_name +
                                             "\": " + reply.status().message());
  }
  const plugin::wire::ReplayReplyHeader& h = reply->header;
  o->from_seq = h.last != 0 ? h.last : h.head;
  o->from_epoch = h.epoch;
  return Status();
}

Result<std::unique_ptr<HookSubscriber>> HookSubscriber::start(zmq::context_t& context,
                                                              const HookSubscriberOptions& given,
                                                              std::vector<HookHandlerSpec> handlers,
                                                              HookErrorSink on_error) {
  HookSubscriberOptions options = given;
  if (options.hub.empty()) return Status::invalid_argument("hook subscriber: hub is empty");
  if (options.bus_endpoint.empty() || options.replay_endpoint.empty()) {
    return Status::invalid_argument(
        "hook subscriber: bus_endpoint and replay_endpoint are required");
  }
  if (handlers.empty()) return Status::invalid_argument("hook subscriber: no handlers");
  for (const auto& h : handlers) {
    if (!h.handler) return Status::invalid_argument("hook subscriber: an empty handler");
  }
  if (options.chunk_events == 0 || options.chunk_events > plugin::wire::kMaxChunkItems) {
    return Status::invalid_argument("hook subscriber: chunk_events must be 1.." +
                                    std::to_string(plugin::wire::kMaxChunkItems));
  }
  if (Status s = plugin::check_client_curve(options.curve, true, "hook subscriber"); !s.ok()) {
    return s;
  }
  if (!options.durable_name.empty()) {
    if (Status s = replay::check_durable_name(options.durable_name); !s.ok()) return s;
    if (options.position_interval.count() <= 0) {
      return Status::invalid_argument("hook subscriber: position_interval must be positive");
    }
    if (!options.from_seq) {
      if (Status s = start_from_recorded(context, &options); !s.ok()) return s;
    }
  }
  auto impl = std::make_unique<Impl>(options);
  std::stable_sort(
      handlers.begin(), handlers.end(),
      [](const HookHandlerSpec& a, const HookHandlerSpec& b) { return a.priority > b.priority; });
  for (const auto& h : handlers) {
    (h.topic == HookTopic::kChildRegistered ? impl->want_registered : impl->want_unregistered) =
        true;
  }
  impl->handlers = std::move(handlers);
  impl->on_error = std::move(on_error);
  impl->follower = std::make_unique<plugin::Follower>(
      context, *impl,
      make_follower_options(options, impl->want_registered, impl->want_unregistered));
  if (Status s = impl->follower->connect(); !s.ok()) return s;
  impl->follower->start();
  if (!options.durable_name.empty() && options.report_automatically) {
    Impl* raw = impl.get();
    impl->reporter = std::thread([raw, &context] { raw->report_positions(context); });
  }
  impl->zmq_context = &context;
  return std::unique_ptr<HookSubscriber>(new HookSubscriber(std::move(impl)));
}

HookSubscriber::HookSubscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HookSubscriber::~HookSubscriber() { stop(); }

void HookSubscriber::stop() {
  impl_->follower->stop();
  if (impl_->reporter.joinable()) {  // a last report of the final position
    {
      std::lock_guard l(impl_->report_mu);
      impl_->report_stop = true;
    }
    impl_->report_cv.notify_all();
    impl_->reporter.join();
  }
}

Status HookSubscriber::report_position(std::uint64_t seq) {
  const HookSubscriberOptions& o = impl_->options;
  if (o.durable_name.empty()) {
    return Status::invalid_argument("report_position: the subscriber has no durable_name");
  }
  plugin::ReplayClient client(*impl_->zmq_context, o.replay_endpoint, o.hub, o.request_timeout, 1,
                              o.curve);
  plugin::wire::ReplayRequest request;
  request.op = plugin::wire::ReplayOp::kPosition;
  request.name = o.durable_name;
  request.have = seq;
  auto reply = client.call(request);
  return reply.ok() ? Status() : reply.status();
}

HookPosition HookSubscriber::position() const {
  std::lock_guard l(impl_->follower->mu);  // position and partial change together under mu
  return HookPosition{impl_->follower->epoch.load(), impl_->position_.load(),
                      impl_->partial.load()};
}

Status HookSubscriber::wait_position(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  const Impl& i = *impl_;
  std::unique_lock l(i.follower->mu);
  if (!i.follower->cv.wait_for(l, timeout,
                               [&] { return i.position_.load() >= seq || !i.failed.ok(); })) {
    return Status::timeout("hook subscriber at " + std::to_string(i.position_.load()) +
                           ", waiting for " + std::to_string(seq));
  }
  if (i.position_.load() >= seq) return Status();
  return i.failed;
}

Status HookSubscriber::status() const {
  std::lock_guard l(impl_->follower->mu);
  return impl_->failed;
}

HookSubscriberStats HookSubscriber::stats() const {
  const Impl& i = *impl_;
  HookSubscriberStats s;
  i.follower->counters.copy_to(&s);
  s.delivered = i.delivered.load();
  s.live_messages = i.live_messages.load();
  s.events_fetched = i.events_fetched.load();
  s.handler_errors = i.handler_errors.load();
  return s;
}

}  // namespace procreg
