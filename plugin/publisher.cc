#include "plugin/publisher.h"

#include <algorithm>

#include "plugin/wire.h"

namespace procreg::plugin {

Publisher::Publisher(zmq::socket_t socket, std::string hub, ServerCounters& counters,
                     std::uint32_t max_events, std::size_t max_bytes)
    : socket_(std::move(socket)),
      hub_(std::move(hub)),
      counters_(counters),
      max_events_(std::max<std::uint32_t>(1, std::min(max_events, wire::kMaxBatchEvents))),
      max_bytes_(max_bytes) {}

void Publisher::start_at(const replay::ChainHeads& heads) {
  std::lock_guard l(mu_);
  seq_ = heads.seq;
  epoch_ = heads.epoch;
  table_heads_ = heads.tables;
  registered_head_ = heads.registered;
  unregistered_head_ = heads.unregistered;
}

void Publisher::send(Frames& frames, std::size_t bytes) {
  auto sent = send_message(socket_, frames, /*dont_wait=*/true);
  if (sent.ok() && *sent) {
    counters_.bytes_published.fetch_add(bytes);
  } else {
    counters_.publish_dropped.fetch_add(1);
  }
}

void Publisher::publish(std::span<const replay::CommittedEvent> events) noexcept {
  try {
    publish_locked(events);
  } catch (const std::exception&) {
    // Out of memory building a message: the events are committed and applied; subscribers
    // repair them from the replay service (the next heartbeat shows them missing).
    counters_.publish_dropped.fetch_add(1);
  }
}

void Publisher::publish_locked(std::span<const replay::CommittedEvent> events) {
  std::lock_guard l(mu_);
  if (!socket_) return;
  // Runs of consecutive events of one table, cut by the bounds and after an event with hook
  // events (its hook messages follow its event message, before any later event's).
  std::size_t begin = 0;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const replay::CommittedEvent& e = events[i];
    const bool cut = i > begin && (e.table != events[begin].table || i - begin >= max_events_ ||
                                   bytes + e.encoded.size() > max_bytes_);
    if (cut) {
      publish_run(events.subspan(begin, i - begin));
      begin = i;
      bytes = 0;
    }
    bytes += e.encoded.size();
    if (!e.hooks.empty()) {
      publish_run(events.subspan(begin, i + 1 - begin));
      begin = i + 1;
      bytes = 0;
    }
  }
  if (begin < events.size()) publish_run(events.subspan(begin));
}

void Publisher::publish_run(std::span<const replay::CommittedEvent> run) {
  const replay::CommittedEvent& first = run.front();
  const replay::CommittedEvent& last = run.back();
  // A run whose message cannot be built (out of memory) is dropped alone and counted. The
  // chains move first, so that the next message shows subscribers the loss (a `prev` above
  // their position) and they repair it.
  try {
    auto head = table_heads_.find(first.table);
    const std::uint64_t table_prev = head == table_heads_.end() ? 0 : head->second;
    if (head == table_heads_.end()) {
      table_heads_.emplace(first.table, last.seq);
    } else {
      head->second = last.seq;
    }
    seq_ = last.seq;
    epoch_ = last.epoch;
    send_run(run, table_prev);
  } catch (const std::exception&) {
    counters_.publish_dropped.fetch_add(1);
  }
  if (!last.hooks.empty()) publish_hooks(last);
}

void Publisher::set_endpoints(std::string replay, std::string command) {
  std::lock_guard l(mu_);
  replay_endpoint_ = std::move(replay);
  command_endpoint_ = std::move(command);
}

void Publisher::set_history(std::uint64_t term, std::uint64_t incarnation, std::uint64_t start_seq,
                            std::uint64_t prev_incarnation) {
  std::lock_guard l(mu_);
  term_ = term;
  incarnation_ = incarnation;
  start_seq_ = start_seq;
  prev_incarnation_ = prev_incarnation;
}

