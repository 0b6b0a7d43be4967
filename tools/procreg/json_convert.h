// procreg command: procreg's types as JSON and back (docs/CLI.md, "JSON shapes").
//
//   Value      null, true/false, numbers, strings, arrays, objects; a binary is {"$bin": base64}
//   spec       {"id": "w1", "start": ["Mod", "fun", [args]], <extra child-spec keys>...}
//   node_pids  [["node", "pid"], ...]
//   entry      {"spec": spec, "node_pids": node_pids, "metadata": {...}}
//   row        an entry plus "expires_at_ms" when it has a TTL
//   dump       {"child_id": entry, ...}
//   status     {"code": "not_found", "message": "..."}
//   event      {"seq", "epoch", "kind", "hub", "table", "time_ms", "hooks", "child" (one-child
//               events), "children", "payload"}
//
// from_json_* throw JsonError (a message naming the field) on a value of the wrong shape.
//
// Thread safety: free functions over values.
#pragma once

#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "procreg/event.h"
#include "procreg/hooks.h"
#include "procreg/status.h"
#include "procreg/types.h"
#include "procreg/value.h"

namespace procreg::cli {

using Json = nlohmann::ordered_json;

// A 64-bit identifier (an epoch, an incarnation) as JSON: a decimal string, since jq, JavaScript
// and every reader that parses numbers as doubles would round it (docs/CLI.md, "JSON shapes").
inline Json id_json(std::uint64_t id) { return std::to_string(id); }

struct JsonError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Parses JSON input as Json::parse does, but refuses an object with the same key twice (which
// would otherwise keep the last: a `--batch` line with two "method" keys ran the second) with
// a Json::parse_error naming the key.
Json parse_json_input(const std::string& text);

// One line of JSON; invalid UTF-8 in strings is replaced, never an exception.
std::string dump_line(const Json& j);

Json to_json(const Value& v);
Json to_json(const ChildSpec& spec);
Json to_json(const NodePids& node_pids);
Json to_json(const Entry& entry);
Json to_json(const Row& row);
Json to_json(const Dump& dump);
Json to_json(const std::map<std::string, Dump>& tables);
Json to_json(const Lookup& lookup);
Json to_json(const ChildNodePids& pairs);
Json to_json(const RegistryMap& registry);
Json to_json(const Status& status);  // {"code", "message"}
Json to_json(const HookEvent& hook);
Json to_json(const Event& event);

// {"error": {"code": ..., "message": ...}}
Json error_json(const Status& status);

Value value_from_json(const Json& j, const std::string& what);
ChildSpec spec_from_json(const Json& j, const std::string& what);
NodePids node_pids_from_json(const Json& j, const std::string& what);
Metadata metadata_from_json(const Json& j, const std::string& what);
Entry entry_from_json(const Json& j, const std::string& what);

// The child ids an event names (every kind but clear), in the event's order; an update that
// renames its row names the id it was called with, then the row's new id.
std::vector<ChildId> children_of(const Event& event);
// Whether any row the event writes carries metadata {"tag": tag}.
bool event_has_tag(const Event& event, const std::string& tag);

}  // namespace procreg::cli
