// procreg: Replica, a Registry on another process or machine, kept exact from the bus.
//
// A replica subscribes to its hub's events and heartbeats on the bus, then fetches what it
// lacks from the writer's replay service: a snapshot when it starts empty or the writer began
// a new log (epoch), a range of events to repair a gap. Live events that arrive meanwhile are
// buffered and applied above the fetched state in order; duplicates are dropped. A snapshot is
// loaded into a state built aside while its rows arrive, and replaces the current one at once:
// during a resync, queries see the old state, then the new, never a part. Queries on
// registry() run against the replica's own projection (no network). Writes on registry() go to
// the hub's writer over the command channel and return once this replica has applied them
// (read-your-writes), bounded by the call's timeout (docs/PROTOCOL.md, "Replicas").
//
// Thread safety: registry() and every accessor from any thread; the replica's own thread
// applies events. start() and stop() from one thread. The zmq::context_t must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "procreg/registry.h"
#include "procreg/security.h"
#include "procreg/status.h"

namespace procreg {

struct ReplicaOptions {
  std::string hub;
  std::string local_node;        // for the local_* queries and process_list(kLocal)
  std::string bus_endpoint;      // the writer's PUB, or an XSUB/XPUB proxy's backend
  std::string replay_endpoint;   // the writer's replay service
  std::string command_endpoint;  // the writer's command channel; "" = writes are kUnavailable
  // A replay request unanswered for this long is abandoned and retried (the writer may be
  // down or restarting); the replica keeps serving its current state meanwhile.
  std::chrono::milliseconds request_timeout{2'000};
  std::uint32_t chunk_events = 4'096;  // events or rows per replay reply
  int receive_hwm = 1'000'000;         // the SUB socket's, in messages
  // With no event or heartbeat for this long, the replica asks the replay service for the
  // head itself (a writer that stopped heartbeating, or a bus that lost them).
  std::chrono::milliseconds idle_check{3'000};
  // Writes on registry() from several threads go to the writer at once, pipelined on one
  // DEALER socket, up to this many, so that the writer can make them durable together; more
  // wait for one to finish, within their own timeout. At least 1.
  int max_writes_in_flight = 1024;
  // A command channel for thin clients (docs/PROTOCOL.md, "Reads"), bound here; "" = none.
  // Its reads are answered from this replica's state (so reads scale out across replicas), its
  // writes go through registry() to the hub's writer. "tcp://127.0.0.1:*" binds a free port.
  std::string serve_endpoint;
  int serve_threads = 4;  // threads running the writes it forwards
  // Connections the serve endpoint may hold at once (HubServerOptions::max_connections).
  std::size_t max_connections = 0;
  // CURVE (include/procreg/security.h): the bus socket is a client of curve.bus_key(), the
  // replay and command sockets of curve.server_key (the writer's); a serve endpoint is a CURVE
  // server with curve.keys admitting curve.policy's keys, as a HubServer's command channel.
  CurveOptions curve;
};

struct ReplicaStats {
  std::uint64_t events_applied = 0;  // from the bus and from repairs
  std::uint64_t live_events = 0;     // received on the bus
  std::uint64_t duplicates_dropped = 0;
  std::uint64_t gaps_detected = 0;
  std::uint64_t events_repaired = 0;  // fetched from the replay service to fill gaps
  std::uint64_t snapshots_loaded = 0;
  std::uint64_t resyncs = 0;  // full resynchronisations: a new epoch, or a writer
                              // back on a log shorter than this replica's state
  std::uint64_t heartbeats = 0;
  std::uint64_t bad_frames = 0;       // malformed bus messages or replies, dropped
  std::uint64_t replay_failures = 0;  // replay requests that failed or timed out
  // Messages and replay replies of a term below the highest heard (a fenced writer's), dropped.
  std::uint64_t fenced = 0;
  // Times the writer was found on another history than the one followed (docs/PROTOCOL.md,
  // "Terms and histories").
  std::uint64_t histories_diverged = 0;
  std::uint64_t commands_served = 0;  // requests at the serve endpoint (reads and writes)
  std::uint64_t command_errors = 0;   // of those, answered with an error or malformed
  // Reads refused for their client's unread answers (HubServerOptions::max_unread_reply_bytes).
  std::uint64_t replies_refused = 0;
  // With CURVE, at the serve endpoint: requests refused for their key's role (also counted in
  // command_errors), and connections refused by ZAP.
  std::uint64_t permission_denied = 0;
  std::uint64_t connections_refused = 0;
  // At the serve endpoint: connections open now, and those refused for max_connections.
  std::uint64_t connections_open = 0;
  std::uint64_t connections_over_limit = 0;
};

class Replica {
 public:
  // Connects the sockets and starts the replica's thread; the replica then syncs in the
  // background (caught_up() says when). Errors: kInvalidArgument (missing hub or endpoints),
  // kUnavailable (an endpoint is malformed).
  static Result<std::unique_ptr<Replica>> start(zmq::context_t& context,
                                                const ReplicaOptions& options);
  ~Replica();  // stop()
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // The replica's registry: every query; writes forwarded to the hub's writer.
  Registry& registry();
  const Registry& registry() const;

  // True once the replica holds every event up to the latest sequence the bus announced
  // (event or heartbeat) and has no gap left to repair.
  bool caught_up() const;
  std::uint64_t last_applied() const;  // == registry().last_sequence()
  // The writer's last sequence as far as this replica knows (from events, heartbeats and
  // replay replies); head() - last_applied() is the replica's lag in events.
  std::uint64_t head() const;
  std::uint64_t epoch() const;  // the log the replica follows (0 before the first sync)
  // The serve endpoint as bound (an ephemeral port resolved); "" without one.
  const std::string& serve_endpoint() const;
  // Blocks until the replica applied `seq` (ok), or `timeout` passes (kTimeout).
  Status wait_for(std::uint64_t seq, std::chrono::milliseconds timeout) const;
  // Blocks until caught_up() (ok) or `timeout` passes (kTimeout).
  Status wait_caught_up(std::chrono::milliseconds timeout) const;

  ReplicaStats stats() const;
  void stop();  // idempotent

 private:
  struct Impl;
  explicit Replica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
