// The Registry's reads, hooks, janitor and state accessors. See include/procreg/registry.h.
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

// ---- janitor -----------------------------------------------------------------------------

std::vector<Registry::ExpiryCandidate> Registry::scan_expired() const {
  const std::int64_t now = impl_->clock();
  std::vector<ExpiryCandidate> out;
  std::shared_lock lock(impl_->proj_mu);
  for (const auto& name : impl_->proj.table_names()) {
    for (const replay::StoredRow* row : impl_->proj.table(name)->ttl_rows()) {
      if (*row->expires_at_ms() <= now)
        out.push_back(ExpiryCandidate{name, ChildId(row->id()), row->seq});
    }
  }
  return out;
}

Result<std::size_t> Registry::expire(const std::vector<ExpiryCandidate>& candidates) {
  std::map<std::string, std::vector<const ExpiryCandidate*>> by_table;
  for (const auto& c : candidates) by_table[c.table].push_back(&c);
  std::size_t expired = 0;
  for (const auto& table_list : by_table) {
    // Named, not a structured binding: the lambda below captures it (clang 14 cannot
    // capture structured bindings).
    const std::vector<const ExpiryCandidate*>& list = table_list.second;
    WriteOptions o;
    o.table = table_list.first;
    o.timeout = std::chrono::hours(24);  // the janitor waits for its turn
    std::size_t n = 0;
    auto seq = impl_->commit(o, [&](const replay::CommandContext& ctx) -> replay::Resolved {
      events::Expire body;
      for (const ExpiryCandidate* c : list) {
        const replay::StoredRow* row = ctx.view.find(ctx.table, c->child_id);
        // Only the row that expired: one written again since the scan stays (B7 case 52).
        if (row != nullptr && row->seq == c->row_seq && row->has_ttl()) {
          body.items.push_back(events::ExpireItem{c->child_id, c->row_seq});
        }
      }
      n = body.items.size();
      if (n == 0) return std::optional<EventBody>();
      return std::optional<EventBody>(std::move(body));
    });
    if (!seq.ok()) return seq.status();
    expired += n;
  }
  impl_->rows_expired.fetch_add(expired);
  return expired;
}

Result<std::size_t> Registry::run_janitor() { return expire(scan_expired()); }

// ---- state -------------------------------------------------------------------------------

const std::string& Registry::hub() const { return impl_->opts.hub; }
const std::string& Registry::local_node() const { return impl_->opts.local_node; }
std::uint64_t Registry::last_sequence() const { return impl_->applied_seq.load(); }
std::uint64_t Registry::epoch() const {
  if (impl_->log) return impl_->log->epoch();  // fixed at open
  std::shared_lock lock(impl_->proj_mu);
  return impl_->proj.epoch();
}
bool Registry::read_only() const { return impl_->read_only; }
bool Registry::is_replica() const { return impl_->remote != nullptr; }
std::string Registry::recovery_report() const { return impl_->recovery; }

RegistryStats Registry::stats() const {
  RegistryStats s;
  s.events_written = impl_->events_written.load();
  s.bytes_written = impl_->bytes_written.load();
  s.writes_without_event = impl_->writes_without_event.load();
  s.invalid_calls = impl_->invalid_calls.load();
  s.rows_expired = impl_->rows_expired.load();
  s.hook_events = impl_->hooks.dispatched();
  s.hook_handler_errors = impl_->hooks.errors();
  s.snapshots_written = impl_->snapshots_written.load();
  s.snapshot_failures = impl_->snapshot_failures.load();
  s.last_snapshot_seq = impl_->last_snapshot_seq.load();
  s.segments_compacted = impl_->segments_compacted.load();
  if (impl_->log) {
    const replay::SyncStats sync = impl_->log->sync_stats();
    s.log_syncs = sync.syncs;
    s.log_synced_events = sync.records;
    s.log_largest_sync_group = sync.largest_group;
  }
  {
    std::lock_guard lock(impl_->snapshot_error_mu);
    s.last_snapshot_error = impl_->last_snapshot_error;
  }
  {
    std::lock_guard lock(impl_->queue_mu);
    s.write_calls = impl_->write_calls;
    s.write_groups = impl_->write_groups;
    s.largest_write_group = impl_->largest_write_group;
    s.write_calls_queued = impl_->queue.size();
  }
  return s;
}

}  // namespace procreg