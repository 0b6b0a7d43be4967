// HookSubscriber: one thread owns the SUB socket and the replay client, keeps the position P
// (every hook event of events <= P delivered) and the event in progress (its hook messages
// arrive one by one), and fills any hole from the replay service before delivering past it.
// docs/PROTOCOL.md, "Hook subscribers", describes the same algorithm.
#include "procreg/hook_subscriber.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>

#include "events/codec.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"

namespace procreg {

namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kRetryPause{200};
}  // namespace

struct HookSubscriber::Impl {
  zmq::context_t& context;
  HookSubscriberOptions options;
  std::vector<HookHandlerSpec> handlers;  // sorted by priority, stable
  HookErrorSink on_error;
  bool want_registered = false;
  bool want_unregistered = false;
  events::DecodeLimits limits = events::record_limits(plugin::wire::kMaxChunkBytes);
  std::unique_ptr<plugin::ReplayClient> replay;
  zmq::socket_t sub;

  bool positioned = false;        // P and epoch are known
  bool check_head = false;        // a heartbeat below P: ask the replay service for the head
  std::uint64_t in_progress = 0;  // the event whose hook messages are arriving (0: none)
  std::uint32_t next_index = 0;   // of in_progress
  SteadyClock::time_point last_heard;

  std::atomic<std::uint64_t> epoch{0};
  std::atomic<std::uint64_t> position{0};
  std::atomic<std::uint32_t> partial{0};  // next_index of in_progress == position + 1
  std::atomic<bool> stop{false};
  Status failed;  // under mu: set once, when delivery cannot go on (compacted or shorter history)
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::thread thread;

  std::atomic<std::uint64_t> delivered{0}, live_messages{0}, duplicates_dropped{0},
      gaps_detected{0}, events_fetched{0}, handler_errors{0}, resyncs{0}, bad_frames{0},
      replay_failures{0};

  Impl(zmq::context_t& c, HookSubscriberOptions o) : context(c), options(std::move(o)) {}

  bool wants(HookTopic t) const {
    return t == HookTopic::kChildRegistered ? want_registered : want_unregistered;
  }
  void set_position(std::uint64_t seq) {
    {
      std::lock_guard l(mu);
      position = seq;
    }
    cv.notify_all();
  }
  void deliver(const HookEvent& event);
  bool establish();
  bool catch_up(std::uint64_t to);
  void on_other_epoch();
  void on_hook(const plugin::Frames& frames);
  void on_heartbeat(const plugin::Frames& frames);
  void stop_delivery(Status why);  // sets failed: delivery cannot go on
  bool delivery_stopped() const {
    std::lock_guard l(mu);
    return !failed.ok();
  }
  Status shorter_history(std::uint64_t head) const;
  void run();
  void run_loop();
  std::atomic<std::uint64_t> thread_errors{0};
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
    std::lock_guard l(mu);
    failed = std::move(why);
  }
  cv.notify_all();
}

// The writer's head never goes back within an epoch while its log keeps every event it
// published; a head below this subscriber's position means it came back on a log that lost
// events (a restored copy, or kNone and an OS crash). The hook events after that head may not
// be the ones delivered, and which ones differ cannot be told: stop, and say so.
Status HookSubscriber::Impl::shorter_history(std::uint64_t head) const {
  return Status::corruption(
      "hook subscriber: the writer's log (epoch " + std::to_string(epoch.load()) +
      ") ends at seq " + std::to_string(head) + ", before this subscriber's position " +
      std::to_string(position.load()) +
      ": the writer came back on a log that lost events it had published, so the hook events "
      "after seq " +
      std::to_string(head) +
      " may differ from those delivered; start again from a position the writer holds");
}

