#include "plugin/command_client.h"

#include "plugin/zmq_util.h"

namespace procreg::plugin {

CommandClient::CommandClient(zmq::context_t& context, std::string endpoint, std::string hub,
                             int max_in_flight)
    : context_(context),
      endpoint_(std::move(endpoint)),
      hub_(std::move(hub)),
      max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight) {
  idle_.reserve(static_cast<std::size_t>(max_in_flight_));  // give_back() never allocates
  // One socket at once: a malformed endpoint fails here, when the replica starts.
  idle_.push_back(connect());
  created_ = 1;
}

zmq::socket_t CommandClient::connect() {
  zmq::socket_t socket(context_, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint_);
  return socket;
}

int CommandClient::sockets() const {
  std::lock_guard l(mu_);
  return created_;
}

zmq::socket_t CommandClient::take(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock l(mu_);
  freed_.wait_until(l, deadline, [&] { return !idle_.empty() || created_ < max_in_flight_; });
  if (!idle_.empty()) {
    zmq::socket_t socket = std::move(idle_.back());
    idle_.pop_back();
    return socket;
  }
  if (created_ >= max_in_flight_) return zmq::socket_t();
  ++created_;  // counted before connecting, outside the lock
  l.unlock();
  try {
    return connect();
  } catch (...) {
    forget_one();
    throw;
  }
}

void CommandClient::forget_one() {
  {
    std::lock_guard l(mu_);
    --created_;
  }
  freed_.notify_one();
}

void CommandClient::give_back(zmq::socket_t socket, bool replace) noexcept {
  if (replace) {
    try {
      socket = connect();
    } catch (...) {  // (out of memory or a closing context: the pool shrinks by one)
      forget_one();
      return;
    }
  }
  {
    std::lock_guard l(mu_);
    idle_.push_back(std::move(socket));  // (capacity reserved: no allocation)
  }
  freed_.notify_one();
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
  zmq::socket_t socket = take(deadline);
  if (!socket) {
    return Status::timeout("all " + std::to_string(max_in_flight_) +
                           " command sockets of this replica were busy for " +
                           std::to_string(timeout.count()) + " ms; not sent");
  }
  // The socket goes back to the pool on every return: replaced by a fresh one after a send
  // that could not leave or a reply that never came (nothing of that command can arrive on
  // the new socket), as it is otherwise.
  struct GiveBack {
    CommandClient* client;
    zmq::socket_t* socket;
    bool replace = false;
    ~GiveBack() { client->give_back(std::move(*socket), replace); }
  } give_back{this, &socket};
  command.id = next_id_.fetch_add(1);
  command.hub = hub_;
  std::string body;
  wire::encode(command, &body);
  Frames frames;
  frames.emplace_back(body.data(), body.size());
  auto sent = send_message(socket, frames, /*dont_wait=*/true);
  if (!sent.ok()) return sent.status();
  if (!*sent) {
    give_back.replace = true;
    return Status::timeout("the hub's writer at " + endpoint_ + " is not reachable; not sent");
  }
  for (;;) {
    auto got = recv_until(socket, &frames, RecvLimits{2, 1u << 20}, deadline);
    if (!got.ok() && got.status().code() == Code::kUnavailable) return got.status();
    if (got.ok() && !*got) break;                   // the deadline passed
    if (!got.ok() || frames.size() != 1) continue;  // not a reply (oversized): skip it
    auto reply = wire::decode_command_reply(view(frames[0]));
    if (!reply.ok() || reply->id != command.id) continue;  // malformed, or a stale reply
    if (!reply->status.ok()) return reply->status;
    return replay::RemoteCommit{reply->seq, reply->epoch};
  }
  give_back.replace = true;
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

Result<replay::RemoteCommit> CommandClient::erase(const ChildId& child_id,
                                                  const WriteOptions& options) {
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
                                                      std::uint64_t expect_revision,
                                                      const Entry& entry,
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
