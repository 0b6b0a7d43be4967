// The Registry's reads, hooks and state accessors. See include/procreg/registry.h.
#include <map>
#include <mutex>
#include <shared_mutex>

#include "procreg/registry.h"
#include "registry/registry_impl.h"
#include "state/queries.h"

namespace procreg {

// ---- reads -------------------------------------------------------------------------------

std::vector<ChildId> Registry::contains_children(const std::vector<ChildId>& ids,
                                                 const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::contains_children(t, ids); });
}
Dump Registry::dump(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::dump(t, false); });
}
Dump Registry::dump_all(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::dump(t, true); });
}
bool Registry::entry_exists(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::entry_exists(t, id); });
}
std::optional<Pid> Registry::get_pid(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::get_pid(t, id); });
}
std::vector<Pid> Registry::get_pids(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::get_pids(t, id); });
}
std::vector<ChildSpec> Registry::local_child_specs(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::local_child_specs(t); });
}
Dump Registry::local_children(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::local_children(t); });
}
std::vector<std::pair<ChildId, Entry>> Registry::local_data(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::local_data(t); });
}
std::optional<Pid> Registry::local_pid(std::string_view id, const ReadOptions& o) const {
  return impl_->read(
      o.table, [&](const auto* t) { return replay::local_pid(t, id, impl_->opts.local_node); });
}
std::optional<Lookup> Registry::lookup(std::string_view id, const LookupOptions& o) const {
  return impl_->read(o.table,
                     [&](const auto* t) { return replay::lookup(t, id, o.with_metadata); });
}
ChildNodePids Registry::match_tag(std::string_view tag, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::match_tag(t, tag); });
}
ChildNodePids Registry::process_list(Scope scope, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) {
    return scope == Scope::kGlobal ? replay::process_list_global(t)
                                   : replay::process_list_local(t, impl_->opts.local_node);
  });
}
RegistryMap Registry::registry(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::registry_map(t); });
}
std::map<std::string, Dump> Registry::dump_all_tables() const {
  std::shared_lock lock(impl_->proj_mu);
  return impl_->proj.dump_all_tables();
}

// ---- hooks -------------------------------------------------------------------------------

HookSubscription Registry::subscribe(HookTopic topic, HookHandler handler, int priority) {
  const std::uint64_t id = impl_->hooks.subscribe(topic, std::move(handler), priority);
  return HookSubscription([impl = impl_.get(), id] { impl->hooks.unsubscribe(id); });
}

void Registry::on_hook_error(HookErrorSink sink) { impl_->hooks.set_error_sink(std::move(sink)); }

Status Registry::wait_for_hooks(std::uint64_t seq, std::chrono::milliseconds timeout) {
  return impl_->hooks.wait_dispatched(seq, timeout);
}

// ---- state -------------------------------------------------------------------------------

const std::string& Registry::hub() const { return impl_->opts.hub; }
const std::string& Registry::local_node() const { return impl_->opts.local_node; }
std::uint64_t Registry::last_sequence() const { return impl_->applier->applied_seq(); }
std::uint64_t Registry::epoch() const {
  if (impl_->log) return impl_->log->epoch();  // fixed at open
  std::shared_lock lock(impl_->proj_mu);
  return impl_->proj.epoch();
}
std::uint64_t Registry::term() const { return impl_->log ? impl_->log->term() : 0; }
std::uint64_t Registry::incarnation() const { return impl_->log ? impl_->log->incarnation() : 0; }
std::uint64_t Registry::incarnation_start_seq() const {
  return impl_->log ? impl_->log->start_seq() : 0;
}
bool Registry::read_only() const { return !impl_->log && !impl_->replica; }
bool Registry::is_replica() const { return impl_->replica != nullptr; }
std::string Registry::recovery_report() const { return impl_->recovery; }

RegistryStats Registry::stats() const {
  RegistryStats s;
  const replay::WriteCounters& c = impl_->counters;
  s.events_written = c.events_written.load();
  s.bytes_written = c.bytes_written.load();
  s.writes_without_event = c.writes_without_event.load();
  s.invalid_calls = c.invalid_calls.load();
  s.rows_expired = c.rows_expired.load();
  s.writes_refused_queue_full = c.writes_refused_queue_full.load();
  s.hook_events = impl_->hooks.dispatched();
  s.hook_handler_errors = impl_->hooks.errors();
  if (impl_->snapshotter) {
    replay::Snapshotter::Stats snap = impl_->snapshotter->stats();
    s.snapshots_written = snap.written;
    s.snapshot_failures = snap.failures;
    s.last_snapshot_seq = snap.last_seq;
    s.segments_compacted = snap.segments_compacted;
    s.last_snapshot_error = std::move(snap.last_error);
  }
  if (impl_->log) {
    const replay::SyncStats sync = impl_->log->sync_stats();
    s.log_syncs = sync.syncs;
    s.log_synced_events = sync.records;
    s.log_largest_sync_group = sync.largest_group;
    s.log_write_failures = impl_->log->write_failures();
    if (Status f = impl_->log->failure(); !f.ok()) s.write_failure = f.to_string();
  }
  if (Status f = impl_->applier->failure(); !f.ok() && s.write_failure.empty()) {
    s.write_failure = f.to_string();
  }
  if (impl_->durable) {
    s.durable_subscribers = impl_->durable->size();
    s.durable_cut_off = impl_->durable->cut_off();
    s.durable_max_lag = impl_->durable->max_lag(impl_->applier->applied_seq());
  }
  {
    std::shared_lock lock(impl_->proj_mu);
    impl_->proj.for_each_table([&](const std::string&, const auto& t) { s.rows += t.size(); });
  }
  if (impl_->queue) {
    const replay::WriterQueue::Stats q = impl_->queue->stats();
    s.write_calls = q.calls;
    s.write_groups = q.groups;
    s.largest_write_group = q.largest_group;
    s.write_calls_queued = q.queued;
  }
  if (impl_->replication) {
    s.sync_standbys = impl_->replication->required();
    for (const auto& sb : impl_->replication->standbys()) s.standbys_in_sync += sb.in_sync ? 1 : 0;
    s.replicated_seq = impl_->replication->replicated_seq();
    s.writes_refused_no_standby = impl_->replication->writes_refused();
  }
  return s;
}

}  // namespace procreg