// Learns the writer's epoch and head and fixes the starting position.
bool HookSubscriber::Impl::establish() {
  plugin::wire::ReplayRequest probe;
  probe.op = plugin::wire::ReplayOp::kRange;
  probe.from = std::numeric_limits<std::uint64_t>::max();  // past any head: an empty answer
  auto reply = replay->call(probe);
  if (!reply.ok()) {
    replay_failures.fetch_add(1);
    return false;
  }
  const auto& h = reply->header;
  std::uint64_t start = h.head;
  std::uint32_t done = 0;
  if (options.from_seq) {
    start = *options.from_seq;
    done = options.from_partial;
    if (options.from_epoch != 0 && options.from_epoch != h.epoch) {
      resyncs.fetch_add(1);
      start = 0;  // another log: its whole history is new to us
      done = 0;
    }
  }
  epoch = h.epoch;
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
  positioned = true;
  return true;
}

// Delivers from the replay service everything after P up to `to` (0: the head). The first
// event may be the one in progress: its first next_index hook events were delivered already.
bool HookSubscriber::Impl::catch_up(std::uint64_t to) {
  if (delivery_stopped()) return false;
  auto header =
      replay->fetch_range(position.load() + 1, to, epoch.load(), [&](std::string_view bytes) {
        if (stop.load()) return Status::unavailable("hook subscriber stopping");  // between events
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
      });
  if (!header.ok()) {
    replay_failures.fetch_add(1);
    if (header.status().code() == Code::kCompacted) {
      // The hook events after P are gone from the writer's log: delivering anything later
      // would skip them silently. Stop, and say so.
      stop_delivery(Status::compacted("hook subscriber: the hook events after seq " +
                                      std::to_string(position.load()) +
                                      " can no longer be delivered: " + header.status().message()));
      return false;
    }
    if (header.status().code() == Code::kConflict) {
      resyncs.fetch_add(1);  // a new log: deliver its history from the start
      epoch = 0;
      positioned = false;
      options.from_seq = 0;
      options.from_epoch = std::numeric_limits<std::uint64_t>::max();
    }
    return false;
  }
  if (header->head < position.load()) {
    stop_delivery(shorter_history(header->head));
    return false;
  }
  return true;
}

// A message of another epoch than the one followed: the writer began a new log, or the message
// is not the writer's. The replay service says which (a range request past any head answers
// with the writer's epoch): starting over on a log that did not change would deliver its whole
// history again.
void HookSubscriber::Impl::on_other_epoch() {
  plugin::wire::ReplayRequest probe;
  probe.op = plugin::wire::ReplayOp::kRange;
  probe.from = std::numeric_limits<std::uint64_t>::max();
  auto reply = replay->call(probe);
  if (!reply.ok()) {
    replay_failures.fetch_add(1);  // the next message of that epoch asks again
    return;
  }
  if (reply->header.epoch == epoch.load()) {
    bad_frames.fetch_add(1);
    return;
  }
  resyncs.fetch_add(1);  // a new log: catch up on it from its start
  {
    std::lock_guard l(mu);
    epoch = reply->header.epoch;
    position = 0;
    partial = 0;
  }
  cv.notify_all();
  in_progress = 0;
  next_index = 0;
  (void)catch_up(0);
}

