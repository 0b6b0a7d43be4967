#include "plugin/command_client.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "plugin/zap_handler.h"
#include "plugin/zmq_util.h"

namespace procreg::plugin {

namespace {
// How often the I/O thread looks for commands past their deadline, at most.
constexpr std::chrono::milliseconds kExpiryTick{5};
}  // namespace

CommandClient::CommandClient(zmq::context_t& context, std::string endpoint, std::string hub,
                             std::size_t max_in_flight, std::size_t max_reply_bytes,
                             const CurveOptions& curve)
    : context_(context),
      endpoint_(std::move(endpoint)),
      hub_(std::move(hub)),
      max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight),
      max_reply_bytes_(max_reply_bytes),
      reply_limits_(events::record_limits(
          static_cast<std::uint32_t>(std::min<std::size_t>(max_reply_bytes, 0xffffffffu)))) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  try {
    open_socket(curve);  // a malformed endpoint fails here, on the caller's thread
  } catch (...) {
    ::close(wake_fd_);
    throw;
  }
  thread_ = std::thread([this] { run(); });
}

void CommandClient::open_socket(const CurveOptions& curve) {
  socket_ = zmq::socket_t(context_, zmq::socket_type::dealer);
  socket_.set(zmq::sockopt::linger, 0);
  // Every command in flight fits in the queues: the bound is max_in_flight, not ZeroMQ's.
  const int hwm = static_cast<int>(std::min<std::size_t>(max_in_flight_ + 16, 1u << 30));
  socket_.set(zmq::sockopt::sndhwm, hwm);
  socket_.set(zmq::sockopt::rcvhwm, hwm);
  // Commands wait in the outbox, not in ZeroMQ, until a connection is up: when the server
  // refuses it none is queued there, and failing them tells the truth (they were never sent).
  socket_.set(zmq::sockopt::immediate, true);
  if (Status s = secure_client(socket_, curve, curve.server_key); !s.ok()) {
    throw std::invalid_argument(s.message());
  }
  if (Status s = watch_.watch(context_, socket_, endpoint_); !s.ok()) {
    throw std::runtime_error(s.message());
  }
  socket_.connect(endpoint_);
}

std::string CommandClient::endpoint() const {
  std::lock_guard l(mu_);
  return endpoint_;
}

void CommandClient::redirect(std::string endpoint) {
  {
    std::lock_guard l(mu_);
    redirect_ = std::move(endpoint);
  }
  wake();
}

void CommandClient::take_redirect() {
  std::string to;
  {
    std::lock_guard l(mu_);
    to.swap(redirect_);
  }
  if (to.empty() || to == endpoint_) return;
  try {
    socket_.connect(to);  // first: a malformed endpoint leaves the old connection
  } catch (const zmq::error_t&) {
    return;
  }
  try {
    socket_.disconnect(endpoint_);
  } catch (const zmq::error_t&) {
    // not connected any more: nothing to undo
  }
  refusal_.reset();  // a refusal by the old writer says nothing of the new one
  std::lock_guard l(mu_);
  endpoint_ = std::move(to);
}

void CommandClient::refused(const Status& why) {
  std::unordered_map<std::uint64_t, Pending> failed;
  {
    std::lock_guard l(mu_);
    if (pending_.empty()) return;
    failed.swap(pending_);
    outbox_.clear();
  }
  const bool maybe_sent = watch_.ever_connected();
  const Status status =
      maybe_sent ? Status(why.code(), why.message() +
                                          "; a write sent before the connection was lost may "
                                          "or may not have been committed")
                 : why;
  for (auto& [id, p] : failed) finish(p, status);
}

CommandClient::~CommandClient() {
  {
    std::lock_guard l(mu_);
    closing_ = true;
  }
  room_.notify_all();
  wake();
  if (thread_.joinable()) thread_.join();
  ::close(wake_fd_);
}

std::size_t CommandClient::in_flight() const {
  std::lock_guard l(mu_);
  return admitted_;
}

wire::Command CommandClient::command(wire::CommandOp op, const WriteOptions& options) {
  wire::Command c;
  c.op = op;
  c.table = options.table;
  c.hooks = options.hooks;
  const auto ms = options.timeout.count();
  c.timeout_ms = ms <= 0 ? 0u : ms > 0xffffffffLL ? 0xffffffffu : static_cast<std::uint32_t>(ms);
  return c;
}

bool CommandClient::admit(bool wait, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock l(mu_);
  if (wait) {
    room_.wait_until(l, deadline, [&] { return closing_ || admitted_ < max_in_flight_; });
  }
  if (closing_ || admitted_ >= max_in_flight_) return false;
  ++admitted_;
  return true;
}

void CommandClient::wake() {
  const std::uint64_t one = 1;
  // A full counter (never, in practice) or EAGAIN still leaves the thread woken.
  (void)!::write(wake_fd_, &one, sizeof one);
}

