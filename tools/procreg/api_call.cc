#include "tools/procreg/api_call.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

namespace procreg::cli {

namespace {

// The arguments of one call: typed getters that name the missing or malformed key.
class Args {
 public:
  Args(const std::string& method, const Json& j) : method_(method), j_(j) {
    if (!j_.is_null() && !j_.is_object()) {
      throw JsonError(method_ + ": the arguments must be a JSON object");
    }
  }
  bool has(const char* key) const { return j_.is_object() && j_.contains(key); }
  const Json& at(const char* key) const {
    if (!has(key)) throw JsonError(method_ + ": missing argument \"" + key + "\"");
    return j_.at(key);
  }
  std::string str(const char* key) const {
    const Json& v = at(key);
    if (!v.is_string()) throw JsonError(name(key) + ": expected a string");
    return v.get<std::string>();
  }
  std::string str_or(const char* key, const std::string& fallback) const {
    return has(key) ? str(key) : fallback;
  }
  bool flag(const char* key) const {
    if (!has(key)) return false;
    if (!j_.at(key).is_boolean()) throw JsonError(name(key) + ": expected true or false");
    return j_.at(key).get<bool>();
  }
  std::int64_t integer(const char* key) const {
    const Json& v = at(key);
    if (!v.is_number_integer()) throw JsonError(name(key) + ": expected an integer");
    // A number above 2^63 - 1 parses as unsigned; taken as int64 it would wrap to a negative.
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      throw JsonError(name(key) + ": " + v.dump() + " is out of range (at most 2^63 - 1)");
    }
    return v.get<std::int64_t>();
  }
  std::string name(const char* key) const { return method_ + "." + key; }

  WriteOptions write_options() const {
    WriteOptions o;
    o.hooks = flag("hooks");
    o.table = str_or("table", "");
    if (has("timeout_ms")) {
      const std::int64_t ms = integer("timeout_ms");
      if (ms < 0 || ms > 0xffffffffLL) {
        throw JsonError(name("timeout_ms") + ": " + std::to_string(ms) +
                        " is out of range (0 to 4294967295 ms)");
      }
      o.timeout = std::chrono::milliseconds(ms);
    }
    return o;
  }
  ReadOptions read_options() const {
    ReadOptions o;
    o.table = str_or("table", "");
    return o;
  }

 private:
  const std::string& method_;
  const Json& j_;
};

template <typename T>
Json seq_or_error(const Result<T>& r) {
  if (!r.ok()) return error_json(r.status());
  return {{"seq", *r}};
}

Json optional_pid(const std::optional<Pid>& pid) { return pid ? Json(*pid) : Json(nullptr); }

std::vector<Entry> entries_of(const Args& a) {
  const Json& j = a.at("entries");
  std::vector<Entry> out;
  if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      out.push_back(entry_from_json(j[i], a.name("entries") + "[" + std::to_string(i) + "]"));
    }
  } else if (j.is_object()) {  // ProcessHub's map child_id -> entry; each key must be its spec.id
    for (const auto& [id, e] : j.items()) {
      Json with_id = e;
      if (with_id.is_object() && with_id.contains("spec") && with_id["spec"].is_object() &&
          !with_id["spec"].contains("id")) {
        with_id["spec"]["id"] = id;
      }
      out.push_back(entry_from_json(with_id, a.name("entries") + "." + id));
    }
  } else {
    throw JsonError(a.name("entries") + ": expected an array of entries or an object by child id");
  }
  return out;
}

