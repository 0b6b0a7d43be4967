// procreg::plugin internal: a replica's RemoteWriter over the command channel (a DEALER).
//
// Each call sends one Command and waits for the CommandReply with its id, up to the call's
// timeout; replies to abandoned commands are skipped, and after a timeout the socket is
// replaced. A timed-out write may or may not have been committed (docs/PROTOCOL.md).
//
// Calls from several threads run at once, each on a DEALER of its own taken from a pool that
// grows on demand up to `max_in_flight` sockets (so that the writer's command workers can make
// them durable together, one group commit for several). Beyond that, a call waits for a
// socket to come free, within its timeout; one that cannot get a socket in time fails with
// kTimeout, nothing sent.
//
// Thread safety: every method from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "plugin/wire.h"
#include "registry/remote_writer.h"

namespace procreg::plugin {

class CommandClient final : public replay::RemoteWriter {
 public:
  // max_in_flight: the most commands in flight at once (and DEALER sockets), at least 1.
  CommandClient(zmq::context_t& context, std::string endpoint, std::string hub, int max_in_flight);

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

  // Sends `command` (its id and hub are set here) and returns the writer's seq or error.
  Result<replay::RemoteCommit> call(wire::Command command, std::chrono::milliseconds timeout);

  // Sockets created so far (at most max_in_flight), for tests.
  int sockets() const;

 private:
  static wire::Command base(wire::CommandOp op, const WriteOptions& options);
  zmq::socket_t connect();
  // A socket of the pool, or a new one while fewer than max_in_flight exist; waits until
  // `deadline` for one to come free. Empty (no handle) if none did.
  zmq::socket_t take(std::chrono::steady_clock::time_point deadline);
  // Returns a socket taken; with `replace`, a fresh one instead (or none: the pool shrinks).
  void give_back(zmq::socket_t socket, bool replace) noexcept;
  void forget_one();  // a socket counted in created_ is gone

  zmq::context_t& context_;
  const std::string endpoint_;
  const std::string hub_;
  const int max_in_flight_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<zmq::socket_t> idle_;  // guarded by mu_
  int created_ = 0;                  // guarded by mu_
  std::atomic<std::uint64_t> next_id_{1};
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
