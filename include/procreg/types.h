// procreg: the registry's data types, ProcessHub's terms in C++ (docs/SEMANTICS.md,
// "Terms").
//
// hub ids, child ids, node names and pids are strings; a pid is opaque to procreg (an OS pid,
// an actor address, an endpoint). A row of the registry is an Entry: {child_spec, node_pids,
// metadata}. node_pids is ordered (get_pid returns the first pair); an empty list means the row
// is unbound (a pending-forward row, a tombstone, or an unbound permanent row).
//
// Thread safety: value types.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "procreg/value.h"

namespace procreg {

using ChildId = std::string;
using NodeName = std::string;
using Pid = std::string;
using Metadata = Value::Map;  // string-keyed; only "tag" (a string) has a meaning (match_tag)

// The metadata key match_tag reads.
inline constexpr const char* kTagKey = "tag";

// ProcessHub's {module, function, args}.
struct StartSpec {
  std::string module;
  std::string function;
  Value::Array args;
  bool operator==(const StartSpec&) const = default;
};

// A supervisor child spec: `id` is the row key; every other field is carried as given.
struct ChildSpec {
  ChildId id;
  StartSpec start;
  Value::Map extra;  // any other child-spec keys (restart, shutdown, type, ...)
  bool operator==(const ChildSpec&) const = default;
};

struct NodePid {
  NodeName node;
  Pid pid;
  bool operator==(const NodePid&) const = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the 0 of the generated <=>.
  auto operator<=>(const NodePid&) const = default;
};
using NodePids = std::vector<NodePid>;

// One registry row as the API shows it.
struct Entry {
  ChildSpec spec;
  NodePids node_pids;
  Metadata metadata;
  bool operator==(const Entry&) const = default;
};

// lookup()'s answer; `metadata` is present only when asked for (ProcessHub's :with_metadata).
struct Lookup {
  ChildSpec spec;
  NodePids node_pids;
  std::optional<Metadata> metadata;
  bool operator==(const Lookup&) const = default;
};

// dump(), dump_all(), local_children(): child_id -> entry, ordered by child_id.
// update's function: given the row's spec, pairs and metadata, returns the row to write (its
// spec.id may name another child: the row moves there). See Registry::update.
using UpdateFn = std::function<Entry(const ChildSpec&, const NodePids&, const Metadata&)>;

using Dump = std::map<ChildId, Entry, std::less<>>;
// registry(): child_id -> {spec, node_pids}, bound rows only.
using RegistryMap = std::map<ChildId, std::pair<ChildSpec, NodePids>, std::less<>>;
// match_tag() and process_list(): {child_id, node_pids} pairs.
using ChildNodePids = std::vector<std::pair<ChildId, NodePids>>;

// A shorthand for tests and examples: the spec {id, start: {module, function, args}}.
inline ChildSpec make_spec(ChildId id, std::string module = "Elixir.Worker",
                           std::string function = "start_link", Value::Array args = {}) {
  return ChildSpec{
      std::move(id), StartSpec{std::move(module), std::move(function), std::move(args)}, {}};
}

}  // namespace procreg
