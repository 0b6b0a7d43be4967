#include "plugin/command_service.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "plugin/read_requests.h"
#include "registry/registry_access.h"

namespace procreg::plugin {

namespace {
std::atomic<std::uint64_t> next_wake_id{0};

// Answers up to this size are not counted in the unread bytes: the high-water mark bounds them.
constexpr std::size_t kUncountedReplyBytes = 4096;

// A counted answer, handed to ZeroMQ without a copy. ZeroMQ calls release_reply once it has
// written the bytes to the connection or dropped them (a client gone, a full queue), from
// whichever thread lets go of the message last.
struct CountedReply {
  std::string body;
  std::shared_ptr<std::atomic<std::size_t>> client;
  std::shared_ptr<std::atomic<std::size_t>> total;
};

void release_reply(void* /*data*/, void* hint) {
  auto* r = static_cast<CountedReply*>(hint);
  r->client->fetch_sub(r->body.size());
  r->total->fetch_sub(r->body.size());
  delete r;
}

// Whether the grant of the command's sender allows it (docs/SECURITY.md, "Roles"): reads need
// reader, writes writer-client (and, if its key is limited to tables, the command's table),
// clear_all and node_down admin.
Status authorize(const Grant& grant, const wire::Command& c) {
  Role need = Role::kWriter;
  if (wire::is_read(c.op)) need = Role::kReader;
  if (c.op == wire::CommandOp::kClearAll || c.op == wire::CommandOp::kNodeDown) need = Role::kAdmin;
  if (!grant.allows(need)) {
    return Status::permission_denied(std::string(wire::op_name(c.op)) + " needs the " +
                                     std::string(role_name(need)) +
                                     " role, which this key does not hold");
  }
  if (need == Role::kWriter && !grant.has(Role::kAdmin) && !grant.may_write(c.table)) {
    return Status::permission_denied("this key may not write table '" +
                                     (c.table.empty() ? std::string("default") : c.table) + "'");
  }
  return {};
}
}  // namespace

Result<std::unique_ptr<CommandService>> CommandService::start(
    zmq::context_t& context, Registry& writer, const std::string& endpoint,
    const HubServerOptions& options, ServerCounters& counters,
    std::shared_ptr<ConnectionBudget> budget) {
  std::unique_ptr<CommandService> s(new CommandService(context, writer, counters));
  s->options_ = options;
  s->sink_ = std::make_shared<ReplySink>();
  s->sink_->fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->sink_->fd < 0) {
    return Status::unavailable(std::string("command channel: eventfd: ") +
                               std::generic_category().message(errno));
  }
  s->wake_endpoint_ = "inproc://procreg-commands-" + std::to_string(next_wake_id++);
  auto security =
      EndpointSecurity::make(context, options.curve, kClientRoles, "commands", std::move(budget));
  if (!security.ok()) return security.status();
  s->security_ = std::move(*security);
  try {
    s->router_ = zmq::socket_t(context, zmq::socket_type::router);
    s->router_.set(zmq::sockopt::linger, 0);
    if (Status st = s->security_->apply(s->router_); !st.ok()) return st;
    s->router_.bind(endpoint);
    s->endpoint_ = last_endpoint(s->router_);
    s->wake_pull_ = zmq::socket_t(context, zmq::socket_type::pull);
    s->wake_pull_.set(zmq::sockopt::linger, 0);
    s->wake_pull_.bind(s->wake_endpoint_);
  } catch (const zmq::error_t& e) {
    return Status::unavailable("command channel cannot bind " + endpoint + ": " + e.what());
  }
  const int workers = options.command_threads < 1 ? 1 : options.command_threads;
  for (int i = 0; i < workers; ++i) s->workers_.emplace_back([p = s.get()] { p->run_worker(); });
  s->router_thread_ = std::thread([p = s.get()] { p->run_router(); });
  return s;
}

CommandService::~CommandService() { stop(); }

void CommandService::stop() {
  stop_ = true;  // the ROUTER thread stops taking commands
  if (router_thread_.joinable()) router_thread_.join();
  {
    std::lock_guard l(mu_);
    stopping_ = true;  // workers finish the command they run and refuse the queued ones
  }
  jobs_cv_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  router_.close();
  wake_pull_.close();
  if (sink_) {
    std::lock_guard l(sink_->mu);
    sink_->closed = true;  // a late completion drops its reply
    sink_->replies.clear();
  }
}

CommandService::ReplySink::~ReplySink() {
  if (fd >= 0) ::close(fd);
}

