#include "plugin/publisher.h"

#include <algorithm>

#include "plugin/wire.h"

namespace procreg::plugin {

Publisher::Publisher(zmq::socket_t socket, std::string hub, ServerCounters& counters)
    : socket_(std::move(socket)), hub_(std::move(hub)), counters_(counters) {}

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

void Publisher::publish(const replay::CommittedEvent& event) noexcept {
  try {
    publish_locked(event);
  } catch (const std::exception&) {
    // Out of memory building a message: the event is committed and applied; subscribers
    // repair it from the replay service (the next heartbeat shows it missing).
    counters_.publish_dropped.fetch_add(1);
  }
}

void Publisher::publish_locked(const replay::CommittedEvent& event) {
  std::lock_guard l(mu_);
  if (!socket_) return;
  auto head = table_heads_.find(event.table);
  const std::uint64_t table_prev = head == table_heads_.end() ? 0 : head->second;
  header_.clear();
  wire::encode(wire::EventHeader{event.seq, event.epoch, table_prev}, &header_);
  const std::string topic = wire::event_topic(hub_, event.table);
  Frames frames;
  frames.emplace_back(topic.data(), topic.size());
  frames.emplace_back(header_.data(), header_.size());
  frames.emplace_back(event.encoded.data(), event.encoded.size());
  send(frames, topic.size() + header_.size() + event.encoded.size());
  counters_.events_published.fetch_add(1);
  if (head == table_heads_.end()) {
    table_heads_.emplace(event.table, event.seq);
  } else {
    head->second = event.seq;
  }

  if (!event.hooks.empty()) {
    const auto count = static_cast<std::uint32_t>(event.hooks.size());
    const std::uint64_t hook_prev = std::max(registered_head_, unregistered_head_);
    bool registered = false;
    bool unregistered = false;
    for (std::uint32_t i = 0; i < count; ++i) {
      const HookEvent& h = event.hooks[i];
      const bool reg = h.topic == HookTopic::kChildRegistered;
      (reg ? registered : unregistered) = true;
      header_.clear();
      wire::encode(wire::HookHeader{event.seq, event.epoch,
                                    reg ? registered_head_ : unregistered_head_, hook_prev, i,
                                    count},
                   &header_);
      payload_.clear();
      wire::encode(wire::HookPayload{h.hub, h.table, h.child_id, h.node_pids}, &payload_);
      const std::string hook_topic = wire::hook_topic(hub_, h.topic, h.child_id);
      Frames hook;
      hook.emplace_back(hook_topic.data(), hook_topic.size());
      hook.emplace_back(header_.data(), header_.size());
      hook.emplace_back(payload_.data(), payload_.size());
      send(hook, hook_topic.size() + header_.size() + payload_.size());
      counters_.hook_messages_published.fetch_add(1);
    }
    if (registered) registered_head_ = event.seq;
    if (unregistered) unregistered_head_ = event.seq;
  }
  seq_ = event.seq;
  epoch_ = event.epoch;
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
  wire::encode(wire::Heartbeat{seq_, epoch_, time_ms, registered_head_, unregistered_head_},
               &header_);
  const std::string topic = wire::heartbeat_topic(hub_);
  Frames frames;
  frames.emplace_back(topic.data(), topic.size());
  frames.emplace_back(header_.data(), header_.size());
  send(frames, topic.size() + header_.size());
  counters_.heartbeats.fetch_add(1);
}

void Publisher::close() {
  std::lock_guard l(mu_);
  try {
    socket_.set(zmq::sockopt::linger, 200);  // let the final heartbeat leave
  } catch (const zmq::error_t&) {  // the context is closing: nothing can leave anyway
  }
  socket_.close();
}

}  // namespace procreg::plugin