std::vector<std::pair<ChildId, std::vector<NodeName>>> deletes_of(const Args& a) {
  const Json& j = a.at("deletes");
  std::vector<std::pair<ChildId, std::vector<NodeName>>> out;
  const auto nodes = [&](const Json& n, const std::string& what) {
    if (!n.is_array()) throw JsonError(what + ": expected an array of node names");
    std::vector<NodeName> names;
    for (const auto& e : n) {
      if (!e.is_string()) throw JsonError(what + ": expected node names (strings)");
      names.push_back(e.get<std::string>());
    }
    return names;
  };
  if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      const std::string what = a.name("deletes") + "[" + std::to_string(i) + "]";
      if (!j[i].is_array() || j[i].size() != 2 || !j[i][0].is_string()) {
        throw JsonError(what + ": expected [child_id, [nodes...]]");
      }
      out.emplace_back(j[i][0].get<std::string>(), nodes(j[i][1], what));
    }
  } else if (j.is_object()) {
    for (const auto& [id, n] : j.items())
      out.emplace_back(id, nodes(n, a.name("deletes") + "." + id));
  } else {
    throw JsonError(a.name("deletes") + ": expected [[child_id, [nodes...]], ...]");
  }
  return out;
}

std::vector<ChildId> ids_of(const Args& a, const char* key) {
  const Json& j = a.at(key);
  if (!j.is_array()) throw JsonError(a.name(key) + ": expected an array of child ids");
  std::vector<ChildId> ids;
  for (const auto& e : j) {
    if (!e.is_string()) throw JsonError(a.name(key) + ": expected child ids (strings)");
    ids.push_back(e.get<std::string>());
  }
  return ids;
}

template <typename R>
using Method = std::function<Json(R&, const Args&)>;
template <typename R>
using MethodTable = std::vector<std::pair<std::string, Method<R>>>;

template <typename R>
Json call_insert(R& r, const Args& a) {
  InsertOptions o;
  static_cast<WriteOptions&>(o) = a.write_options();
  if (a.has("metadata")) o.metadata = metadata_from_json(a.at("metadata"), a.name("metadata"));
  if (a.has("ttl_ms")) o.ttl_ms = a.integer("ttl_ms");
  const NodePids np =
      a.has("node_pids") ? node_pids_from_json(a.at("node_pids"), a.name("node_pids")) : NodePids{};
  return seq_or_error(r.insert(spec_from_json(a.at("spec"), a.name("spec")), np, o));
}

// The new row: "entry" whole, or the current row with "spec", "node_pids" and/or "metadata"
// replaced.
template <typename R>
Json call_update(R& r, const Args& a) {
  std::optional<Entry> whole;
  if (a.has("entry")) whole = entry_from_json(a.at("entry"), a.name("entry"));
  std::optional<ChildSpec> spec;
  std::optional<NodePids> np;
  std::optional<Metadata> md;
  if (a.has("spec")) spec = spec_from_json(a.at("spec"), a.name("spec"));
  if (a.has("node_pids")) np = node_pids_from_json(a.at("node_pids"), a.name("node_pids"));
  if (a.has("metadata")) md = metadata_from_json(a.at("metadata"), a.name("metadata"));
  if (!whole && !spec && !np && !md) {
    throw JsonError("update: give \"entry\", or one of \"spec\", \"node_pids\", \"metadata\"");
  }
  const auto fn = [&](const ChildSpec& s, const NodePids& n, const Metadata& m) {
    if (whole) return *whole;
    return Entry{spec.value_or(s), np.value_or(n), md.value_or(m)};
  };
  return seq_or_error(r.update(a.str("child_id"), fn, a.write_options()));
}

template <typename R>
MethodTable<R> write_methods() {
  return {
      {"insert", call_insert<R>},
      {"bulk_insert",
       [](R& r, const Args& a) {
         return seq_or_error(r.bulk_insert(entries_of(a), a.write_options()));
       }},
      {"erase",
       [](R& r, const Args& a) {
         return seq_or_error(r.erase(a.str("child_id"), a.write_options()));
       }},
      {"delete",
       [](R& r, const Args& a) {
         return seq_or_error(r.erase(a.str("child_id"), a.write_options()));
       }},
      {"bulk_delete",
       [](R& r, const Args& a) {
         return seq_or_error(r.bulk_delete(deletes_of(a), a.write_options()));
       }},
      {"update", call_update<R>},
      {"clear_all",
       [](R& r, const Args& a) -> Json {
         auto done = r.clear_all(a.write_options());
         if (!done.ok()) return error_json(done.status());
         return *done;
       }},
      {"node_down",
       [](R& r, const Args& a) {
         return seq_or_error(r.node_down(a.str("node"), a.write_options()));
       }},
  };
}