void CommandClient::send(wire::Command command, std::chrono::milliseconds timeout,
                         Completion done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!admit(false, deadline)) {
    std::unique_lock l(mu_);
    const bool closing = closing_;
    l.unlock();
    done(closing ? Status::unavailable("the command client is closing; not sent")
                 : Status::resource_exhausted(std::to_string(max_in_flight_) +
                                              " commands are in flight on this client; not sent"));
    return;
  }
  command.id = next_id_.fetch_add(1);
  command.hub = hub_;
  Outgoing out{command.id, {}};
  wire::encode(command, &out.body);
  {
    std::lock_guard l(mu_);
    pending_.emplace(command.id, Pending{deadline, timeout, std::move(done)});
    outbox_.push_back(std::move(out));
  }
  wake();
}

Result<wire::CommandReply> CommandClient::call(wire::Command command,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!admit(true, deadline)) {
    std::lock_guard l(mu_);
    if (closing_) return Status::unavailable("the command client is closing; not sent");
    return Status::timeout("all " + std::to_string(max_in_flight_) +
                           " command slots of this client were busy for " +
                           std::to_string(timeout.count()) + " ms; not sent");
  }
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<wire::CommandReply>> result;
  };
  auto waiter = std::make_shared<Waiter>();
  command.id = next_id_.fetch_add(1);
  command.hub = hub_;
  Outgoing out{command.id, {}};
  wire::encode(command, &out.body);
  {
    std::lock_guard l(mu_);
    pending_.emplace(command.id, Pending{deadline, timeout, [waiter](Result<wire::CommandReply> r) {
                                           std::lock_guard wl(waiter->mu);
                                           waiter->result.emplace(std::move(r));
                                           waiter->cv.notify_one();
                                         }});
    outbox_.push_back(std::move(out));
  }
  wake();
  // The I/O thread completes every command by its deadline (or when closing).
  std::unique_lock wl(waiter->mu);
  waiter->cv.wait(wl, [&] { return waiter->result.has_value(); });
  return std::move(*waiter->result);
}

void CommandClient::finish(const Pending& pending, Result<wire::CommandReply> result) {
  {
    std::lock_guard l(mu_);
    --admitted_;
  }
  room_.notify_one();
  try {
    pending.done(std::move(result));
  } catch (...) {  // a completion's own failure is its own; the client goes on
  }
}

void CommandClient::send_queued() {
  for (;;) {
    Outgoing out;
    {
      std::lock_guard l(mu_);
      if (outbox_.empty()) return;
      out = std::move(outbox_.front());
      outbox_.pop_front();
    }
    Frames frames;
    frames.emplace_back(out.body.data(), out.body.size());
    auto sent = send_message(socket_, frames, /*dont_wait=*/true);
    if (sent.ok() && !*sent) {  // the queue to the peer is full (not connected yet): later
      std::lock_guard l(mu_);
      outbox_.push_front(std::move(out));
      return;
    }
    if (!sent.ok()) {
      Pending p;
      {
        std::lock_guard l(mu_);
        auto it = pending_.find(out.id);
        if (it == pending_.end()) continue;
        p = std::move(it->second);
        pending_.erase(it);
      }
      finish(p, sent.status());
    }
  }
}

void CommandClient::receive_replies() {
  Frames frames;
  for (int i = 0; i < 4096; ++i) {
    auto got = recv_message(socket_, &frames, RecvLimits{1, max_reply_bytes_}, true);
    if (got.ok() && !*got) return;
    if (!got.ok()) {
      if (got.status().code() == Code::kUnavailable) return;
      continue;  // oversized: dropped; its command times out
    }
    auto reply = wire::decode_command_reply(view(frames[0]), reply_limits_);
    if (!reply.ok()) {
      wrong_peer(view(frames[0]), reply.status());
      continue;
    }
    if (reply->term != 0 && reply->term < term_seen_) {
      // A writer of an older term answered: whatever it says is not the hub's. Its command
      // fails; a write's outcome is unknown (the fenced writer may have written it).
      reply->status =
          Status::unavailable("the writer that answered is of term " + std::to_string(reply->term) +
                              ", below term " + std::to_string(term_seen_) +
                              " seen before: a fenced writer; a write's outcome is "
                              "unknown");
      reply->result.clear();
      reply->next.clear();
    }
    term_seen_ = std::max(term_seen_, reply->term);
    Pending p;
    {
      std::lock_guard l(mu_);
      auto it = pending_.find(reply->id);
      if (it == pending_.end()) continue;  // a late reply to a command that timed out
      p = std::move(it->second);
      pending_.erase(it);
    }
    finish(p, std::move(*reply));
  }
}

