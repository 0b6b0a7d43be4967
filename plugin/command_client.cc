#include "plugin/command_client.h"

#include "plugin/zmq_util.h"

namespace procreg::plugin {

CommandClient::CommandClient(zmq::context_t& context, std::string endpoint, std::string hub)
    : context_(context), endpoint_(std::move(endpoint)), hub_(std::move(hub)) {
  reconnect();
}

void CommandClient::reconnect() {
  socket_ = zmq::socket_t(context_, zmq::socket_type::dealer);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.connect(endpoint_);
}

wire::Command CommandClient::base(wire::CommandOp op, const WriteOptions& options) {
  wire::Command c;
  c.op = op;
  c.table = options.table;
  c.hooks = options.hooks;
  const auto ms = options.timeout.count();
  c.timeout_ms = ms <= 0 ? 0u : ms > 0xffffffffLL ? 0xffffffffu : static_cast<std::uint32_t>(ms);
  return c;
}

Result<replay::RemoteCommit> CommandClient::call(wire::Command command,
                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock l(mu_, std::defer_lock);
  if (!l.try_lock_for(timeout)) {
    return Status::timeout("another write of this replica held the command channel for " +
                           std::to_string(timeout.count()) + " ms; not sent");
  }
  command.id = next_id_++;
  command.hub = hub_;
  std::string body;
  wire::encode(command, &body);
  Frames frames;
  frames.emplace_back(body.data(), body.size());
  auto sent = send_message(socket_, frames, /*dont_wait=*/true);
  if (!sent.ok()) return sent.status();
  if (!*sent) {
    reconnect();
    return Status::timeout("the hub's writer at " + endpoint_ + " is not reachable; not sent");
  }
  for (;;) {
    auto got = recv_until(socket_, &frames, RecvLimits{2, 1u << 20}, deadline);
    if (!got.ok() && got.status().code() == Code::kUnavailable) return got.status();
    if (got.ok() && !*got) break;  // the deadline passed
    if (!got.ok() || frames.size() != 1) continue;  // not a reply (oversized): skip it
    auto reply = wire::decode_command_reply(view(frames[0]));
    if (!reply.ok() || reply->id != command.id) continue;  // malformed, or a stale reply
    if (!reply->status.ok()) return reply->status;
    return replay::RemoteCommit{reply->seq, reply->epoch};
  }
  reconnect();
  return Status::timeout("no reply from the hub's writer at " + endpoint_ + " within " +
                         std::to_string(timeout.count()) +
                         " ms; the write may or may not have been committed");
}

Result<replay::RemoteCommit> CommandClient::insert(const ChildSpec& spec, const NodePids& node_pids,
                                            const InsertOptions& options) {
  wire::Command c = base(wire::CommandOp::kInsert, options);
  c.spec = spec;
  c.node_pids = node_pids;
  c.metadata = options.metadata;
  c.ttl_ms = options.ttl_ms;
  return call(std::move(c), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::bulk_insert(const std::vector<Entry>& children,
                                                 const WriteOptions& options) {
  wire::Command c = base(wire::CommandOp::kBulkInsert, options);
  c.entries = children;
  return call(std::move(c), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::erase(const ChildId& child_id, const WriteOptions& options) {
  wire::Command c = base(wire::CommandOp::kErase, options);
  c.child_id = child_id;
  return call(std::move(c), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::bulk_delete(
    const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children,
    const WriteOptions& options) {
  wire::Command c = base(wire::CommandOp::kBulkDelete, options);
  c.deletes = children;
  return call(std::move(c), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::update_if(const ChildId& child_id,
                                               std::uint64_t expect_revision, const Entry& entry,
                                               const WriteOptions& options) {
  wire::Command c = base(wire::CommandOp::kUpdate, options);
  c.child_id = child_id;
  c.expect_revision = expect_revision;
  c.entry = entry;
  return call(std::move(c), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::clear_all(const WriteOptions& options) {
  return call(base(wire::CommandOp::kClearAll, options), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::node_down(const NodeName& node,
                                                     const WriteOptions& options) {
  wire::Command c = base(wire::CommandOp::kNodeDown, options);
  c.node = node;
  return call(std::move(c), options.timeout);
}

}  // namespace procreg::plugin
