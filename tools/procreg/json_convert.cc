#include "tools/procreg/json_convert.h"

#include <cstdint>
#include <cstring>
#include <set>
#include <type_traits>
#include <variant>

namespace procreg::cli {

namespace {

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kBase64[(n >> s) & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t n = std::uint32_t{bytes[i]} << 16;
    if (i + 1 < bytes.size()) n |= std::uint32_t{bytes[i + 1]} << 8;
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kBase64[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::vector<std::uint8_t> base64_decode(const std::string& text, const std::string& what) {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* p = std::strchr(kBase64, c);
    if (c == '\0' || p == nullptr) throw JsonError(what + ": invalid base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(p - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

const Json& member(const Json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) throw JsonError(what + ": missing \"" + key + "\"");
  return j.at(key);
}

std::string string_of(const Json& j, const std::string& what) {
  if (!j.is_string()) throw JsonError(what + ": expected a string");
  return j.get<std::string>();
}

Json row_json(const Row& row) {
  Json j = to_json(row.entry);
  if (row.expires_at_ms) j["expires_at_ms"] = *row.expires_at_ms;
  return j;
}

Json expiry_json(const std::optional<std::int64_t>& expires_at_ms) {
  return expires_at_ms ? Json(*expires_at_ms) : Json(nullptr);
}

Json payload_json(const Event& event) {
  return std::visit(
      [](const auto& body) -> Json {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, events::Insert>) {
          return {{"row", row_json(body.row)}};
        } else if constexpr (std::is_same_v<T, events::BulkInsert>) {
          Json items = Json::array();
          for (const auto& item : body.items) {
            items.push_back({{"row", row_json(item.row)}, {"diff", to_json(item.diff)}});
          }
          return {{"items", items}};
        } else if constexpr (std::is_same_v<T, events::Delete>) {
          return {{"child_id", body.child_id}};
        } else if constexpr (std::is_same_v<T, events::BulkDelete>) {
          Json items = Json::array();
          for (const auto& item : body.items) {
            items.push_back({{"child_id", item.child_id},
                             {"changed", item.changed},
                             {"node_pids", to_json(item.node_pids)},
                             {"expires_at_ms", expiry_json(item.expires_at_ms)}});
          }
          return {{"items", items}};
        } else if constexpr (std::is_same_v<T, events::Update>) {
          return {{"child_id", body.child_id}, {"row", row_json(body.row)}};
        } else if constexpr (std::is_same_v<T, events::Clear>) {
          return Json::object();
        } else {
          Json items = Json::array();
          for (const auto& item : body.items) {
            items.push_back({{"child_id", item.child_id}, {"row_seq", item.row_seq}});
          }
          return {{"items", items}};
        }
      },
      event.body);
}

}  // namespace

std::string dump_line(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json to_json(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNil:
      return nullptr;
    case Value::Type::kBool:
      return v.as_bool();
    case Value::Type::kInt:
      return v.as_int();
    case Value::Type::kUint:
      return v.as_uint();
    case Value::Type::kFloat:
      return v.as_float();
    case Value::Type::kString:
      return v.as_string();
    case Value::Type::kBinary:
      return {{"$bin", base64_encode(v.as_binary().bytes)}};
    case Value::Type::kArray: {
      Json a = Json::array();
      for (const auto& e : v.as_array()) a.push_back(to_json(e));
      return a;
    }
    case Value::Type::kMap: {
      Json o = Json::object();
      for (const auto& [k, e] : v.as_map()) o[k] = to_json(e);
      return o;
    }
  }
  return nullptr;
}

Json to_json(const ChildSpec& spec) {
  Json j = Json::object();
  for (const auto& [k, v] : spec.extra) j[k] = to_json(v);
  j["id"] = spec.id;
  j["start"] =
      Json::array({spec.start.module, spec.start.function, to_json(Value(spec.start.args))});
  return j;
}

Json to_json(const NodePids& node_pids) {
  Json a = Json::array();
  for (const auto& np : node_pids) a.push_back(Json::array({np.node, np.pid}));
  return a;
}

Json to_json(const Entry& entry) {
  return {{"spec", to_json(entry.spec)},
          {"node_pids", to_json(entry.node_pids)},
          {"metadata", to_json(Value(entry.metadata))}};
}

Json to_json(const Row& row) { return row_json(row); }

Json to_json(const Dump& dump) {
  Json o = Json::object();
  for (const auto& [id, entry] : dump) o[id] = to_json(entry);
  return o;
}

Json to_json(const std::map<std::string, Dump>& tables) {
  Json o = Json::object();
  for (const auto& [table, dump] : tables) o[table] = to_json(dump);
  return o;
}

Json to_json(const Lookup& lookup) {
  Json j = {{"spec", to_json(lookup.spec)}, {"node_pids", to_json(lookup.node_pids)}};
  if (lookup.metadata) j["metadata"] = to_json(Value(*lookup.metadata));
  return j;
}

Json to_json(const ChildNodePids& pairs) {
  Json a = Json::array();
  for (const auto& [id, node_pids] : pairs) a.push_back(Json::array({id, to_json(node_pids)}));
  return a;
}

Json to_json(const RegistryMap& registry) {
  Json o = Json::object();
  for (const auto& [id, value] : registry) {
    o[id] = {{"spec", to_json(value.first)}, {"node_pids", to_json(value.second)}};
  }
  return o;
}

Json to_json(const Status& status) {
  return {{"code", std::string(code_name(status.code()))}, {"message", status.message()}};
}

Json to_json(const HookEvent& hook) {
  return {{"seq", hook.seq},        {"kind", std::string(hook_topic_name(hook.topic))},
          {"hub", hook.hub},        {"table", hook.table},
          {"child", hook.child_id}, {"node_pids", to_json(hook.node_pids)}};
}

Json to_json(const Event& event) {
  Json j = {{"seq", event.seq},
            {"epoch", id_json(event.epoch)},
            {"kind", std::string(event_kind_name(event.kind()))},
            {"hub", event.hub},
            {"table", event.table},
            {"time_ms", event.writer_time_ms},
            {"hooks", event.hooks}};
  const auto children = children_of(event);
  if (!children.empty() &&
      (event.kind() == EventKind::kInsert || event.kind() == EventKind::kDelete ||
       event.kind() == EventKind::kUpdate)) {
    j["child"] = children.front();  // an update's: the id it was called with
  } else {
    j["child"] = nullptr;
  }
  j["children"] = children;
  j["payload"] = payload_json(event);
  return j;
}

Json error_json(const Status& status) { return {{"error", to_json(status)}}; }

Value value_from_json(const Json& j, const std::string& what) {
  switch (j.type()) {
    case Json::value_t::null:
      return Value();
    case Json::value_t::boolean:
      return Value(j.get<bool>());
    case Json::value_t::number_integer:
      return Value(static_cast<long long>(j.get<std::int64_t>()));
    case Json::value_t::number_unsigned:
      return Value(static_cast<unsigned long long>(j.get<std::uint64_t>()));
    case Json::value_t::number_float:
      return Value(j.get<double>());
    case Json::value_t::string:
      return Value(j.get<std::string>());
    case Json::value_t::array: {
      Value::Array a;
      for (const auto& e : j) a.push_back(value_from_json(e, what));
      return Value(std::move(a));
    }
    case Json::value_t::object: {
      if (j.size() == 1 && j.contains("$bin")) {
        return Value(Value::Binary{base64_decode(string_of(j["$bin"], what + ".$bin"), what)});
      }
      Value::Map m;
      for (const auto& [k, e] : j.items()) m.emplace(k, value_from_json(e, what + "." + k));
      return Value(std::move(m));
    }
    default:
      throw JsonError(what + ": unsupported JSON value");
  }
}

ChildSpec spec_from_json(const Json& j, const std::string& what) {
  if (!j.is_object()) throw JsonError(what + ": expected an object {\"id\": ..., \"start\": ...}");
  ChildSpec spec;
  spec.id = string_of(member(j, "id", what), what + ".id");
  if (j.contains("start")) {
    const Json& s = j["start"];
    if (s.is_array() && s.size() == 3) {
      spec.start.module = string_of(s[0], what + ".start[0]");
      spec.start.function = string_of(s[1], what + ".start[1]");
      if (!s[2].is_array()) throw JsonError(what + ".start[2]: expected an array of args");
      spec.start.args = value_from_json(s[2], what + ".start[2]").as_array();
    } else if (s.is_object()) {
      spec.start.module = string_of(member(s, "module", what + ".start"), what + ".start.module");
      spec.start.function =
          string_of(member(s, "function", what + ".start"), what + ".start.function");
      if (s.contains("args")) {
        if (!s["args"].is_array()) throw JsonError(what + ".start.args: expected an array");
        spec.start.args = value_from_json(s["args"], what + ".start.args").as_array();
      }
    } else {
      throw JsonError(what + ".start: expected [module, function, [args]]");
    }
  }
  for (const auto& [k, e] : j.items()) {
    if (k != "id" && k != "start") spec.extra.emplace(k, value_from_json(e, what + "." + k));
  }
  return spec;
}

NodePids node_pids_from_json(const Json& j, const std::string& what) {
  if (!j.is_array()) throw JsonError(what + ": expected [[node, pid], ...]");
  NodePids out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const Json& e = j[i];
    const std::string at = what + "[" + std::to_string(i) + "]";
    if (e.is_array() && e.size() == 2) {
      out.push_back({string_of(e[0], at + "[0]"), string_of(e[1], at + "[1]")});
    } else if (e.is_object()) {
      out.push_back({string_of(member(e, "node", at), at + ".node"),
                     string_of(member(e, "pid", at), at + ".pid")});
    } else {
      throw JsonError(at + ": expected [node, pid]");
    }
  }
  return out;
}

Metadata metadata_from_json(const Json& j, const std::string& what) {
  if (j.is_null()) return {};
  if (!j.is_object()) throw JsonError(what + ": expected an object");
  return value_from_json(j, what).as_map();
}

Entry entry_from_json(const Json& j, const std::string& what) {
  if (!j.is_object()) throw JsonError(what + ": expected {\"spec\", \"node_pids\", \"metadata\"}");
  Entry entry;
  entry.spec = spec_from_json(member(j, "spec", what), what + ".spec");
  if (j.contains("node_pids"))
    entry.node_pids = node_pids_from_json(j["node_pids"], what + ".node_pids");
  if (j.contains("metadata"))
    entry.metadata = metadata_from_json(j["metadata"], what + ".metadata");
  return entry;
}

std::vector<ChildId> children_of(const Event& event) {
  return std::visit(
      [](const auto& body) -> std::vector<ChildId> {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, events::Insert>) {
          return {body.row.entry.spec.id};
        } else if constexpr (std::is_same_v<T, events::Delete>) {
          return {body.child_id};
        } else if constexpr (std::is_same_v<T, events::Update>) {
          // The id it was called with, then the row's own when the update renames it.
          if (body.row.entry.spec.id == body.child_id) return {body.child_id};
          return {body.child_id, body.row.entry.spec.id};
        } else if constexpr (std::is_same_v<T, events::BulkInsert>) {
          std::vector<ChildId> ids;
          for (const auto& item : body.items) ids.push_back(item.row.entry.spec.id);
          return ids;
        } else if constexpr (std::is_same_v<T, events::Clear>) {
          return {};
        } else {
          std::vector<ChildId> ids;
          for (const auto& item : body.items) ids.push_back(item.child_id);
          return ids;
        }
      },
      event.body);
}

bool event_has_tag(const Event& event, const std::string& tag) {
  const auto tagged = [&](const Row& row) {
    auto it = row.entry.metadata.find(kTagKey);
    return it != row.entry.metadata.end() && it->second.is_string() &&
           it->second.as_string() == tag;
  };
  return std::visit(
      [&](const auto& body) -> bool {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, events::Insert> || std::is_same_v<T, events::Update>) {
          return tagged(body.row);
        } else if constexpr (std::is_same_v<T, events::BulkInsert>) {
          for (const auto& item : body.items) {
            if (tagged(item.row)) return true;
          }
          return false;
        } else {
          return false;
        }
      },
      event.body);
}

Json parse_json_input(const std::string& text) {
  std::vector<std::set<std::string>> open;  // the keys of each object being read
  std::string duplicate;
  const Json::parser_callback_t check = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      open.pop_back();
    } else if (event == Json::parse_event_t::key && duplicate.empty() &&
               !open.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json j = Json::parse(text, check);
  if (!duplicate.empty()) {
    throw Json::parse_error::create(101, 0, "duplicate key \"" + duplicate + "\"", nullptr);
  }
  return j;
}

}  // namespace procreg::cli