void HookSubscriber::Impl::on_hook(const plugin::Frames& frames) {
  live_messages.fetch_add(1);
  if (frames.size() != 3) {
    bad_frames.fetch_add(1);
    return;
  }
  auto header = plugin::wire::decode_hook_header(plugin::view(frames[1]));
  if (!header.ok() || header->count == 0 || header->index >= header->count) {
    bad_frames.fetch_add(1);
    return;
  }
  const auto& h = *header;
  if (h.epoch != epoch.load()) {
    on_other_epoch();
    return;
  }
  const std::uint64_t p = position.load();
  if (h.seq <= p || (h.seq == in_progress && h.index < next_index)) {
    duplicates_dropped.fetch_add(1);
    return;
  }
  // The chain this subscription follows: both kinds, or one.
  const std::uint64_t prev = want_registered && want_unregistered ? h.hook_prev : h.kind_prev;
  const bool continues =
      h.seq == in_progress ? h.index == next_index : in_progress == 0 && prev <= p && h.index == 0;
  if (!continues) {
    gaps_detected.fetch_add(1);
    (void)catch_up(h.seq);  // through this event; later messages of it are duplicates then
    return;
  }
  auto payload = plugin::wire::decode_hook_payload(plugin::view(frames[2]), limits);
  auto topic = plugin::wire::parse_topic(plugin::view(frames[0]));
  // The payload must agree with its topic (the hub, the child), as an event with its header.
  if (!payload.ok() || !topic.ok() || payload->hub != options.hub ||
      payload->child_id != topic->child_id) {
    bad_frames.fetch_add(1);
    gaps_detected.fetch_add(1);
    (void)catch_up(h.seq);
    return;
  }
  HookEvent event{topic->hook,       payload->hub,       payload->table,
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

void HookSubscriber::Impl::on_heartbeat(const plugin::Frames& frames) {
  if (frames.size() != 2) {
    bad_frames.fetch_add(1);
    return;
  }
  auto hb = plugin::wire::decode_heartbeat(plugin::view(frames[1]));
  if (!hb.ok()) {
    bad_frames.fetch_add(1);
    return;
  }
  if (hb->epoch != epoch.load()) {
    on_other_epoch();
    return;
  }
  std::uint64_t head = 0;
  if (want_registered) head = std::max(head, hb->registered_head);
  if (want_unregistered) head = std::max(head, hb->unregistered_head);
  const std::uint64_t p = position.load();
  if (head > p || in_progress != 0) {  // hook events we never saw: fetch them
    gaps_detected.fetch_add(1);
    (void)catch_up(hb->seq);
  } else if (hb->seq > p) {
    set_position(hb->seq);  // nothing of ours in between
  } else if (hb->seq < p) {
    // A heartbeat older than events fetched since, or a writer back on a shorter log: the
    // replay service's head tells them apart (catch_up), once per pass of the receive loop.
    check_head = true;
  }
}

void HookSubscriber::Impl::run() {
  // Nothing may escape the thread (std::terminate): out of memory, or ZeroMQ out of file
  // descriptors when a socket is replaced, ends this pass; the loop starts over after a pause.
  while (!stop.load()) {
    try {
      run_loop();
      return;
    } catch (const std::exception&) {
      thread_errors.fetch_add(1);
      std::unique_lock l(mu);
      cv.wait_for(l, std::chrono::milliseconds(200), [&] { return stop.load(); });
    }
  }
}

void HookSubscriber::Impl::run_loop() {
  plugin::Frames frames;
  const plugin::RecvLimits limits_in{4, plugin::wire::kMaxChunkBytes + (1u << 20)};
  bool behind = true;  // catch up from the replay service before going live
  last_heard = SteadyClock::now();
  while (!stop.load()) {
    {
      std::lock_guard l(mu);
      if (!failed.ok()) return;
    }
    if (!positioned && !establish()) {
      std::unique_lock l(mu);
      cv.wait_for(l, kRetryPause, [&] { return stop.load(); });
      continue;
    }
    if (behind) {
      behind = !catch_up(0);
      if (behind) {
        std::unique_lock l(mu);
        cv.wait_for(l, kRetryPause, [&] { return stop.load(); });
        continue;
      }
    }
    auto ready = plugin::wait_readable(sub, std::chrono::milliseconds(50));
    if (!ready.ok()) return;
    for (int i = 0; i < 4096 && !stop.load(); ++i) {
      auto got = plugin::recv_message(sub, &frames, limits_in, /*dont_wait=*/true);
      if (!got.ok()) {
        if (got.status().code() == Code::kUnavailable) return;
        bad_frames.fetch_add(1);
        continue;
      }
      if (!*got) break;
      if (frames.empty()) continue;
      auto topic = plugin::wire::parse_topic(plugin::view(frames[0]));
      if (!topic.ok() || topic->hub != options.hub) {
        bad_frames.fetch_add(1);
        continue;
      }
      last_heard = SteadyClock::now();
      if (topic->kind == plugin::wire::TopicKind::kHook) {
        on_hook(frames);
      } else if (topic->kind == plugin::wire::TopicKind::kHeartbeat) {
        on_heartbeat(frames);
      }
      if (!positioned || delivery_stopped()) break;
    }
    if (check_head && !delivery_stopped()) {
      check_head = false;
      (void)catch_up(0);
    }
    if (SteadyClock::now() - last_heard > options.idle_check) {
      last_heard = SteadyClock::now();
      behind = true;  // nothing heard: ask the replay service
    }
  }
}

Result<std::unique_ptr<HookSubscriber>> HookSubscriber::start(zmq::context_t& context,
                                                              const HookSubscriberOptions& options,
                                                              std::vector<HookHandlerSpec> handlers,
                                                              HookErrorSink on_error) {
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
  auto impl = std::make_unique<Impl>(context, options);
  std::stable_sort(
      handlers.begin(), handlers.end(),
      [](const HookHandlerSpec& a, const HookHandlerSpec& b) { return a.priority > b.priority; });
  for (const auto& h : handlers) {
    (h.topic == HookTopic::kChildRegistered ? impl->want_registered : impl->want_unregistered) =
        true;
  }
  impl->handlers = std::move(handlers);
  impl->on_error = std::move(on_error);
  try {
    impl->replay =
        std::make_unique<plugin::ReplayClient>(context, options.replay_endpoint, options.hub,
                                               options.request_timeout, options.chunk_events);
    impl->sub = zmq::socket_t(context, zmq::socket_type::sub);
    impl->sub.set(zmq::sockopt::linger, 0);
    impl->sub.set(zmq::sockopt::rcvhwm, options.receive_hwm);
    if (impl->want_registered && impl->want_unregistered) {
      impl->sub.set(zmq::sockopt::subscribe, plugin::wire::hooks_prefix(options.hub));
    } else {
      impl->sub.set(zmq::sockopt::subscribe,
                    plugin::wire::hook_kind_prefix(
                        options.hub, impl->want_registered ? HookTopic::kChildRegistered
                                                           : HookTopic::kChildUnregistered));
    }
    impl->sub.set(zmq::sockopt::subscribe, plugin::wire::heartbeat_topic(options.hub));
    impl->sub.connect(options.bus_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("hook subscriber: cannot connect: ") + e.what());
  }
  impl->thread = std::thread([p = impl.get()] { p->run(); });
  return std::unique_ptr<HookSubscriber>(new HookSubscriber(std::move(impl)));
}

HookSubscriber::HookSubscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HookSubscriber::~HookSubscriber() { stop(); }

void HookSubscriber::stop() {
  {
    std::lock_guard l(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->sub.close();
}

HookPosition HookSubscriber::position() const {
  std::lock_guard l(impl_->mu);  // position and partial change together under mu
  return HookPosition{impl_->epoch.load(), impl_->position.load(), impl_->partial.load()};
}

Status HookSubscriber::wait_position(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->mu);
  if (!impl_->cv.wait_for(l, timeout,
                          [&] { return impl_->position.load() >= seq || !impl_->failed.ok(); })) {
    return Status::timeout("hook subscriber at " + std::to_string(impl_->position.load()) +
                           ", waiting for " + std::to_string(seq));
  }
  if (impl_->position.load() >= seq) return Status();
  return impl_->failed;
}

Status HookSubscriber::status() const {
  std::lock_guard l(impl_->mu);
  return impl_->failed;
}

HookSubscriberStats HookSubscriber::stats() const {
  const Impl& i = *impl_;
  HookSubscriberStats s;
  s.delivered = i.delivered.load();
  s.live_messages = i.live_messages.load();
  s.duplicates_dropped = i.duplicates_dropped.load();
  s.gaps_detected = i.gaps_detected.load();
  s.events_fetched = i.events_fetched.load();
  s.handler_errors = i.handler_errors.load();
  s.resyncs = i.resyncs.load();
  s.bad_frames = i.bad_frames.load();
  s.replay_failures = i.replay_failures.load();
  return s;
}

}  // namespace procreg