// Reads of rows by child id, and whole dumps.
template <typename R>
MethodTable<R> row_read_methods() {
  return {
      {"contains_children",
       [](R& r, const Args& a) -> Json {
         return r.contains_children(ids_of(a, "child_ids"), a.read_options());
       }},
      {"dump", [](R& r, const Args& a) { return to_json(r.dump(a.read_options())); }},
      {"dump_all", [](R& r, const Args& a) { return to_json(r.dump_all(a.read_options())); }},
      {"dump_all_tables", [](R& r, const Args&) { return to_json(r.dump_all_tables()); }},
      {"entry_exists",
       [](R& r, const Args& a) -> Json {
         return r.entry_exists(a.str("child_id"), a.read_options());
       }},
      {"get_pid",
       [](R& r, const Args& a) {
         return optional_pid(r.get_pid(a.str("child_id"), a.read_options()));
       }},
      {"get_pids",
       [](R& r, const Args& a) -> Json { return r.get_pids(a.str("child_id"), a.read_options()); }},
  };
}

// Reads of the registry's local node.
template <typename R>
MethodTable<R> local_read_methods() {
  return {
      {"local_child_specs",
       [](R& r, const Args& a) {
         Json out = Json::array();
         for (const auto& s : r.local_child_specs(a.read_options())) out.push_back(to_json(s));
         return out;
       }},
      {"local_children",
       [](R& r, const Args& a) { return to_json(r.local_children(a.read_options())); }},
      {"local_data",
       [](R& r, const Args& a) {
         Json out = Json::array();
         for (const auto& [id, e] : r.local_data(a.read_options())) {
           out.push_back(Json::array({id, to_json(e)}));
         }
         return out;
       }},
      {"local_pid",
       [](R& r, const Args& a) {
         return optional_pid(r.local_pid(a.str("child_id"), a.read_options()));
       }},
  };
}

// Lookups with options, tag and process queries.
template <typename R>
MethodTable<R> query_methods() {
  return {
      {"lookup",
       [](R& r, const Args& a) -> Json {
         LookupOptions o;
         o.table = a.str_or("table", "");
         o.with_metadata = a.flag("with_metadata");
         auto found = r.lookup(a.str("child_id"), o);
         return found ? to_json(*found) : Json(nullptr);
       }},
      {"match_tag",
       [](R& r, const Args& a) { return to_json(r.match_tag(a.str("tag"), a.read_options())); }},
      {"process_list",
       [](R& r, const Args& a) {
         const std::string scope = a.str_or("scope", "global");
         if (scope != "global" && scope != "local") {
           throw JsonError("process_list.scope: expected \"global\" or \"local\"");
         }
         return to_json(
             r.process_list(scope == "local" ? Scope::kLocal : Scope::kGlobal, a.read_options()));
       }},
      {"registry", [](R& r, const Args& a) { return to_json(r.registry(a.read_options())); }},
  };
}

// The registry's position and names.
template <typename R>
MethodTable<R> state_methods() {
  return {
      {"last_sequence", [](R& r, const Args&) -> Json { return r.last_sequence(); }},
      {"epoch", [](R& r, const Args&) -> Json { return id_json(r.epoch()); }},
      {"hub", [](R& r, const Args&) -> Json { return r.hub(); }},
      {"local_node", [](R& r, const Args&) -> Json { return r.local_node(); }},
  };
}

