#include "model/registry_model.h"

#include <algorithm>
#include <exception>
#include <set>

namespace procreg::model {

namespace {

constexpr std::int64_t kMaxTtlMs = 100LL * 366 * 24 * 3600 * 1000;  // SEMANTICS.md, TTL

bool valid_spec(const ChildSpec& spec) {
  return !spec.id.empty() && spec.extra.count("id") == 0 && spec.extra.count("start") == 0;
}

bool valid_pairs(const NodePids& pairs) {
  for (const auto& p : pairs) {
    if (p.node.empty() || p.pid.empty()) return false;
  }
  return true;
}

bool lists_node(const NodePids& pairs, std::string_view node) {
  for (const auto& p : pairs) {
    if (p.node == node) return true;
  }
  return false;
}

// ProcessHub's Keyword.get: the pid of the node's first pair.
std::optional<Pid> first_pid_of(const NodePids& pairs, std::string_view node) {
  for (const auto& p : pairs) {
    if (p.node == node) return p.pid;
  }
  return std::nullopt;
}

bool same_multiset(NodePids a, NodePids b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

}  // namespace

RegistryModel::RegistryModel(ModelOptions options) : options_(std::move(options)) {}

std::string RegistryModel::table_name(const std::string& table) const {
  return table.empty() ? options_.hub : table;
}

const RegistryModel::Table* RegistryModel::find_table(const std::string& name) const {
  auto it = tables_.find(table_name(name));
  return it == tables_.end() ? nullptr : &it->second;
}

const RegistryModel::Row* RegistryModel::find(const std::string& table, std::string_view id) const {
  const Table* t = find_table(table);
  if (t == nullptr) return nullptr;
  auto it = t->find(id);
  return it == t->end() ? nullptr : &it->second;
}

const RegistryModel::Row* RegistryModel::find_bound(const std::string& table,
                                                    std::string_view id) const {
  const Row* row = find(table, id);
  return row != nullptr && !row->entry.node_pids.empty() ? row : nullptr;
}

HookEvent RegistryModel::hook(HookTopic topic, const std::string& table, ChildId id,
                              NodePids pairs) const {
  return HookEvent{topic, options_.hub, table_name(table), std::move(id), std::move(pairs), 0};
}

std::uint64_t RegistryModel::commit(bool write, std::vector<HookEvent> hooks) {
  if (!write) return seq_;
  ++seq_;
  for (auto& h : hooks) {
    h.seq = seq_;
    hooks_.push_back(std::move(h));
  }
  return seq_;
}

// ---- writes ------------------------------------------------------------------------------

Result<std::uint64_t> RegistryModel::insert(ChildSpec spec, NodePids node_pids,
                                            const InsertOptions& options) {
  if (!valid_spec(spec) || !valid_pairs(node_pids)) return Status::invalid_argument("insert");
  if (options.ttl_ms && (*options.ttl_ms > kMaxTtlMs || *options.ttl_ms < -kMaxTtlMs)) {
    return Status::invalid_argument("insert: ttl");
  }
  const std::int64_t now = options_.clock();
  std::optional<std::int64_t> expires;
  if (options.ttl_ms) {
    expires = now + *options.ttl_ms;
  } else if (node_pids.empty()) {
    auto pending = options.metadata.find("pending");
    if (pending != options.metadata.end() && pending->second == Value(true)) {
      expires = now + options_.pending_ttl_ms;
    }
  }
  const ChildId id = spec.id;
  Row row{Entry{std::move(spec), node_pids, options.metadata}, expires};
  const Row* cur = find(options.table, id);
  const bool changes = cur == nullptr || !(*cur == row);
  if (changes) table(options.table)[id] = std::move(row);
  std::vector<HookEvent> hooks;
  if (options.hooks)
    hooks.push_back(hook(HookTopic::kChildRegistered, options.table, id, node_pids));
  return commit(changes || options.hooks, std::move(hooks));
}

Result<std::uint64_t> RegistryModel::bulk_insert(std::vector<Entry> children,
                                                 const WriteOptions& options) {
  for (const auto& e : children) {
    if (!valid_spec(e.spec) || !valid_pairs(e.node_pids)) {
      return Status::invalid_argument("bulk_insert");
    }
  }
  bool changed = false;
  std::vector<HookEvent> hooks;
  for (auto& in : children) {
    const ChildId id = in.spec.id;
    const Row* cur = find_bound(options.table, id);
    Row next;
    NodePids diff;
    if (cur == nullptr) {
      // Absent, pending or tombstone: the incoming row, permanent; the diff is all of it.
      next = Row{in, std::nullopt};
      diff = in.node_pids;
    } else if (same_multiset(in.node_pids, cur->entry.node_pids)) {
      // Same node set: ProcessHub writes nothing; procreg keeps the new spec and metadata
      // with the stored list and expiry (docs/SEMANTICS.md, "bulk_insert"). No hook.
      next = Row{Entry{in.spec, cur->entry.node_pids, in.metadata}, cur->expires_at_ms};
    } else {
      for (auto it = in.node_pids.rbegin(); it != in.node_pids.rend(); ++it) {
        if (first_pid_of(cur->entry.node_pids, it->node) != it->pid) diff.push_back(*it);
      }
      NodePids merged;
      for (const auto& p : cur->entry.node_pids) {
        if (!lists_node(in.node_pids, p.node)) merged.push_back(p);
      }
      merged.insert(merged.end(), in.node_pids.begin(), in.node_pids.end());
      next = Row{Entry{in.spec, merged, in.metadata}, std::nullopt};
    }
    const Row* stored = find(options.table, id);
    if (stored == nullptr || !(*stored == next)) {
      table(options.table)[id] = next;
      changed = true;
    }
    if (options.hooks && !diff.empty()) {
      hooks.push_back(hook(HookTopic::kChildRegistered, options.table, id, diff));
    }
  }
  const bool write = changed || !hooks.empty();  // before hooks is moved from
  return commit(write, std::move(hooks));
}

Result<std::uint64_t> RegistryModel::erase(std::string_view child_id, const WriteOptions& options) {
  if (child_id.empty()) return Status::invalid_argument("delete");
  bool changed = false;
  if (find(options.table, child_id) != nullptr) {
    table(options.table).erase(ChildId(child_id));
    changed = true;
  }
  std::vector<HookEvent> hooks;
  if (options.hooks) {
    hooks.push_back(hook(HookTopic::kChildUnregistered, options.table, ChildId(child_id), {}));
  }
  return commit(changed || options.hooks, std::move(hooks));
}

Result<std::uint64_t> RegistryModel::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options) {
  for (const auto& item : children) {
    if (item.first.empty()) return Status::invalid_argument("bulk_delete");
  }
  const std::int64_t now = options_.clock();
  bool changed = false;
  std::vector<HookEvent> hooks;
  for (const auto& [id, nodes] : children) {
    const Row* cur = find_bound(options.table, id);
    if (cur == nullptr) continue;  // no bound row: skipped, no hook
    Row next = *cur;
    next.entry.node_pids.clear();
    for (const auto& p : cur->entry.node_pids) {
      if (std::find(nodes.begin(), nodes.end(), p.node) == nodes.end()) {
        next.entry.node_pids.push_back(p);
      }
    }
    next.expires_at_ms = next.entry.node_pids.empty()
                             ? std::optional<std::int64_t>(now + options_.tombstone_ttl_ms)
                             : std::nullopt;
    if (!(next == *cur)) {
      table(options.table)[id] = next;
      changed = true;
    }
    if (options.hooks) hooks.push_back(hook(HookTopic::kChildUnregistered, options.table, id, {}));
  }
  const bool write = changed || !hooks.empty();  // before hooks is moved from
  return commit(write, std::move(hooks));
}

Result<std::uint64_t> RegistryModel::update(std::string_view child_id, const UpdateFn& fn,
                                            const WriteOptions& options) {
  if (child_id.empty() || !fn) return Status::invalid_argument("update");
  const Row* cur = find_bound(options.table, child_id);
  if (cur == nullptr) return Status::not_found("No child found");
  Entry next;
  try {
    next = fn(cur->entry.spec, cur->entry.node_pids, cur->entry.metadata);
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
  if (!valid_spec(next.spec) || !valid_pairs(next.node_pids)) {
    return Status::invalid_argument("Invalid arguments returned from the update function");
  }
  const ChildId id = next.spec.id;
  Row row{std::move(next), std::nullopt};
  const Row* target = find(options.table, id);
  const bool changed = target == nullptr || !(*target == row);
  if (changed) table(options.table)[id] = std::move(row);
  return commit(changed, {});  // never hooks
}

Result<bool> RegistryModel::clear_all(const WriteOptions& options) {
  const Table* t = find_table(options.table);
  const bool changed = t != nullptr && !t->empty();
  if (changed) table(options.table).clear();
  commit(changed, {});
  return true;
}

Result<std::uint64_t> RegistryModel::node_down(std::string_view node, const WriteOptions& options) {
  if (node.empty()) return Status::invalid_argument("node_down");
  std::vector<std::pair<ChildId, std::vector<NodeName>>> affected;
  if (const Table* t = find_table(options.table)) {
    for (const auto& [id, row] : *t) {
      if (lists_node(row.entry.node_pids, node)) affected.push_back({id, {NodeName(node)}});
    }
  }
  if (affected.empty()) return seq_;
  WriteOptions o = options;
  o.hooks = true;                              // always on
  return bulk_delete(std::move(affected), o);  // in child id order (the map's)
}

Result<std::size_t> RegistryModel::run_janitor() {
  const std::int64_t now = options_.clock();
  std::size_t expired = 0;
  for (auto& [name, rows] : tables_) {
    std::size_t here = 0;
    for (auto it = rows.begin(); it != rows.end();) {
      if (it->second.expires_at_ms && *it->second.expires_at_ms <= now) {
        it = rows.erase(it);
        ++here;
      } else {
        ++it;
      }
    }
    commit(here > 0, {});  // one expire event per table
    expired += here;
  }
  return expired;
}

// ---- reads -------------------------------------------------------------------------------

std::vector<ChildId> RegistryModel::contains_children(const std::vector<ChildId>& ids,
                                                      const ReadOptions& options) const {
  std::vector<ChildId> out;
  std::set<ChildId> seen;
  for (const auto& id : ids) {
    if (find_bound(options.table, id) != nullptr && seen.insert(id).second) out.push_back(id);
  }
  return out;
}

Dump RegistryModel::dump(const ReadOptions& options) const {
  Dump out;
  if (const Table* t = find_table(options.table)) {
    for (const auto& [id, row] : *t) {
      if (!row.entry.node_pids.empty()) out[id] = row.entry;
    }
  }
  return out;
}

Dump RegistryModel::dump_all(const ReadOptions& options) const {
  Dump out;
  if (const Table* t = find_table(options.table)) {
    for (const auto& [id, row] : *t) out[id] = row.entry;
  }
  return out;
}

bool RegistryModel::entry_exists(std::string_view child_id, const ReadOptions& options) const {
  return find(options.table, child_id) != nullptr;
}

std::optional<Pid> RegistryModel::get_pid(std::string_view child_id,
                                          const ReadOptions& options) const {
  const Row* row = find_bound(options.table, child_id);
  if (row == nullptr) return std::nullopt;
  return row->entry.node_pids.front().pid;
}

std::vector<Pid> RegistryModel::get_pids(std::string_view child_id,
                                         const ReadOptions& options) const {
  std::vector<Pid> out;
  if (const Row* row = find_bound(options.table, child_id)) {
    for (const auto& p : row->entry.node_pids) out.push_back(p.pid);
  }
  return out;
}

std::vector<ChildSpec> RegistryModel::local_child_specs(const ReadOptions& options) const {
  std::vector<ChildSpec> out;
  for (const auto& [id, entry] : local_data(options)) out.push_back(entry.spec);
  return out;
}

Dump RegistryModel::local_children(const ReadOptions& options) const {
  Dump out;
  for (auto& [id, entry] : local_data(options)) out[id] = entry;
  return out;
}

std::vector<std::pair<ChildId, Entry>> RegistryModel::local_data(const ReadOptions& options) const {
  std::vector<std::pair<ChildId, Entry>> out;
  for (const auto& [id, entry] : dump(options)) {
    if (lists_node(entry.node_pids, options_.local_node)) out.emplace_back(id, entry);
  }
  return out;
}

std::optional<Pid> RegistryModel::local_pid(std::string_view child_id,
                                            const ReadOptions& options) const {
  const Row* row = find_bound(options.table, child_id);
  if (row == nullptr) return std::nullopt;
  return first_pid_of(row->entry.node_pids, options_.local_node);
}

std::optional<Lookup> RegistryModel::lookup(std::string_view child_id,
                                            const LookupOptions& options) const {
  const Row* row = find_bound(options.table, child_id);
  if (row == nullptr) return std::nullopt;
  Lookup out{row->entry.spec, row->entry.node_pids, std::nullopt};
  if (options.with_metadata) out.metadata = row->entry.metadata;
  return out;
}

ChildNodePids RegistryModel::match_tag(std::string_view tag, const ReadOptions& options) const {
  ChildNodePids out;
  if (const Table* t = find_table(options.table)) {
    for (const auto& [id, row] : *t) {
      auto it = row.entry.metadata.find("tag");
      if (!row.expires_at_ms && it != row.entry.metadata.end() &&
          it->second == Value(std::string(tag))) {
        out.emplace_back(id, row.entry.node_pids);
      }
    }
  }
  return out;
}

ChildNodePids RegistryModel::process_list(Scope scope, const ReadOptions& options) const {
  ChildNodePids out;
  for (const auto& [id, entry] : dump(options)) {
    if (scope == Scope::kGlobal) {
      out.emplace_back(id, entry.node_pids);
    } else if (auto pid = first_pid_of(entry.node_pids, options_.local_node)) {
      out.emplace_back(id, NodePids{{options_.local_node, *pid}});
    }
  }
  return out;
}

RegistryMap RegistryModel::registry(const ReadOptions& options) const {
  RegistryMap out;
  for (const auto& [id, entry] : dump(options)) out[id] = {entry.spec, entry.node_pids};
  return out;
}

std::map<std::string, Dump> RegistryModel::dump_all_tables() const {
  std::map<std::string, Dump> out;
  for (const auto& [name, rows] : tables_) {
    ReadOptions o;
    o.table = name;
    out[name] = dump_all(o);
  }
  return out;
}

}  // namespace procreg::model