void CommandService::ReplySink::post(std::string identity, wire::CommandReply reply) {
  {
    std::lock_guard l(mu);
    if (closed) return;
    replies.emplace_back(std::move(identity), std::move(reply));
  }
  const std::uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

bool CommandService::submit_write(std::string_view identity, wire::Command& c) {
  WriteOptions o;
  o.hooks = c.hooks;
  o.table = c.table;
  o.timeout = std::chrono::milliseconds(c.timeout_ms);
  WriteBatch batch;
  switch (c.op) {
    case wire::CommandOp::kInsert: {
      InsertOptions io;
      static_cast<WriteOptions&>(io) = o;
      io.metadata = std::move(c.metadata);
      io.ttl_ms = c.ttl_ms;
      batch.insert(std::move(c.spec), std::move(c.node_pids), std::move(io));
      break;
    }
    case wire::CommandOp::kBulkInsert:
      batch.bulk_insert(std::move(c.entries), o);
      break;
    case wire::CommandOp::kErase:
      batch.erase(c.child_id, o);
      break;
    case wire::CommandOp::kBulkDelete:
      batch.bulk_delete(std::move(c.deletes), o);
      break;
    default:
      return false;
  }
  writer_.submit(std::move(batch), [sink = sink_, registry = &writer_, id = c.id,
                                    who = std::string(identity)](WriteResults results) mutable {
    wire::CommandReply reply;
    reply.id = id;
    reply.epoch = registry->epoch();
    if (results.size() == 1 && results[0].ok()) {
      reply.seq = *results[0];
    } else {
      reply.status = results.empty() ? Status::internal("no result") : results[0].status();
    }
    sink->post(std::move(who), std::move(reply));
  });
  return true;
}

void CommandService::count_down(std::string_view identity) {
  auto it = in_flight_.find(std::string(identity));
  if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
}

void CommandService::forward(std::string_view identity, const wire::CommandReply& reply) {
  count_down(identity);
  this->reply(identity, reply);
}

void CommandService::forward_replies() {
  Frames frames;
  for (int i = 0; i < 4096; ++i) {  // replies from the workers, forwarded as they are
    auto got = recv_message(wake_pull_, &frames, RecvLimits{2, 64u << 20}, true);
    if (!got.ok() || !*got) break;
    count_down(view(frames[0]));
    (void)send_message(router_, frames, /*dont_wait=*/true);
  }
  std::uint64_t n = 0;
  (void)!::read(sink_->fd, &n, sizeof n);
  std::deque<std::pair<std::string, wire::CommandReply>> replies;
  {
    std::lock_guard l(sink_->mu);
    replies.swap(sink_->replies);
  }
  for (const auto& [identity, r] : replies) forward(identity, r);
}

void CommandService::reply_error(const zmq::message_t& identity, std::uint64_t id, Status status) {
  wire::CommandReply r;
  r.id = id;
  r.status = std::move(status);  // (never ok: reply() counts it)
  r.epoch = writer_.epoch();
  reply(view(identity), r);
}

void CommandService::reply(std::string_view identity, wire::CommandReply reply) {
  if (!reply.status.ok()) counters_.command_errors.fetch_add(1);
  reply.term = writer_.term();
  reply.incarnation = writer_.incarnation();
  std::string body;
  wire::encode(reply, &body);
  Frames frames;
  frames.emplace_back(identity.data(), identity.size());
  if (body.size() <= kUncountedReplyBytes) {
    frames.emplace_back(body.data(), body.size());
  } else {
    auto& client = unread_[std::string(identity)];
    if (!client) client = std::make_shared<std::atomic<std::size_t>>(0);
    const std::size_t mine = client->load();
    const std::size_t all = unread_total_->load();
    const bool own_full = mine > 0 && mine + body.size() > options_.max_unread_reply_bytes;
    if (own_full || (all > 0 && all + body.size() > options_.max_unread_reply_bytes_total)) {
      return refuse_reply(identity, reply, own_full, own_full ? mine : all);
    }
    client->fetch_add(body.size());
    unread_total_->fetch_add(body.size());
    auto* counted = new CountedReply{std::move(body), client, unread_total_};
    frames.emplace_back(counted->body.data(), counted->body.size(), release_reply, counted);
    forget_idle_clients();
  }
  (void)send_message(router_, frames, /*dont_wait=*/true);
}

void CommandService::refuse_reply(std::string_view identity, const wire::CommandReply& reply,
                                  bool own, std::size_t unread) {
  counters_.replies_refused.fetch_add(1);
  wire::CommandReply r;
  r.id = reply.id;
  r.seq = reply.seq;
  r.epoch = reply.epoch;
  r.status = Status::resource_exhausted(
      own ? std::to_string(unread) +
                " bytes of earlier answers to this client are unread (at most " +
                std::to_string(options_.max_unread_reply_bytes) + "); read them, then ask again"
          : std::to_string(unread) + " bytes of answers to all clients are unread (at most " +
                std::to_string(options_.max_unread_reply_bytes_total) + "); try again");
  this->reply(identity, r);
}

void CommandService::forget_idle_clients() {
  if (unread_.size() < unread_sweep_at_) return;
  for (auto it = unread_.begin(); it != unread_.end();) {
    if (it->second->load() == 0) {
      it = unread_.erase(it);
    } else {
      ++it;
    }
  }
  unread_sweep_at_ = std::max<std::size_t>(1024, 2 * unread_.size());
}

void CommandService::handle_read(std::string_view identity, wire::Command command) {
  if (command.at_least_seq <= writer_.last_sequence()) {
    return reply(identity, execute_read(writer_, command));
  }
  if (waiting_.size() >= kMaxWaitingReads) {
    wire::CommandReply r;
    r.id = command.id;
    r.epoch = writer_.epoch();
    r.status = Status::resource_exhausted(std::to_string(kMaxWaitingReads) +
                                          " reads wait for a seq here already; try again");
    return reply(identity, r);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(command.timeout_ms);
  waiting_.push_back(WaitingRead{std::string(identity), std::move(command), deadline});
}

void CommandService::serve_waiting_reads() {
  const std::uint64_t applied = writer_.last_sequence();
  const auto now = std::chrono::steady_clock::now();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < waiting_.size(); ++i) {
    WaitingRead& w = waiting_[i];
    if (w.command.at_least_seq <= applied) {
      reply(w.identity, execute_read(writer_, w.command));
    } else if (now >= w.deadline) {
      wire::CommandReply r;
      r.id = w.command.id;
      r.seq = applied;
      r.epoch = writer_.epoch();
      r.status = Status::timeout("this node applied seq " + std::to_string(applied) + ", not " +
                                 std::to_string(w.command.at_least_seq) + ", within " +
                                 std::to_string(w.command.timeout_ms) + " ms");
      reply(w.identity, r);
    } else {
      if (kept != i) waiting_[kept] = std::move(w);
      ++kept;
    }
  }
  waiting_.resize(kept);
}

void CommandService::handle(Frames& frames) {
  counters_.commands.fetch_add(1);
  if (frames.size() != 2) {
    counters_.bad_frames.fetch_add(1);
    if (!frames.empty()) {
      reply_error(frames[0], 0,
                  Status::invalid_argument("a command is one frame, got " +
                                           std::to_string(frames.size() - 1)));
    }
    return;
  }
  auto command = wire::decode_command(view(frames[1]));
  if (!command.ok()) {
    counters_.bad_frames.fetch_add(1);
    reply_error(frames[0], wire::read_request_id(view(frames[1])).value_or(0), command.status());
    return;
  }
  if (command->hub != writer_.hub()) {
    reply_error(frames[0], command->id,
                Status::not_found("this command channel serves hub '" + writer_.hub() + "', not '" +
                                  command->hub + "'"));
    return;
  }
  if (Status denied = authorize(security_->grant(frames[1]), *command); !denied.ok()) {
    counters_.permission_denied.fetch_add(1);
    reply_error(frames[0], command->id, std::move(denied));
    return;
  }
  if (wire::is_read(command->op)) return handle_read(view(frames[0]), std::move(*command));
  std::string identity(view(frames[0]));
  const auto known = in_flight_.find(identity);
  if (known != in_flight_.end() && known->second >= kMaxInFlightPerClient) {
    reply_error(frames[0], command->id,
                Status::resource_exhausted(std::to_string(kMaxInFlightPerClient) +
                                           " commands of this client are in flight; not run"));
    return;
  }
  if (!writer_.is_replica() && submit_write(identity, *command)) {
    ++in_flight_[identity];  // (after submit: its completion is forwarded by this thread)
    return;
  }
  {
    std::lock_guard l(mu_);
    if (jobs_.size() < kMaxQueuedCommands) {
      jobs_.push_back(Job{identity, std::move(*command), std::chrono::steady_clock::now()});
      jobs_cv_.notify_one();
      ++in_flight_[identity];
      return;
    }
  }
  reply_error(frames[0], command->id,
              Status::unavailable("the writer has " + std::to_string(kMaxQueuedCommands) +
                                  " commands queued; not run, try again"));
}

void CommandService::run_router() {
  const RecvLimits limits{4, options_.max_request_bytes, /*keep_head=*/true};
  Frames frames;
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                             {wake_pull_.handle(), 0, ZMQ_POLLIN, 0},
                             {nullptr, sink_->fd, ZMQ_POLLIN, 0}};
  while (!stop_.load()) {
    try {
      // While reads wait for a seq, look again every millisecond.
      zmq::poll(items, 3, std::chrono::milliseconds(waiting_.empty() ? 50 : 1));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return;  // the context is closing; a signal is not
    }
    if (!waiting_.empty()) {
      try {
        serve_waiting_reads();
      } catch (const std::exception&) {  // out of memory: the reads wait for the next turn
        counters_.command_errors.fetch_add(1);
      }
    }
    forward_replies();
    for (int i = 0; i < 256; ++i) {
      auto got = recv_message(router_, &frames, limits, /*dont_wait=*/true);
      if (!got.ok()) {
        if (got.status().code() == Code::kUnavailable) return;
        counters_.bad_frames.fetch_add(1);
        if (got.status().code() == Code::kResourceExhausted && !frames.empty()) {
          // Answered at once, with its id when the body's first bytes hold it.
          counters_.commands.fetch_add(1);
          const std::uint64_t id =
              frames.size() >= 2 ? wire::read_request_id(view(frames[1])).value_or(0) : 0;
          reply_error(frames[0], id,
                      Status::resource_exhausted("a request over " +
                                                 std::to_string(options_.max_request_bytes) +
                                                 " bytes (or 1 frame); not run"));
        }
        continue;
      }
      if (!*got) break;
      try {
        handle(frames);
      } catch (const std::exception&) {
        counters_.command_errors.fetch_add(1);
      }
    }
  }
}

