// The canonical text of a registry's state and of a hook event, which the process and crash
// tests compare across processes: two registries hold the same state exactly when their texts
// are equal.
//
// Thread safety: value functions.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "procreg/hooks.h"
#include "procreg/types.h"

namespace procreg::harness {

// [["<node>","<pid>"],...]
std::string node_pids_text(const NodePids& node_pids);

// Every row of every table, one line each, sorted by table then child id:
//   "<table>" "<child>" start="<module>":"<function>"/<args> extra=<map> np=<pairs> md=<map>
std::string canonical_dump(const std::map<std::string, Dump>& tables);

// The rows of every table.
std::size_t count_rows(const std::map<std::string, Dump>& tables);

// One hook event: "<seq> <kind> <child> <node_pids>", e.g.
//   12 child_registered child-3 [["n2","<0.12.0>"]]
std::string hook_line(const HookEvent& e);

}  // namespace procreg::harness
