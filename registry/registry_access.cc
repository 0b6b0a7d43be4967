// RegistryAccess (registry/registry_access.h) and a replica Registry's writes.
#include "registry/registry_access.h"

#include "registry/registry_impl.h"
#include "state/commands.h"

namespace procreg {

namespace {
std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }
}  // namespace

// ---- a replica's writes ------------------------------------------------------------------

Status Registry::Impl::wait_replicated(std::uint64_t seq, std::uint64_t epoch,
                                       std::chrono::steady_clock::time_point deadline) {
  std::unique_lock l(replicated_mu);
  if (!replicated_cv.wait_until(l, deadline, [&] {
        return (epoch == 0 || replicated_epoch.load() == epoch) && applied_seq.load() >= seq;
      })) {
    return Status::timeout("committed as event " + std::to_string(seq) +
                           ", not yet applied by this replica");
  }
  return Status();
}

Result<std::uint64_t> Registry::Impl::remote_write(
    const WriteOptions& o, const std::function<Result<replay::RemoteCommit>()>& call) {
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  Result<replay::RemoteCommit> commit = call();
  if (!commit.ok()) return commit.status();
  Status s = wait_replicated(commit->seq, commit->epoch, deadline);
  if (!s.ok()) return s;
  return commit->seq;
}

Result<std::uint64_t> Registry::Impl::remote_update(std::string_view child_id, const UpdateFn& fn,
                                                    const WriteOptions& o) {
  using SteadyClock = std::chrono::steady_clock;
  const auto deadline = SteadyClock::now() + o.timeout;
  for (int attempt = 1;; ++attempt) {
    Entry current;
    std::uint64_t revision = 0;
    std::uint64_t seen = 0;
    {
      std::shared_lock lock(proj_mu);
      const replay::Table* t = proj.table(table_name(o.table));
      const replay::StoredRow* row = t == nullptr ? nullptr : t->find(child_id);
      if (row == nullptr || !row->bound()) return Status::not_found("No child found");
      current = row->entry();
      revision = row->seq;
      seen = proj.last_seq();
    }
    Entry next;
    try {
      next = fn(current.spec, current.node_pids, current.metadata);
    } catch (const std::exception& e) {
      return Status::internal(std::string("update function threw: ") + e.what());
    } catch (...) {
      return Status::internal("update function threw a non-standard exception");
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return Status::timeout("update not done within " + ms_text(o.timeout));
    WriteOptions once = o;
    once.timeout = left;
    Result<replay::RemoteCommit> commit =
        remote->update_if(ChildId(child_id), revision, next, once);
    if (commit.ok()) {
      Status s = wait_replicated(commit->seq, commit->epoch, deadline);
      if (!s.ok()) return s;
      return commit->seq;
    }
    if (commit.status().code() != Code::kConflict) return commit.status();
    // The writer's row moved on: wait for this replica to see more, then run fn again.
    Status s = wait_replicated(seen + 1, 0,
                               std::min(deadline, SteadyClock::now() + std::chrono::seconds(1)));
    if (SteadyClock::now() >= deadline) {
      return Status::timeout("update kept conflicting for " + ms_text(o.timeout) + " (" +
                             std::to_string(attempt) + " attempts)");
    }
    (void)s;
  }
}

// ---- RegistryAccess ----------------------------------------------------------------------

namespace replay {

Result<std::uint64_t> RegistryAccess::attach_commit_listener(
    Registry& r, CommitListener listener, const std::function<void(const ChainHeads&)>& start) {
  Registry::Impl& impl = *r.impl_;
  std::lock_guard al(impl.apply_mu);
  if (impl.listener_token != 0) {
    return Status::unavailable("a publisher is attached to this writer already");
  }
  ChainHeads heads;
  {
    std::shared_lock pl(impl.proj_mu);
    heads.seq = impl.proj.last_seq();
    heads.epoch = impl.log ? impl.log->epoch() : impl.proj.epoch();
    impl.proj.for_each_table([&](const std::string& name, const Table& t) {
      if (t.last_seq() != 0) heads.tables.emplace(name, t.last_seq());
    });
    heads.registered = impl.proj.hook_head(HookTopic::kChildRegistered);
    heads.unregistered = impl.proj.hook_head(HookTopic::kChildUnregistered);
  }
  start(heads);
  impl.listener = std::move(listener);
  impl.listener_token = impl.next_listener_token++;
  return impl.listener_token;
}

void RegistryAccess::detach_commit_listener(Registry& r, std::uint64_t token) {
  Registry::Impl& impl = *r.impl_;
  std::lock_guard al(impl.apply_mu);
  if (token == 0 || impl.listener_token != token) return;
  impl.listener = nullptr;
  impl.listener_token = 0;
}

void RegistryAccess::read_projection(const Registry& r,
                                     const std::function<void(const Projection&)>& f) {
  std::shared_lock pl(r.impl_->proj_mu);
  f(r.impl_->proj);
}

const std::string& RegistryAccess::log_dir(const Registry& r) { return r.impl_->opts.log_dir; }

std::uint32_t RegistryAccess::max_record_bytes(const Registry& r) {
  return r.impl_->opts.log.max_record_bytes;
}

Result<std::uint64_t> RegistryAccess::update_if(Registry& r, std::string_view child_id,
                                                std::uint64_t expect_revision, Entry entry,
                                                const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // update never fires hooks (B2)
  return r.impl_->commit(o, [&](const CommandContext& ctx) -> Resolved {
    const StoredRow* cur = ctx.view.find(ctx.table, child_id);
    if (cur == nullptr || !cur->bound()) return Status::not_found("No child found");
    if (cur->seq != expect_revision) {
      return Status::conflict("row '" + std::string(child_id) + "' is at revision " +
                              std::to_string(cur->seq) + ", not " +
                              std::to_string(expect_revision));
    }
    return resolve_update(
        ctx, child_id, [&](const ChildSpec&, const NodePids&, const Metadata&) { return entry; });
  });
}

std::unique_ptr<Registry> RegistryAccess::open_replica(std::string hub, std::string local_node,
                                                       std::shared_ptr<RemoteWriter> writer) {
  RegistryOptions o;
  o.hub = std::move(hub);
  o.local_node = std::move(local_node);
  o.janitor_interval = std::chrono::milliseconds(0);
  auto impl = std::make_unique<Registry::Impl>(std::move(o), false);
  impl->remote = std::move(writer);
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

Status RegistryAccess::apply_replicated(Registry& r, Event&& event) {
  std::size_t applied = 0;
  return apply_replicated(r, std::span<Event>(&event, 1), &applied);
}

Status RegistryAccess::apply_replicated(Registry& r, std::span<Event> events,
                                        std::size_t* applied) {
  Registry::Impl& impl = *r.impl_;
  *applied = 0;
  if (events.empty()) return Status();
  std::vector<std::pair<std::uint64_t, std::vector<HookEvent>>> hooks;
  for (const Event& e : events) {
    std::vector<HookEvent> h = hook_events_of(e);
    if (!h.empty()) hooks.emplace_back(e.seq, std::move(h));
  }
  Status s;
  std::uint64_t last = 0;
  const std::uint64_t epoch = events.front().epoch;
  {
    std::unique_lock pl(impl.proj_mu);
    for (Event& e : events) {
      const std::uint64_t seq = e.seq;
      s = impl.proj.apply(std::move(e));
      if (!s.ok()) break;
      last = seq;
      ++*applied;
    }
  }
  if (*applied == 0) return s;
  // The applied events' hook events in order, then the last seq (if it had none), so that
  // wait_for_hooks returns for every applied seq.
  bool last_published = false;
  for (auto& [seq, h] : hooks) {
    if (seq > last) break;
    impl.hooks.publish(seq, std::move(h));
    last_published = seq == last;
  }
  if (!last_published) impl.hooks.publish(last, {});
  {
    std::lock_guard l(impl.replicated_mu);
    impl.replicated_epoch.store(epoch);
    impl.applied_seq.store(last);
  }
  impl.replicated_cv.notify_all();
  return s;
}

void RegistryAccess::load_snapshot(Registry& r, std::uint64_t epoch, std::uint64_t seq,
                                   const std::function<void(Projection&)>& load) {
  Registry::Impl& impl = *r.impl_;
  {
    std::unique_lock pl(impl.proj_mu);
    impl.proj.reset_to(epoch, seq);
    load(impl.proj);
    // Before readers see the new state: whoever sees its epoch sees its seq too.
    std::lock_guard l(impl.replicated_mu);
    impl.replicated_epoch.store(epoch);
    impl.applied_seq.store(seq);
  }
  impl.hooks.start_at(seq);
  impl.replicated_cv.notify_all();
}

std::unique_ptr<Projection> RegistryAccess::new_projection(const Registry& r) {
  return std::make_unique<Projection>(r.impl_->proj.hub(), r.impl_->proj.local_node());
}

void RegistryAccess::install_snapshot(Registry& r, std::uint64_t epoch, std::uint64_t seq,
                                      Projection& staged) {
  Registry::Impl& impl = *r.impl_;
  {
    std::unique_lock pl(impl.proj_mu);
    impl.proj.swap(staged);
    std::lock_guard l(impl.replicated_mu);
    impl.replicated_epoch.store(epoch);
    impl.applied_seq.store(seq);
  }
  impl.hooks.start_at(seq);
  impl.replicated_cv.notify_all();
}

}  // namespace replay
}  // namespace procreg
