// The Registry: a hub's writer (validate -> event -> log append -> durability -> apply ->
// hooks) or a read-only replay, over one Projection. See include/procreg/registry.h.
#include "procreg/registry.h"

#include "events/codec.h"
#include "replay/registry_impl.h"
#include "replay/replay.h"

namespace procreg {

std::int64_t system_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// ---- HookSubscription ------------------------------------------------------------------

HookSubscription::HookSubscription(std::function<void()> unsubscribe)
    : unsubscribe_(std::move(unsubscribe)) {}
HookSubscription::HookSubscription(HookSubscription&& other) noexcept
    : unsubscribe_(std::exchange(other.unsubscribe_, nullptr)) {}
HookSubscription& HookSubscription::operator=(HookSubscription&& other) noexcept {
  if (this != &other) {
    reset();
    unsubscribe_ = std::exchange(other.unsubscribe_, nullptr);
  }
  return *this;
}
HookSubscription::~HookSubscription() { reset(); }
void HookSubscription::reset() {
  if (unsubscribe_) std::exchange(unsubscribe_, nullptr)();
}

Result<std::uint64_t> Registry::Impl::commit(const WriteOptions& o, const Resolver& resolve) {
  if (read_only) return Status::unavailable("registry is a read-only replay");
  std::unique_lock lock(write_slot, std::defer_lock);
  if (!lock.try_lock_for(o.timeout)) {
    return Status::timeout("write slot not free within " + std::to_string(o.timeout.count()) +
                           " ms; nothing written");
  }
  if (!failed.ok()) return failed;
  overlay.prune(applied_seq.load());
  const std::string& table = table_name(o.table);
  const std::int64_t now = clock();
  replay::CommandContext ctx{overlay, table, now, o.hooks, opts.tombstone_ttl_ms,
                             opts.pending_ttl_ms};
  replay::Resolved body = resolve(ctx);
  if (!body.ok()) {
    if (body.status().code() == Code::kInvalidArgument) invalid_calls.fetch_add(1);
    return body.status();
  }
  if (!body->has_value()) {
    writes_without_event.fetch_add(1);
    const std::uint64_t seen = head_seq;
    lock.unlock();
    Status s = wait_applied(seen);
    if (!s.ok()) return s;
    return seen;
  }
  Event event{kEventSchemaVersion, opts.hub, table, head_seq + 1, log->epoch(), now, o.hooks,
              std::move(**body)};
  buffer.clear();
  events::encode(event, &buffer);
  Status s = log->append(event.seq, buffer);
  if (!s.ok()) {
    if (s.code() == Code::kIoError) failed = s;
    return s;
  }
  head_seq = event.seq;
  events_written.fetch_add(1);
  bytes_written.fetch_add(buffer.size());
  const std::uint64_t seq = head_seq;
  // Durable already (no sync, or synced by append): apply before the slot is released, so the
  // next write validates against the projection itself. Otherwise (group commit) the writes
  // validated before this one is applied must see it through the overlay.
  const bool durable_now = log->durable_seq() >= seq;
  if (!durable_now) overlay.record(event);
  {
    std::lock_guard pl(pending_mu);
    std::vector<HookEvent> hook_events = hook_events_of(event);
    pending.push_back(Pending{std::move(event), std::move(hook_events)});
  }
  if (durable_now) {
    apply_durable();
    return seq;
  }
  lock.unlock();
  s = wait_applied(seq);
  if (!s.ok()) return s;
  return seq;
}

Status Registry::Impl::wait_applied(std::uint64_t seq) {
  if (applied_seq.load() >= seq) return Status();
  Status s = log->wait_durable(seq, std::chrono::steady_clock::time_point::max());
  if (!s.ok()) return s;
  apply_durable();
  return Status();
}

void Registry::Impl::apply_durable() {
  std::lock_guard al(apply_mu);
  const std::uint64_t durable = log->durable_seq();
  std::vector<Pending> batch;
  {
    std::lock_guard pl(pending_mu);
    while (!pending.empty() && pending.front().event.seq <= durable) {
      batch.push_back(std::move(pending.front()));
      pending.pop_front();
    }
  }
  if (batch.empty()) return;
  {
    std::unique_lock pl(proj_mu);
    for (auto& p : batch) {
      Status s = proj.apply(std::move(p.event));
      // The writer validated the event against this very state: a refusal is a bug.
      assert(s.ok() && "the writer's own event was refused by its projection");
      (void)s;
    }
  }
  for (auto& p : batch) hooks.publish(p.event.seq, std::move(p.hooks));
  applied_seq.store(proj.last_seq());
}

void Registry::Impl::start_janitor(Registry* self) {
  if (opts.janitor_interval.count() <= 0) return;
  janitor = std::thread([this, self] {
    std::unique_lock lock(janitor_mu);
    while (!janitor_cv.wait_for(lock, opts.janitor_interval, [&] { return janitor_stop; })) {
      lock.unlock();
      (void)self->run_janitor();  // a failure is the log's, and every write reports it
      lock.lock();
    }
  });
}

void Registry::Impl::stop_janitor() {
  {
    std::lock_guard lock(janitor_mu);
    janitor_stop = true;
  }
  janitor_cv.notify_all();
  if (janitor.joinable()) janitor.join();
}

// ---- opening and closing -----------------------------------------------------------------

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Registry::~Registry() {
  impl_->stop_janitor();
  impl_->hooks.stop();
  if (impl_->log) (void)impl_->log->close();  // a close error has nobody left to report to
}

Result<std::unique_ptr<Registry>> Registry::open(RegistryOptions options) {
  if (options.hub.empty()) return Status::invalid_argument("open: hub is empty");
  if (options.log_dir.empty()) return Status::invalid_argument("open: log_dir is empty");
  if (options.tombstone_ttl_ms < 0 || options.pending_ttl_ms < 0) {
    return Status::invalid_argument("open: TTLs must not be negative");
  }
  auto impl = std::make_unique<Impl>(std::move(options), false);
  auto log = replay::Log::open(impl->opts.log_dir, impl->opts.hub, impl->opts.log);
  if (!log.ok()) return log.status();
  impl->log = std::move(*log);
  impl->recovery = impl->log->recovery().to_string();
  auto replayed = replay::replay_log(impl->opts.log_dir, &impl->proj);
  if (!replayed.ok()) return replayed.status();
  if (impl->proj.last_seq() != impl->log->last_seq()) {
    return Status::corruption("replay ended at " + std::to_string(impl->proj.last_seq()) +
                              " but the log holds " + std::to_string(impl->log->last_seq()));
  }
  impl->head_seq = impl->proj.last_seq();
  impl->applied_seq.store(impl->head_seq);
  impl->hooks.start_at(impl->head_seq);
  std::unique_ptr<Registry> registry(new Registry(std::move(impl)));
  registry->impl_->start_janitor(registry.get());
  return registry;
}

Result<std::unique_ptr<Registry>> Registry::open_replay(const ReplayOptions& options) {
  auto reader = replay::LogReader::open(options.log_dir);
  if (!reader.ok()) return reader.status();
  RegistryOptions o;
  o.hub = (*reader)->hub();
  o.log_dir = options.log_dir;
  o.local_node = options.local_node;
  auto impl = std::make_unique<Impl>(std::move(o), true);
  auto replayed = replay::replay_log(options.log_dir, &impl->proj, options.upto_seq);
  if (!replayed.ok()) return replayed.status();
  impl->head_seq = impl->proj.last_seq();
  impl->applied_seq.store(impl->head_seq);
  impl->hooks.start_at(impl->head_seq);
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

// ---- writes ------------------------------------------------------------------------------

Result<std::uint64_t> Registry::insert(ChildSpec spec, NodePids node_pids,
                                       const InsertOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_insert(ctx, std::move(spec), std::move(node_pids), options);
  });
}

Result<std::uint64_t> Registry::bulk_insert(std::vector<Entry> children,
                                            const WriteOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_bulk_insert(ctx, std::move(children));
  });
}

Result<std::uint64_t> Registry::erase(std::string_view child_id, const WriteOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_delete(ctx, child_id);
  });
}

Result<std::uint64_t> Registry::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_bulk_delete(ctx, std::move(children));
  });
}

Result<std::uint64_t> Registry::update(std::string_view child_id, const UpdateFn& fn,
                                       const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // update never fires hooks (B2)
  return impl_->commit(o, [&](const replay::CommandContext& ctx) {
    return replay::resolve_update(ctx, child_id, fn);
  });
}

Result<bool> Registry::clear_all(const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // clear_all fires no hooks (B2)
  auto seq = impl_->commit(o, [&](const replay::CommandContext& ctx) {
    return replay::resolve_clear(ctx);
  });
  if (!seq.ok()) return seq.status();
  return true;
}

}  // namespace procreg
