// procreg::plugin internal: a replica's RemoteWriter over the command channel (a DEALER).
//
// Each call sends one Command and waits for the CommandReply with its id, up to the call's
// timeout; replies to abandoned commands are skipped, and after a timeout the socket is
// replaced. A timed-out write may or may not have been committed (docs/PROTOCOL.md).
//
// Thread safety: every method from any thread; calls are serialised on the one socket, and a
// call that cannot get the socket within its timeout fails with kTimeout, nothing sent.
#pragma once

#include <mutex>
#include <string>

#include <zmq.hpp>

#include "plugin/wire.h"
#include "replay/remote_writer.h"
#include "replay/timed_lock.h"

namespace procreg::plugin {

class CommandClient final : public replay::RemoteWriter {
 public:
  CommandClient(zmq::context_t& context, std::string endpoint, std::string hub);

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
  Result<replay::RemoteCommit> node_down(const NodeName& node, const WriteOptions& options) override;

  // Sends `command` (its id and hub are set here) and returns the writer's seq or error.
  Result<replay::RemoteCommit> call(wire::Command command, std::chrono::milliseconds timeout);

 private:
  static wire::Command base(wire::CommandOp op, const WriteOptions& options);
  void reconnect();

  zmq::context_t& context_;
  const std::string endpoint_;
  const std::string hub_;
  replay::TimedLock mu_;  // one command in flight; waiting for it counts against the timeout
  zmq::socket_t socket_;
  std::uint64_t next_id_ = 1;
};

// A RemoteWriter for a replica without a command channel: every write is kUnavailable.
class NoWriter final : public replay::RemoteWriter {
 public:
  Result<replay::RemoteCommit> insert(const ChildSpec&, const NodePids&, const InsertOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> bulk_insert(const std::vector<Entry>&, const WriteOptions&) override {
    return refuse();
  }
  Result<replay::RemoteCommit> erase(const ChildId&, const WriteOptions&) override { return refuse(); }
  Result<replay::RemoteCommit> bulk_delete(const std::vector<std::pair<ChildId, std::vector<NodeName>>>&,
                                    const WriteOptions&) override {
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
