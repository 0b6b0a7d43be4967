// procreg: HubServer, a hub's writer on the bus.
//
// Attached to a writer Registry (Registry::open), it
//   - publishes every committed event, after its durability point, on a PUB socket: on the
//     event topic of its table (events committed together share one message, an event batch)
//     and one message per hook event on the hook topics, plus a heartbeat every
//     heartbeat_interval (docs/PROTOCOL.md, "The bus");
//   - serves the replay service on a ROUTER socket: ranges of the log and snapshots of the
//     projection, in bounded chunks ("The replay service");
//   - serves the command channel on a ROUTER socket: writes from replicas, applied with the
//     writer's own semantics and answered once durable ("The command channel").
// The PUB socket binds, or connects to an existing XSUB/XPUB proxy's frontend. Bad requests
// get an error reply when they can be answered, are counted, and never stop an endpoint.
//
// Thread safety: start() and stop() from one thread; stats() and the endpoint accessors from
// any. The Registry and the zmq::context_t must outlive the HubServer.
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

struct HubServerOptions {
  // The PUB socket: bound at this endpoint, or, with publish_connect, connected to it (an
  // XSUB/XPUB proxy's frontend). "tcp://127.0.0.1:*" binds an ephemeral port.
  std::string publish_endpoint = "tcp://127.0.0.1:*";
  bool publish_connect = false;
  // ROUTER endpoints, bound; empty = that service is off.
  std::string replay_endpoint = "tcp://127.0.0.1:*";
  std::string command_endpoint = "tcp://127.0.0.1:*";
  // What heartbeats tell followers of where the replay service and command channel are (keys
  // "rep" and "cmd", docs/PROTOCOL.md "Heartbeats"): a replica or hook subscriber that hears a
  // writer of a newer term moves there (automatic failover). "": the bound endpoint, unless it
  // binds every interface ("*", 0.0.0.0, ::), which tells another host nothing; "none": say
  // nothing.
  std::string advertise_replay;
  std::string advertise_command;
  std::chrono::milliseconds heartbeat_interval{1'000};
  // The PUB socket's send high-water mark, in messages per subscriber. Past it ZeroMQ drops
  // messages for that subscriber; replicas repair the gap from the replay service.
  int publish_hwm = 100'000;
  // Events committed together (a Registry::write batch, a commit group) go out as one event
  // message per run of consecutive events of one table, holding up to this many events and
  // about max_message_bytes (docs/PROTOCOL.md, "Event messages"). 1 sends one message per
  // event (protocol version 1 only), for a bus whose subscribers predate event batches.
  // max_events_per_message: 1 .. 65536; max_message_bytes: at most 15 MiB.
  std::uint32_t max_events_per_message = 256;
  std::size_t max_message_bytes = 1u << 20;
  // Threads that run the commands not submitted to the writer queue (update, clear_all,
  // node_down; each waits for its write's durability point). insert, bulk_insert, erase and
  // bulk_delete are submitted as they arrive (Registry::submit), so every command in flight
  // shares the writer's appends and syncs, whatever this is.
  int command_threads = 4;
  // A snapshot session idle for this long is dropped (its client must start again).
  std::chrono::milliseconds snapshot_idle{30'000};
  // Largest request accepted on the ROUTER endpoints; larger ones are counted and dropped (the
  // command channel answers them resource_exhausted at once, docs/PROTOCOL.md "Limits").
  std::size_t max_request_bytes = 16u << 20;
  // Answer bytes the command channel holds for one client that ZeroMQ has not yet written to
  // its connection (a client that asks and does not read): a read whose answer would pass
  // max_unread_reply_bytes for its client, or max_unread_reply_bytes_total over every client,
  // is answered resource_exhausted instead and counted (replies_refused). A client with
  // nothing unread always gets its answer. Answers of up to 4 KiB are not counted: the
  // socket's high-water mark (1,000 messages per client) bounds those.
  std::size_t max_unread_reply_bytes = 16u << 20;
  std::size_t max_unread_reply_bytes_total = 256u << 20;
  // Connections (tcp and ipc; each holds a file descriptor) all the bound endpoints may hold at
  // once: past it a new connection is refused in its handshake (ZAP status 500, "too many
  // connections"; procreg's clients report resource_exhausted) and counted
  // (connections_over_limit), and the connections already open, the log and the bus go on.
  // 0: the soft RLIMIT_NOFILE less 128 descriptors kept for the log, snapshots and ZeroMQ.
  std::size_t max_connections = 0;
  // CURVE (include/procreg/security.h; docs/SECURITY.md). With keys: every bound endpoint is a
  // CURVE server with these keys, admitting the policy's keys: the PUB and the replay service
  // reader, writer-client and admin keys; the command channel the same, each request checked
  // against its key's role (permission_denied otherwise). With publish_connect the PUB is a
  // CURVE client of curve.bus_key() (the proxy's frontend), which must admit this key as
  // publisher. Empty keys: plaintext.
  CurveOptions curve;
};

struct HubServerStats {
  std::uint64_t events_published = 0;
  std::uint64_t event_messages_published = 0;  // messages carrying them (a batch is one)
  std::uint64_t hook_messages_published = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t bytes_published = 0;
  std::uint64_t publish_dropped = 0;  // messages ZeroMQ would not queue (never for a PUB)
  std::uint64_t replay_requests = 0;
  std::uint64_t replay_errors = 0;  // requests answered with an error
  // Replay replies not sent because their client already had 8 replies queued and unread (a
  // client that asks and does not read), or was gone; it must ask again.
  std::uint64_t replay_replies_dropped = 0;
  std::uint64_t snapshots_served = 0;
  std::uint64_t snapshot_files_served = 0;  // of those, read from a snapshot file (no lock)
  // Snapshot files the service would not serve: damaged, unreadable or not mappable (it then
  // captures the projection instead). Each snapshot request re-reads such a file until a newer
  // one is written.
  std::uint64_t snapshot_files_refused = 0;
  std::uint64_t commands = 0;
  std::uint64_t command_errors = 0;  // commands answered with an error
  // Reads answered resource_exhausted because their client had left too many answer bytes
  // unread (HubServerOptions::max_unread_reply_bytes); also in command_errors.
  std::uint64_t replies_refused = 0;
  std::uint64_t bad_frames = 0;  // malformed or oversized requests on any endpoint
  // With CURVE: requests refused for their key's role (answered permission_denied), and
  // connections ZAP refused (an unknown key, or one without a role the endpoint admits).
  std::uint64_t permission_denied = 0;
  std::uint64_t connections_refused = 0;
  // Connections open at the bound endpoints now, the most allowed (max_connections, resolved),
  // and the connections refused because that many were open.
  std::uint64_t connections_open = 0;
  std::uint64_t max_connections = 0;
  std::uint64_t connections_over_limit = 0;
};

class HubServer {
 public:
  // Binds (or connects) the sockets, attaches to `writer` and starts the threads. Errors:
  // kInvalidArgument (not a writer: a replica or read-only replay), kUnavailable (another
  // HubServer is attached to this writer already: one publisher per writer, so that the
  // chains and heartbeats subscribers rely on have one source; or an
  // endpoint cannot be bound, with ZeroMQ's reason).
  static Result<std::unique_ptr<HubServer>> start(zmq::context_t& context, Registry& writer,
                                                  const HubServerOptions& options = {});
  ~HubServer();  // stop()
  HubServer(const HubServer&) = delete;
  HubServer& operator=(const HubServer&) = delete;

  // The endpoints with ephemeral ports resolved ("" for a service that is off).
  const std::string& publish_endpoint() const;
  const std::string& replay_endpoint() const;
  const std::string& command_endpoint() const;

  HubServerStats stats() const;
  // Detaches from the writer, sends a last heartbeat, stops the threads and closes the
  // sockets. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit HubServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