void CommandService::run_worker() {
  zmq::socket_t push(context_, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  push.connect(wake_endpoint_);
  for (;;) {
    Job job;
    bool refuse = false;
    {
      std::unique_lock l(mu_);
      jobs_cv_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      refuse = stopping_;
    }
    wire::CommandReply reply;
    reply.id = job.command.id;
    const auto waited = std::chrono::steady_clock::now() - job.queued;
    if (refuse) {
      reply.status = Status::unavailable("the writer's command channel is stopping; not run");
    } else if (waited >= std::chrono::milliseconds(job.command.timeout_ms)) {
      // Its client has given up: running it now would commit a write nobody waits for.
      reply.status = Status::timeout("queued past the command's timeout; not run");
    } else {
      try {
        wire::Command c = std::move(job.command);
        c.timeout_ms -= static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
        reply = execute(writer_, c);
      } catch (const std::exception& e) {
        reply.status = Status::internal(std::string("command failed: ") + e.what());
      }
    }
    if (!reply.status.ok()) counters_.command_errors.fetch_add(1);
    reply.term = writer_.term();
    reply.incarnation = writer_.incarnation();
    std::string body;
    wire::encode(reply, &body);
    Frames frames;
    frames.emplace_back(job.identity.data(), job.identity.size());
    frames.emplace_back(body.data(), body.size());
    (void)send_message(push, frames, /*dont_wait=*/true);  // never block: stop() may be waiting
  }
}

wire::CommandReply CommandService::execute(Registry& writer, const wire::Command& c) {
  WriteOptions o;
  o.hooks = c.hooks;
  o.table = c.table;
  o.timeout = std::chrono::milliseconds(c.timeout_ms);
  Result<std::uint64_t> seq = Status::invalid_argument("unknown command");
  switch (c.op) {
    case wire::CommandOp::kInsert: {
      InsertOptions io;
      static_cast<WriteOptions&>(io) = o;
      io.metadata = c.metadata;
      io.ttl_ms = c.ttl_ms;
      seq = writer.insert(c.spec, c.node_pids, io);
      break;
    }
    case wire::CommandOp::kBulkInsert:
      seq = writer.bulk_insert(c.entries, o);
      break;
    case wire::CommandOp::kErase:
      seq = writer.erase(c.child_id, o);
      break;
    case wire::CommandOp::kBulkDelete:
      seq = writer.bulk_delete(c.deletes, o);
      break;
    case wire::CommandOp::kUpdate:
      seq = replay::RegistryAccess::update_if(writer, c.child_id, c.expect_revision, c.entry, o);
      break;
    case wire::CommandOp::kNodeDown:
      seq = writer.node_down(c.node, o);
      break;
    case wire::CommandOp::kClearAll: {
      auto cleared = writer.clear_all(o);
      seq = cleared.ok() ? Result<std::uint64_t>(writer.last_sequence())
                         : Result<std::uint64_t>(cleared.status());
      break;
    }
    default:  // a read: not run here (plugin/read_requests.h)
      break;
  }
  wire::CommandReply reply;
  reply.id = c.id;
  reply.epoch = writer.epoch();
  if (seq.ok()) {
    reply.seq = *seq;
  } else {
    reply.status = seq.status();
  }
  return reply;
}

}  // namespace procreg::plugin
