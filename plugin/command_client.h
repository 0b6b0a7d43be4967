// procreg::plugin internal: a client of the command channel (docs/PROTOCOL.md): many commands
// in flight on one DEALER, replies matched by id. A replica's writes use it (as its
// RemoteWriter), and so does procreg::Client.
//
// One I/O thread owns the DEALER: callers encode their command, queue it and wake the thread
// (an eventfd it polls beside the socket); the thread sends, matches each reply to its command
// by id and completes it, and fails every command whose deadline passed with kTimeout (a
// write's outcome is then unknown; a late reply is dropped, since its id is forgotten). The
// commands in flight are bounded by `max_in_flight`: a synchronous call waits for room within
// its timeout; an asynchronous one beyond it completes at once with kResourceExhausted.
//
// A peer that answers with something other than a command reply (another service's port) fails
// the command it answers, or every command in flight when no id can be read, at once with
// kCorruption naming the endpoint.
//
// A server that refuses the connection in its handshake (too many connections, a key without a
// role) fails every command in flight at once with its reason (HandshakeWatch), and every
// later one: ZeroMQ does not connect again after a refusal, so a new client is needed.
//
// Completions run on the I/O thread: they must be short and must not wait for another command
// of the same client. The destructor completes every command still in flight with
// kUnavailable before it returns.
//
// Thread safety: every method from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "plugin/handshake_watch.h"
#include "plugin/wire.h"
#include "procreg/security.h"
#include "registry/remote_writer.h"

namespace procreg::plugin {

class CommandClient final : public replay::RemoteWriter {
 public:
  using Completion = std::function<void(Result<wire::CommandReply>)>;
  // max_in_flight: commands sent and not yet answered (or timed out), at least 1.
  // max_reply_bytes: larger replies are dropped (their command then times out).
  CommandClient(zmq::context_t& context, std::string endpoint, std::string hub,
                std::size_t max_in_flight, std::size_t max_reply_bytes = 64u << 20,
                const CurveOptions& curve = {});  // a client of curve.server_key if enabled
  ~CommandClient() override;
  CommandClient(const CommandClient&) = delete;
  CommandClient& operator=(const CommandClient&) = delete;

  // Sends `command` (its id and hub are set here) and calls `done` with the reply (any status
  // the writer answered, in reply.status) or this client's error: kTimeout (no reply by
  // `timeout`), kResourceExhausted (max_in_flight commands in flight), kUnavailable (closing).
  void send(wire::Command command, std::chrono::milliseconds timeout, Completion done);
  // The same, waiting: for room among the commands in flight and for the reply, both within
  // `timeout`.
  Result<wire::CommandReply> call(wire::Command command, std::chrono::milliseconds timeout);

  // RemoteWriter: each write is one call; a reply's error status is returned as the error.
  Result<replay::RemoteCommit> insert(const ChildSpec& spec, const NodePids& node_pids,
                                      const InsertOptions& options) override;
  Result<replay::RemoteCommit> bulk_insert(const std::vector<Entry>& children,
                                           const WriteOptions& options) override;
  Result<replay::RemoteCommit> erase(const ChildId& child_id, const WriteOptions& options) override;
  Result<replay::RemoteCommit> bulk_delete(
      const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children,
      const WriteOptions& options) override;
  Result<replay::RemoteCommit> update_if(const ChildId& child_id, std::uint64_t expect_revision,
                                         const Entry& entry, const WriteOptions& options) override;
  Result<replay::RemoteCommit> clear_all(const WriteOptions& options) override;
  Result<replay::RemoteCommit> node_down(const NodeName& node,
                                         const WriteOptions& options) override;

