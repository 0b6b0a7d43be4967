#include "harness/canonical_text.h"

#include <utility>

#include "procreg/value.h"

namespace procreg::harness {

std::string node_pids_text(const NodePids& node_pids) {
  Value::Array pairs;
  for (const auto& np : node_pids) {
    Value::Array pair;
    pair.emplace_back(np.node);
    pair.emplace_back(np.pid);
    pairs.emplace_back(std::move(pair));
  }
  return Value(std::move(pairs)).debug_string();
}

std::string canonical_dump(const std::map<std::string, Dump>& tables) {
  std::string out;
  for (const auto& [table, rows] : tables) {
    for (const auto& [id, entry] : rows) {
      out += Value(table).debug_string() + ' ' + Value(id).debug_string() +
             " start=" + Value(entry.spec.start.module).debug_string() + ':' +
             Value(entry.spec.start.function).debug_string() + '/' +
             Value(entry.spec.start.args).debug_string() +
             " extra=" + Value(entry.spec.extra).debug_string() +
             " np=" + node_pids_text(entry.node_pids) +
             " md=" + Value(entry.metadata).debug_string() + '\n';
    }
  }
  return out;
}

std::size_t count_rows(const std::map<std::string, Dump>& tables) {
  std::size_t n = 0;
  for (const auto& [table, rows] : tables) n += rows.size();
  return n;
}

std::string hook_line(const HookEvent& e) {
  return std::to_string(e.seq) + ' ' + std::string(hook_topic_name(e.topic)) + ' ' + e.child_id +
         ' ' + node_pids_text(e.node_pids);
}

}  // namespace procreg::harness