void CommandClient::wrong_peer(std::string_view bytes, const Status& why) {
  // Not a command reply: the peer is another service (a stats endpoint answers JSON, a replay
  // service its own replies), or broken. The command it answers, when its id can be read, or
  // else every command in flight, fails now rather than at its deadline.
  const bool json = !bytes.empty() && bytes.front() == '{';
  const std::string looks = json ? "JSON, as a stats endpoint answers"
                                 : "something that is not a command reply (" + why.message() + ")";
  std::string endpoint;
  std::vector<Pending> failed;
  {
    std::lock_guard l(mu_);
    endpoint = endpoint_;
    const std::optional<std::uint64_t> id =
        bytes.empty() || json ? std::nullopt : wire::read_request_id(bytes);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (!id || it->first == *id) {
        failed.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  const Status status = Status::corruption(
      "the peer at " + endpoint + " answered with " + looks +
      ": is it the hub's command endpoint (procreg serve --command, or a replica's --serve)? " +
      (json ? "A write sent there was not taken" : "A write's outcome is unknown"));
  for (const Pending& p : failed) finish(p, status);
}

void CommandClient::expire(std::chrono::steady_clock::time_point now) {
  std::vector<Pending> late;
  {
    std::lock_guard l(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        late.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    // A command that never left is dropped from the outbox too (by id, when it is sent).
  }
  for (Pending& p : late) {
    const auto ms = std::to_string(p.timeout.count());
    finish(p, Status::timeout("no reply from " + endpoint_ + " within " + ms +
                              " ms; a write may or may not have been committed"));
  }
}

void CommandClient::run() {
  auto next_expiry = std::chrono::steady_clock::now() + kExpiryTick;
  for (;;) {
    {
      std::lock_guard l(mu_);
      if (closing_) break;
    }
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, wake_fd_, ZMQ_POLLIN, 0},
                               {watch_.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 3, kExpiryTick);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) break;  // the context is closing
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::uint64_t n = 0;
      (void)!::read(wake_fd_, &n, sizeof n);
      take_redirect();
    }
    if (items[2].revents & ZMQ_POLLIN) {
      // ZeroMQ ends a refused connection for good (its session terminates): no retry.
      if (auto why = watch_.drain()) refusal_ = std::move(*why);
    }
    if (refusal_) refused(*refusal_);
    send_queued();
    receive_replies();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_expiry) {
      expire(now);
      next_expiry = now + kExpiryTick;
    }
  }
  std::unordered_map<std::uint64_t, Pending> left;
  {
    std::lock_guard l(mu_);
    left.swap(pending_);
    outbox_.clear();
  }
  for (auto& [id, p] : left) {
    finish(p, Status::unavailable("the command client closed before a reply came; "
                                  "a write may or may not have been committed"));
  }
  socket_.close();
  watch_ = HandshakeWatch();
}

Result<replay::RemoteCommit> CommandClient::write(wire::Command command,
                                                  std::chrono::milliseconds timeout) {
  Result<wire::CommandReply> reply = call(std::move(command), timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  return replay::RemoteCommit{reply->seq, reply->epoch};
}

wire::Command CommandClient::insert_command(ChildSpec spec, NodePids node_pids,
                                            InsertOptions options) {
  wire::Command c = command(wire::CommandOp::kInsert, options);
  c.spec = std::move(spec);
  c.node_pids = std::move(node_pids);
  c.metadata = std::move(options.metadata);
  c.ttl_ms = options.ttl_ms;
  return c;
}

wire::Command CommandClient::bulk_insert_command(std::vector<Entry> children,
                                                 const WriteOptions& options) {
  wire::Command c = command(wire::CommandOp::kBulkInsert, options);
  c.entries = std::move(children);
  return c;
}

wire::Command CommandClient::erase_command(std::string_view child_id, const WriteOptions& options) {
  wire::Command c = command(wire::CommandOp::kErase, options);
  c.child_id = child_id;
  return c;
}

wire::Command CommandClient::bulk_delete_command(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options) {
  wire::Command c = command(wire::CommandOp::kBulkDelete, options);
  c.deletes = std::move(children);
  return c;
}

wire::Command CommandClient::node_down_command(std::string_view node, const WriteOptions& options) {
  wire::Command c = command(wire::CommandOp::kNodeDown, options);
  c.node = node;
  return c;
}

Result<replay::RemoteCommit> CommandClient::insert(const ChildSpec& spec, const NodePids& node_pids,
                                                   const InsertOptions& options) {
  return write(insert_command(spec, node_pids, options), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::bulk_insert(const std::vector<Entry>& children,
                                                        const WriteOptions& options) {
  return write(bulk_insert_command(children, options), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::erase(const ChildId& child_id,
                                                  const WriteOptions& options) {
  return write(erase_command(child_id, options), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::bulk_delete(
    const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children,
    const WriteOptions& options) {
  return write(bulk_delete_command(children, options), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::update_if(const ChildId& child_id,
                                                      std::uint64_t expect_revision,
                                                      const Entry& entry,
                                                      const WriteOptions& options) {
  wire::Command c = command(wire::CommandOp::kUpdate, options);
  c.child_id = child_id;
  c.expect_revision = expect_revision;
  c.entry = entry;
  return write(std::move(c), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::clear_all(const WriteOptions& options) {
  return write(command(wire::CommandOp::kClearAll, options), options.timeout);
}

Result<replay::RemoteCommit> CommandClient::node_down(const NodeName& node,
                                                      const WriteOptions& options) {
  return write(node_down_command(node, options), options.timeout);
}

}  // namespace procreg::plugin
