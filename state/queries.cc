#include "state/queries.h"

#include <unordered_set>

namespace procreg::replay {

namespace {

const StoredRow* find_bound(const Table* table, std::string_view id) {
  if (table == nullptr) return nullptr;
  const StoredRow* row = table->find(id);
  return row != nullptr && row->bound() ? row : nullptr;
}

}  // namespace

bool entry_exists(const Table* table, std::string_view id) {
  return table != nullptr && table->find(id) != nullptr;
}

std::optional<Lookup> lookup(const Table* table, std::string_view id, bool with_metadata) {
  const StoredRow* row = find_bound(table, id);
  if (row == nullptr) return std::nullopt;
  std::optional<Lookup> out;  // built in place: the answer is copied once, never moved
  out.emplace(Lookup{row->spec(), row->node_pids(), std::nullopt});
  if (with_metadata) out->metadata = row->metadata();
  return out;
}

std::vector<Pid> get_pids(const Table* table, std::string_view id) {
  std::vector<Pid> pids;
  if (const StoredRow* row = find_bound(table, id)) {
    NodePids node_pids = row->node_pids();
    pids.reserve(node_pids.size());
    for (auto& np : node_pids) pids.push_back(std::move(np.pid));
  }
  return pids;
}

std::optional<Pid> get_pid(const Table* table, std::string_view id) {
  const StoredRow* row = find_bound(table, id);
  if (row == nullptr) return std::nullopt;
  return std::move(row->node_pids().front().pid);
}

std::optional<Pid> local_pid(const Table* table, std::string_view id, std::string_view local_node) {
  const StoredRow* row = find_bound(table, id);
  if (row == nullptr) return std::nullopt;
  return row->pid_on(local_node);
}

Dump dump(const Table* table, bool include_unbound) {
  Dump out;
  if (table == nullptr) return out;
  table->for_each([&](const StoredRow& row) {
    if (include_unbound || row.bound()) out.emplace(row.id(), row.entry());
  });
  return out;
}

RegistryMap registry_map(const Table* table) {
  RegistryMap out;
  if (table == nullptr) return out;
  table->for_each([&](const StoredRow& row) {
    if (row.bound()) out.emplace(row.id(), std::make_pair(row.spec(), row.node_pids()));
  });
  return out;
}

ChildNodePids process_list_global(const Table* table) {
  ChildNodePids out;
  if (table == nullptr) return out;
  table->for_each([&](const StoredRow& row) {
    if (row.bound()) out.emplace_back(row.id(), row.node_pids());
  });
  return out;
}

ChildNodePids process_list_local(const Table* table, std::string_view local_node) {
  ChildNodePids out;
  if (table == nullptr) return out;
  for (const StoredRow* row : table->local_rows()) {
    std::optional<Pid> pid = row->pid_on(local_node);
    if (pid && !pid->empty()) {
      out.emplace_back(row->id(), NodePids{NodePid{NodeName(local_node), std::move(*pid)}});
    }
  }
  return out;
}

std::vector<std::pair<ChildId, Entry>> local_data(const Table* table) {
  std::vector<std::pair<ChildId, Entry>> out;
  if (table == nullptr) return out;
  out.reserve(table->local_rows().size());
  for (const StoredRow* row : table->local_rows()) out.emplace_back(row->id(), row->entry());
  return out;
}

Dump local_children(const Table* table) {
  Dump out;
  if (table == nullptr) return out;
  for (const StoredRow* row : table->local_rows()) out.emplace(row->id(), row->entry());
  return out;
}

std::vector<ChildSpec> local_child_specs(const Table* table) {
  std::vector<ChildSpec> out;
  if (table == nullptr) return out;
  out.reserve(table->local_rows().size());
  for (const StoredRow* row : table->local_rows()) out.push_back(row->spec());
  return out;
}

std::vector<ChildId> contains_children(const Table* table, const std::vector<ChildId>& ids) {
  std::vector<ChildId> out;
  std::unordered_set<std::string_view> seen;
  for (const auto& id : ids) {
    if (find_bound(table, id) != nullptr && seen.insert(id).second) out.push_back(id);
  }
  return out;
}

ChildNodePids match_tag(const Table* table, std::string_view tag) {
  ChildNodePids out;
  if (table == nullptr) return out;
  const auto& rows = table->tagged(tag);
  out.reserve(rows.size());
  for (const StoredRow* row : rows) out.emplace_back(row->id(), row->node_pids());
  return out;
}

}  // namespace procreg::replay
