// RegistryAccess (registry/registry_access.h).
#include "registry/registry_access.h"

#include "registry/registry_impl.h"
#include "registry/replica_writer.h"
#include "state/commands.h"

namespace procreg::replay {

// ---- RegistryAccess ----------------------------------------------------------------------

Result<std::uint64_t> RegistryAccess::attach_commit_listener(
    Registry& r, CommitListener listener, const std::function<void(const ChainHeads&)>& start) {
  return r.impl_->applier->attach(std::move(listener), start);
}

void RegistryAccess::detach_commit_listener(Registry& r, std::uint64_t token) {
  r.impl_->applier->detach(token);
}

void RegistryAccess::read_projection(const Registry& r,
                                     const std::function<void(const Projection&)>& f) {
  std::shared_lock pl(r.impl_->proj_mu);
  f(r.impl_->proj);
}

const std::string& RegistryAccess::log_dir(const Registry& r) { return r.impl_->opts.log_dir; }

std::uint64_t RegistryAccess::prev_incarnation(const Registry& r) {
  return r.impl_->log ? r.impl_->log->prev_incarnation() : 0;
}

std::uint64_t RegistryAccess::local_durable_seq(const Registry& r) {
  return r.impl_->log ? r.impl_->log->local_durable_seq() : 0;
}

std::uint64_t RegistryAccess::written_seq(const Registry& r) {
  return r.impl_->log ? r.impl_->log->written_seq() : 0;
}

int RegistryAccess::local_wake_fd(Registry& r) {
  return r.impl_->log ? r.impl_->log->local_wake_fd() : -1;
}

void RegistryAccess::arm_local_wake(Registry& r) {
  if (r.impl_->log) r.impl_->log->arm_local_wake();
}

void RegistryAccess::standby_ack(Registry& r, const std::string& standby, std::uint64_t seq) {
  if (r.impl_->replication) r.impl_->replication->ack(standby, seq);
}

std::uint32_t RegistryAccess::max_record_bytes(const Registry& r) {
  return r.impl_->opts.log.max_record_bytes;
}

Result<std::uint64_t> RegistryAccess::update_if(Registry& r, std::string_view child_id,
                                                std::uint64_t expect_revision, Entry entry,
                                                const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // update never fires hooks (docs/SEMANTICS.md, "update")
  if (r.impl_->replica) return r.impl_->replica->update_if(child_id, expect_revision, entry, o);
  return r.impl_->writer->commit(o, [&](const CommandContext& ctx) -> Resolved {
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
  auto impl = std::make_unique<Registry::Impl>(std::move(o));
  impl->become_replica(std::move(writer));
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

Status RegistryAccess::apply_replicated(Registry& r, Event&& event) {
  std::size_t applied = 0;
  return apply_replicated(r, std::span<Event>(&event, 1), &applied);
}

namespace {

std::uint64_t seq_of(const Event& e) { return e.seq; }
std::uint64_t seq_of(const ReplicatedEvent& e) { return e.seq(); }
std::uint64_t epoch_of(const Event& e) { return e.epoch; }
std::uint64_t epoch_of(const ReplicatedEvent& e) { return e.epoch(); }
std::vector<HookEvent> hooks_of(const Event& e) { return hook_events_of(e); }
std::vector<HookEvent> hooks_of(const ReplicatedEvent& e) { return e.hook_events(); }
Status apply_to(Projection& p, Event& e) { return p.apply(std::move(e)); }
Status apply_to(Projection& p, ReplicatedEvent& e) { return e.apply_to(p); }

}  // namespace

template <typename E>
Status RegistryAccess::apply_replicated_events(Registry& r, std::span<E> events,
                                               std::size_t* applied) {
  Registry::Impl& impl = *r.impl_;
  *applied = 0;
  if (events.empty()) return Status();
  std::vector<std::pair<std::uint64_t, std::vector<HookEvent>>> hooks;
  for (const E& e : events) {
    std::vector<HookEvent> h = hooks_of(e);
    if (!h.empty()) hooks.emplace_back(seq_of(e), std::move(h));
  }
  Status s;
  std::uint64_t last = 0;
  const std::uint64_t epoch = epoch_of(events.front());
  {
    std::unique_lock pl(impl.proj_mu);
    for (E& e : events) {
      const std::uint64_t seq = seq_of(e);
      s = apply_to(impl.proj, e);
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
  impl.replica->advance(epoch, last);
  impl.replica->notify();
  return s;
}

Status RegistryAccess::apply_replicated(Registry& r, std::span<Event> events,
                                        std::size_t* applied) {
  return apply_replicated_events(r, events, applied);
}

Status RegistryAccess::apply_replicated(Registry& r, std::span<ReplicatedEvent> events,
                                        std::size_t* applied) {
  return apply_replicated_events(r, events, applied);
}

void RegistryAccess::load_snapshot(Registry& r, std::uint64_t epoch, std::uint64_t seq,
                                   const std::function<void(Projection&)>& load) {
  Registry::Impl& impl = *r.impl_;
  {
    std::unique_lock pl(impl.proj_mu);
    impl.proj.reset_to(epoch, seq);
    load(impl.proj);
    // Before readers see the new state: whoever sees its epoch sees its seq too.
    impl.replica->advance(epoch, seq);
  }
  impl.hooks.start_at(seq);
  impl.replica->notify();
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
    impl.replica->advance(epoch, seq);
  }
  impl.hooks.start_at(seq);
  impl.replica->notify();
}

}  // namespace procreg::replay