void Publisher::send_run(std::span<const replay::CommittedEvent> run, std::uint64_t table_prev) {
  const replay::CommittedEvent& first = run.front();
  const auto count = static_cast<std::uint32_t>(run.size());
  header_.clear();
  wire::EventHeader h{first.seq, first.epoch, table_prev, count};
  h.term = term_;
  h.incarnation = incarnation_;
  h.prev_incarnation = first.seq == start_seq_ ? prev_incarnation_ : incarnation_;
  wire::encode(h, &header_);
  auto topic = event_topics_.find(first.table);
  if (topic == event_topics_.end()) {
    topic = event_topics_.emplace(first.table, wire::event_topic(hub_, first.table)).first;
  }
  Frames& frames = frames_;
  frames.clear();
  frames.emplace_back(topic->second.data(), topic->second.size());
  frames.emplace_back(header_.data(), header_.size());
  if (count == 1) {
    frames.emplace_back(first.encoded.data(), first.encoded.size());
  } else {
    run_events_.clear();
    for (const replay::CommittedEvent& e : run) run_events_.push_back(e.encoded);
    payload_.clear();
    wire::encode_event_batch(run_events_, &payload_);
    frames.emplace_back(payload_.data(), payload_.size());
  }
  send(frames, topic->second.size() + header_.size() + frames.back().size());
  counters_.events_published.fetch_add(count);
  counters_.event_messages_published.fetch_add(1);
}

void Publisher::publish_hooks(const replay::CommittedEvent& event) {
  const auto count = static_cast<std::uint32_t>(event.hooks.size());
  // The chains move first, as for event messages: a message that cannot be built is a loss
  // the next one shows.
  const std::uint64_t hook_prev = std::max(registered_head_, unregistered_head_);
  const std::uint64_t registered_prev = registered_head_;
  const std::uint64_t unregistered_prev = unregistered_head_;
  for (const HookEvent& h : event.hooks) {
    (h.topic == HookTopic::kChildRegistered ? registered_head_ : unregistered_head_) = event.seq;
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    try {
      const HookEvent& h = event.hooks[i];
      const bool reg = h.topic == HookTopic::kChildRegistered;
      header_.clear();
      wire::HookHeader hh{event.seq, event.epoch, reg ? registered_prev : unregistered_prev,
                          hook_prev, i,           count};
      hh.term = term_;
      hh.incarnation = incarnation_;
      wire::encode(hh, &header_);
      payload_.clear();
      wire::encode(wire::HookPayload{h.hub, h.table, h.child_id, h.node_pids}, &payload_);
      const std::string hook_topic = wire::hook_topic(hub_, h.topic, h.child_id);
      Frames hook;
      hook.emplace_back(hook_topic.data(), hook_topic.size());
      hook.emplace_back(header_.data(), header_.size());
      hook.emplace_back(payload_.data(), payload_.size());
      send(hook, hook_topic.size() + header_.size() + payload_.size());
      counters_.hook_messages_published.fetch_add(1);
    } catch (const std::exception&) {
      counters_.publish_dropped.fetch_add(1);
    }
  }
}

void Publisher::heartbeat(std::int64_t time_ms) noexcept {
  try {
    heartbeat_locked(time_ms);
  } catch (const std::exception&) {
    counters_.publish_dropped.fetch_add(1);
  }
}

void Publisher::heartbeat_locked(std::int64_t time_ms) {
  std::lock_guard l(mu_);
  if (!socket_) return;
  header_.clear();
  wire::Heartbeat hb{seq_, epoch_, time_ms, registered_head_, unregistered_head_};
  hb.term = term_;
  hb.incarnation = incarnation_;
  hb.start_seq = start_seq_;
  hb.replay_endpoint = replay_endpoint_;
  hb.command_endpoint = command_endpoint_;
  wire::encode(hb, &header_);
  const std::string topic = wire::heartbeat_topic(hub_);
  Frames frames;
  frames.emplace_back(topic.data(), topic.size());
  frames.emplace_back(header_.data(), header_.size());
  send(frames, topic.size() + header_.size());
  counters_.heartbeats.fetch_add(1);
}

Status Publisher::rebind(const std::string& endpoint) {
  std::lock_guard l(mu_);
  try {
    socket_.unbind(endpoint);
    socket_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable("cannot rebind the publisher at " + endpoint + ": " + e.what());
  }
  return {};
}

void Publisher::close() {
  std::lock_guard l(mu_);
  try {
    socket_.set(zmq::sockopt::linger, 200);  // let the final heartbeat leave
  } catch (const zmq::error_t&) {            // the context is closing: nothing can leave anyway
  }
  socket_.close();
}

}  // namespace procreg::plugin