  // A command of `op` with the write options' table, hooks and timeout.
  static wire::Command command(wire::CommandOp op, const WriteOptions& options);
  // The command of each write (its id and hub are set when it is sent).
  static wire::Command insert_command(ChildSpec spec, NodePids node_pids, InsertOptions options);
  static wire::Command bulk_insert_command(std::vector<Entry> children,
                                           const WriteOptions& options);
  static wire::Command erase_command(std::string_view child_id, const WriteOptions& options);
  static wire::Command bulk_delete_command(
      std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options);
  static wire::Command node_down_command(std::string_view node, const WriteOptions& options);
  std::string endpoint() const;
  // Sends later commands to `endpoint` instead (a new writer after a failover, as its
  // heartbeats say); those in flight get their replies if the old writer still answers, or
  // time out. A malformed endpoint is ignored. Thread-safe; done on the I/O thread.
  void redirect(std::string endpoint);
  std::size_t in_flight() const;

 private:
  struct Pending {
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds timeout;
    Completion done;
  };
  struct Outgoing {
    std::uint64_t id;
    std::string body;
  };
  // Admits one command (counted in flight) or returns false at max_in_flight; with `wait`,
  // waits until `deadline` for room.
  bool admit(bool wait, std::chrono::steady_clock::time_point deadline);
  void wake();
  // Makes the DEALER (and its handshake watch) and connects it; throws as the constructor.
  void open_socket(const CurveOptions& curve);
  // The server refused the connection: fails every command in flight with `why` (those not
  // sent wait in the outbox, never in ZeroMQ: the socket queues only to a connection that is
  // up, so none of them goes out later). ZeroMQ does not try a refused connection again, so
  // every later command fails so too: a new client tries again.
  void refused(const Status& why);
  void run();
  void send_queued();
  void receive_replies();
  // A reply that is not a command reply: fails its command (or every one in flight) at once.
  void wrong_peer(std::string_view bytes, const Status& why);
  void expire(std::chrono::steady_clock::time_point now);
  void finish(const Pending& pending, Result<wire::CommandReply> result);
  Result<replay::RemoteCommit> write(wire::Command command, std::chrono::milliseconds timeout);

  // On the I/O thread: connects to a redirect() asked for, if any.
  void take_redirect();

  zmq::context_t& context_;
  std::string endpoint_;  // written by the I/O thread under mu_
  const std::string hub_;
  const std::size_t max_in_flight_;
  const std::size_t max_reply_bytes_;
  const events::DecodeLimits reply_limits_;  // a reply's strings and containers: up to its size
  int wake_fd_ = -1;
  zmq::socket_t socket_;           // the I/O thread's
  HandshakeWatch watch_;           // the I/O thread's
  std::optional<Status> refusal_;  // the I/O thread's: the server refused the connection

  mutable std::mutex mu_;
  std::condition_variable room_;
  std::size_t admitted_ = 0;                            // under mu_: in flight or queued
  std::string redirect_;                                // under mu_: redirect() not yet done
  std::deque<Outgoing> outbox_;                         // under mu_
  std::unordered_map<std::uint64_t, Pending> pending_;  // under mu_: by id
  bool closing_ = false;                                // under mu_
  std::atomic<std::uint64_t> next_id_{1};
  // The highest writer term a reply said (docs/PROTOCOL.md, "Terms and histories"); a reply of
  // a lower term is a fenced writer's and is not trusted.
  std::uint64_t term_seen_ = 0;  // on the receiving thread
  std::thread thread_;
};

// A RemoteWriter for a replica without a command channel: every write is kUnavailable.
class NoWriter final : public replay::RemoteWriter {
 public:
  Result<replay::RemoteCommit> insert(const ChildSpec&, const NodePids&,
                                      const InsertOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> bulk_insert(const std::vector<Entry>&,
                                           const WriteOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> erase(const ChildId&, const WriteOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> bulk_delete(
      const std::vector<std::pair<ChildId, std::vector<NodeName>>>&, const WriteOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> update_if(const ChildId&, std::uint64_t, const Entry&,
                                         const WriteOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> clear_all(const WriteOptions&) override { return refuse(); }
  Result<replay::RemoteCommit> node_down(const NodeName&, const WriteOptions&) override {
    return refuse();
  }

 private:
  static Status refuse() {
    return Status::unavailable("this replica has no command channel: it is read-only");
  }
};

}  // namespace procreg::plugin
