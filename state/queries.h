// procreg::replay: the registry's queries over one table (docs/SEMANTICS.md, "Reads").
//
// Visibility follows ProcessHub: lookup, get_pid(s), dump, registry, process_list,
// contains_children and the local_* queries see bound rows only (non-empty node_pids);
// dump_all and entry_exists see every row (pending-forward rows and tombstones included);
// match_tag sees permanent rows (no TTL), bound or not. A null table is an empty table.
// Orders are unspecified where ProcessHub's are (ETS order), except contains_children, which
// answers in the order of first appearance in its input.
//
// Thread safety: callers hold the projection's read lock.
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "procreg/types.h"
#include "state/table.h"

namespace procreg::replay {

bool entry_exists(const Table* table, std::string_view id);
std::optional<Lookup> lookup(const Table* table, std::string_view id, bool with_metadata);
std::vector<Pid> get_pids(const Table* table, std::string_view id);
std::optional<Pid> get_pid(const Table* table, std::string_view id);
std::optional<Pid> local_pid(const Table* table, std::string_view id, std::string_view local_node);
// dump (include_unbound = false) and dump_all (true).
Dump dump(const Table* table, bool include_unbound);
RegistryMap registry_map(const Table* table);
// process_list(:global): {id, node_pids} of bound rows.
ChildNodePids process_list_global(const Table* table);
// process_list(:local): {id, [{local_node, pid}]} with the first pid of the local node; rows
// whose local pid is empty are dropped (ProcessHub drops nil/false pids).
ChildNodePids process_list_local(const Table* table, std::string_view local_node);
std::vector<std::pair<ChildId, Entry>> local_data(const Table* table);
Dump local_children(const Table* table);
std::vector<ChildSpec> local_child_specs(const Table* table);
std::vector<ChildId> contains_children(const Table* table, const std::vector<ChildId>& ids);
ChildNodePids match_tag(const Table* table, std::string_view tag);

}  // namespace procreg::replay
