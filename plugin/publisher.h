// procreg::plugin internal: the writer's PUB side (docs/PROTOCOL.md, "The bus").
//
// publish() turns the events committed together into event messages (one per run of
// consecutive events of one table, up to max_events and about max_bytes each; a run ends
// after an event with hook events) and one message per hook event, keeping the chains
// (table_prev, kind_prev, hook_prev) that let subscribers of a sub-topic detect gaps;
// heartbeat() sends the position. The socket is created, configured and bound or connected by
// the caller.
//
// Thread safety: publish() and heartbeat() may be called from any threads; a mutex serialises
// them on the one socket (which also gives ZeroMQ the memory barrier it needs when a socket
// is used from several threads).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "plugin/server_counters.h"
#include "plugin/zmq_util.h"
#include "registry/registry_access.h"

namespace procreg::plugin {

class Publisher {
 public:
  Publisher(zmq::socket_t socket, std::string hub, ServerCounters& counters,
            std::uint32_t max_events = 1, std::size_t max_bytes = 1u << 20);

  // The chain heads at the moment publishing starts (from RegistryAccess::set_commit_listener).
  void start_at(const replay::ChainHeads& heads);
  // The writer's term and incarnation, the first seq the incarnation appends and the
  // incarnation of the record before it, for every message's header. Before start_at().
  void set_history(std::uint64_t term, std::uint64_t incarnation, std::uint64_t start_seq,
                   std::uint64_t prev_incarnation);
  // What heartbeats say of the writer's replay and command endpoints ("": nothing). Before the
  // first heartbeat.
  void set_endpoints(std::string replay, std::string command);
  // Never throw: a message that cannot be built is counted as dropped and repaired by
  // subscribers like any lost message.
  void publish(std::span<const replay::CommittedEvent> events) noexcept;
  void heartbeat(std::int64_t time_ms) noexcept;
  // Unbinds and binds `endpoint` again, closing every subscriber's connection: they reconnect
  // and authenticate anew (after a key was removed from the access policy). Those still
  // admitted repair what they missed meanwhile as after any lost message.
  Status rebind(const std::string& endpoint);
  void close();

 private:
  void send(Frames& frames, std::size_t bytes);
  void publish_locked(std::span<const replay::CommittedEvent> events);
  // One event message holding `run` (consecutive events of one table), then the hook messages
  // of its last event.
  void publish_run(std::span<const replay::CommittedEvent> run);
  void publish_hooks(const replay::CommittedEvent& event);
  // Builds and sends the event message of `run` (may throw std::bad_alloc).
  void send_run(std::span<const replay::CommittedEvent> run, std::uint64_t table_prev);
  void heartbeat_locked(std::int64_t time_ms);

  std::mutex mu_;
  zmq::socket_t socket_;
  const std::string hub_;
  ServerCounters& counters_;
  std::uint64_t seq_ = 0;
  std::uint64_t epoch_ = 0;
  std::uint64_t term_ = 0;
  std::string replay_endpoint_, command_endpoint_;
  std::uint64_t incarnation_ = 0;
  std::uint64_t start_seq_ = 0;
  std::uint64_t prev_incarnation_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> table_heads_;
  std::uint64_t registered_head_ = 0;
  std::uint64_t unregistered_head_ = 0;
  const std::uint32_t max_events_;
  const std::size_t max_bytes_;
  // The event topic of each table published (built once: a table's topic never changes).
  std::map<std::string, std::string, std::less<>> event_topics_;
  Frames frames_;       // the message being sent (its capacity kept)
  std::string header_;  // encode buffers
  std::string payload_;
  std::vector<std::string_view> run_events_;
};

}  // namespace procreg::plugin