// Every method, in documentation order (docs/CLI.md, "call").
template <typename R>
const MethodTable<R>& methods() {
  static const MethodTable<R> kMethods = [] {
    MethodTable<R> all;
    for (MethodTable<R> part : {write_methods<R>(), row_read_methods<R>(), local_read_methods<R>(),
                                query_methods<R>(), state_methods<R>()}) {
      for (auto& method : part) all.push_back(std::move(method));
    }
    return all;
  }();
  return kMethods;
}

// The arguments each method takes (docs/CLI.md, "call"): any other key is refused before the
// call, so that a misspelt one ("metdata") is never silently dropped.
const std::vector<std::string>& known_arguments(const std::string& method) {
  static const std::vector<std::string> kWrite = {"hooks", "table", "timeout_ms"};
  static const std::map<std::string, std::vector<std::string>, std::less<>> kOwn = {
      {"insert", {"spec", "node_pids", "metadata", "ttl_ms"}},
      {"bulk_insert", {"entries"}},
      {"erase", {"child_id"}},
      {"delete", {"child_id"}},
      {"bulk_delete", {"deletes"}},
      {"update", {"child_id", "entry", "spec", "node_pids", "metadata"}},
      {"clear_all", {}},
      {"node_down", {"node"}},
      {"contains_children", {"child_ids", "table"}},
      {"entry_exists", {"child_id", "table"}},
      {"get_pid", {"child_id", "table"}},
      {"get_pids", {"child_id", "table"}},
      {"local_pid", {"child_id", "table"}},
      {"lookup", {"child_id", "table", "with_metadata"}},
      {"match_tag", {"tag", "table"}},
      {"process_list", {"scope", "table"}},
      {"dump_all_tables", {}},
      {"last_sequence", {}},
      {"epoch", {}},
      {"hub", {}},
      {"local_node", {}},
  };
  static const std::map<std::string, std::vector<std::string>, std::less<>> kAll = [] {
    std::map<std::string, std::vector<std::string>, std::less<>> all = kOwn;
    for (const char* write : {"insert", "bulk_insert", "erase", "delete", "bulk_delete", "update",
                              "clear_all", "node_down"}) {
      auto& keys = all[write];
      keys.insert(keys.end(), kWrite.begin(), kWrite.end());
    }
    return all;
  }();
  static const std::vector<std::string> kTableOnly = {"table"};
  auto it = kAll.find(method);
  return it == kAll.end() ? kTableOnly : it->second;  // dump, dump_all, local_*, registry
}

void check_arguments(const std::string& method, const Json& args) {
  if (!args.is_object()) return;  // Args says what is wrong with it
  const auto& known = known_arguments(method);
  for (const auto& [key, value] : args.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw JsonError(method + ": unknown argument \"" + key + "\" (" +
                    (list.empty() ? std::string("it takes none") : "it takes " + list) +
                    "); nothing was done");
  }
}

template <typename R>
Json call_on(R& target, const std::string& method, const Json& args) {
  for (const auto& [name, fn] : methods<R>()) {
    if (name == method) {
      check_arguments(method, args);
      try {
        return fn(target, Args(method, args));
      } catch (const RemoteError& e) {
        return error_json(e.status);
      }
    }
  }
  throw UnknownMethod("unknown method \"" + method + "\" (see procreg call --list)");
}

}  // namespace

Json call_api(Registry& registry, const std::string& method, const Json& args) {
  return call_on(registry, method, args);
}

Json call_api(ClientView& client, const std::string& method, const Json& args) {
  return call_on(client, method, args);
}

bool api_method_writes(const std::string& method) {
  static const std::set<std::string, std::less<>> kWrites = {"insert",    "bulk_insert", "erase",
                                                             "delete",    "bulk_delete", "update",
                                                             "clear_all", "node_down"};
  return kWrites.contains(method);
}

const std::vector<std::string>& api_methods() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& [name, fn] : methods<Registry>()) names.push_back(name);
    return names;
  }();
  return kNames;
}

}  // namespace procreg::cli
