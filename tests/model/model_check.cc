// model_check: the registry against its reference model, at length, and workloads for the
// command line.
//
//   model_check [--seed S] [--seeds K] [--ops N]
//       Checks K seeds from S (default 1, 1), N ops each (default 100000), as the test suite's
//       model test does; on a difference prints the seed and a minimised op sequence, exit 1.
//   model_check --cli DIR [--seed S] [--ops N] [--hub H] [--node L]
//       Writes a workload of what `procreg call` can express as DIR/batch.jsonl (one request a
//       line, for `procreg call --batch`), the model's answers as DIR/expected.jsonl (one a
//       line, in docs/CLI.md's result shapes) and the hook events it expects as
//       DIR/hooks.jsonl (`procreg tail --hooks` lines). L is the calls' --node.
//
// The JSON is written here from the model's values, not by the procreg command's converter.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/checker.h"
#include "model/registry_model.h"
#include "model/workload.h"

namespace procreg::model {
namespace {

using Json = nlohmann::ordered_json;

Json json(const Value& v) {
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
    case Value::Type::kArray: {
      Json a = Json::array();
      for (const auto& e : v.as_array()) a.push_back(json(e));
      return a;
    }
    case Value::Type::kMap: {
      Json o = Json::object();
      for (const auto& [k, e] : v.as_map()) o[k] = json(e);
      return o;
    }
    default:
      break;
  }
  std::fprintf(stderr, "model_check: the workload made a value JSON cannot carry\n");
  std::exit(2);
}
Json json(const ChildSpec& s) {
  Json j = Json::object();
  for (const auto& [k, v] : s.extra) j[k] = json(v);
  j["id"] = s.id;
  j["start"] = Json::array({s.start.module, s.start.function, json(Value(s.start.args))});
  return j;
}
Json json(const NodePids& pairs) {
  Json a = Json::array();
  for (const auto& p : pairs) a.push_back(Json::array({p.node, p.pid}));
  return a;
}
Json json(const Entry& e) {
  return {{"spec", json(e.spec)},
          {"node_pids", json(e.node_pids)},
          {"metadata", json(Value(e.metadata))}};
}
Json json(const Dump& d) {
  Json o = Json::object();
  for (const auto& [id, e] : d) o[id] = json(e);
  return o;
}
Json json(const ChildNodePids& pairs) {
  Json a = Json::array();
  for (const auto& [id, np] : pairs) a.push_back(Json::array({id, json(np)}));
  return a;
}
Json json(const std::optional<Pid>& pid) { return pid ? Json(*pid) : Json(nullptr); }

Json error(const Status& s) {
  return {{"code", std::string(code_name(s.code()))}, {"message", s.message()}};
}

// The request line, and the model's answer to it, for one op.
struct CliLine {
  Json request;
  Json expected;
};

CliLine cli_line(RegistryModel& m, const Op& op, std::size_t line) {
  static const char* kNames[] = {"insert",
                                 "bulk_insert",
                                 "erase",
                                 "bulk_delete",
                                 "update",
                                 "clear_all",
                                 "node_down",
                                 "",
                                 "",
                                 "lookup",
                                 "get_pid",
                                 "get_pids",
                                 "local_pid",
                                 "entry_exists",
                                 "dump",
                                 "dump_all",
                                 "match_tag",
                                 "process_list",
                                 "contains_children",
                                 "local_data",
                                 "local_children",
                                 "local_child_specs",
                                 "registry"};
  Json args = Json::object();
  if (!op.table.empty()) args["table"] = op.table;
  WriteOptions w;
  w.hooks = op.hooks;
  w.table = op.table;
  ReadOptions r;
  r.table = op.table;
  if (op.is_write() && op.kind != OpKind::kUpdate) args["hooks"] = op.hooks;
  Json expected = {{"line", line}};
  bool unordered = false;
  bool message = false;
  auto seq = [&](const Result<std::uint64_t>& res) {
    if (res.ok()) {
      expected["result"] = {{"seq", *res}};
    } else {
      expected["error"] = error(res.status());
    }
  };
  switch (op.kind) {
    case OpKind::kInsert: {
      args["spec"] = json(op.spec);
      args["node_pids"] = json(op.node_pids);
      args["metadata"] = json(Value(op.metadata));
      if (op.ttl_ms) args["ttl_ms"] = *op.ttl_ms;
      InsertOptions o;
      static_cast<WriteOptions&>(o) = w;
      o.metadata = op.metadata;
      o.ttl_ms = op.ttl_ms;
      seq(m.insert(op.spec, op.node_pids, o));
      break;
    }
    case OpKind::kBulkInsert: {
      Json entries = Json::array();
      for (const auto& e : op.entries) entries.push_back(json(e));
      args["entries"] = entries;
      seq(m.bulk_insert(op.entries, w));
      break;
    }
    case OpKind::kErase:
      args["child_id"] = op.child_id;
      seq(m.erase(op.child_id, w));
      break;
    case OpKind::kBulkDelete: {
      Json deletes = Json::array();
      for (const auto& [id, nodes] : op.deletes) deletes.push_back(Json::array({id, nodes}));
      args["deletes"] = deletes;
      seq(m.bulk_delete(op.deletes, w));
      break;
    }
    case OpKind::kUpdate: {
      args["child_id"] = op.child_id;
      if (op.new_spec) args["spec"] = json(*op.new_spec);
      if (op.new_node_pids) args["node_pids"] = json(*op.new_node_pids);
      if (op.new_metadata) args["metadata"] = json(Value(*op.new_metadata));
      auto res = m.update(
          op.child_id,
          [&](const ChildSpec& s, const NodePids& np, const Metadata& md) {
            return update_result(op, s, np, md);
          },
          w);
      seq(res);
      message = !res.ok();
      break;
    }
    case OpKind::kClearAll: {
      auto res = m.clear_all(w);
      expected["result"] = *res;
      break;
    }
    case OpKind::kNodeDown:
      args["node"] = op.node;
      seq(m.node_down(op.node, w));
      break;
    case OpKind::kLookup: {
      args["child_id"] = op.child_id;
      args["with_metadata"] = op.with_metadata;
      LookupOptions lo;
      lo.table = op.table;
      lo.with_metadata = op.with_metadata;
      auto l = m.lookup(op.child_id, lo);
      Json res = nullptr;
      if (l) {
        res = {{"spec", json(l->spec)}, {"node_pids", json(l->node_pids)}};
        if (l->metadata) res["metadata"] = json(Value(*l->metadata));
      }
      expected["result"] = res;
      break;
    }
    case OpKind::kGetPid:
      args["child_id"] = op.child_id;
      expected["result"] = json(m.get_pid(op.child_id, r));
      break;
    case OpKind::kGetPids:
      args["child_id"] = op.child_id;
      expected["result"] = m.get_pids(op.child_id, r);
      break;
    case OpKind::kLocalPid:
      args["child_id"] = op.child_id;
      expected["result"] = json(m.local_pid(op.child_id, r));
      break;
    case OpKind::kEntryExists:
      args["child_id"] = op.child_id;
      expected["result"] = m.entry_exists(op.child_id, r);
      break;
    case OpKind::kDump:
      expected["result"] = json(m.dump(r));
      break;
    case OpKind::kDumpAll:
      expected["result"] = json(m.dump_all(r));
      break;
    case OpKind::kMatchTag:
      args["tag"] = op.tag;
      expected["result"] = json(m.match_tag(op.tag, r));
      unordered = true;
      break;
    case OpKind::kProcessList:
      args["scope"] = op.scope == Scope::kLocal ? "local" : "global";
      expected["result"] = json(m.process_list(op.scope, r));
      unordered = true;
      break;
    case OpKind::kContains:
      args["child_ids"] = op.ids;
      expected["result"] = m.contains_children(op.ids, r);
      break;
    case OpKind::kLocalData: {
      Json a = Json::array();
      for (const auto& [id, e] : m.local_data(r)) a.push_back(Json::array({id, json(e)}));
      expected["result"] = a;
      unordered = true;
      break;
    }
    case OpKind::kLocalChildren:
      expected["result"] = json(m.local_children(r));
      break;
    case OpKind::kLocalChildSpecs: {
      Json a = Json::array();
      for (const auto& s : m.local_child_specs(r)) a.push_back(json(s));
      expected["result"] = a;
      unordered = true;
      break;
    }
    case OpKind::kRegistry: {
      Json o = Json::object();
      for (const auto& [id, v] : m.registry(r)) {
        o[id] = {{"spec", json(v.first)}, {"node_pids", json(v.second)}};
      }
      expected["result"] = o;
      break;
    }
    case OpKind::kJanitor:
    case OpKind::kAdvance:
      break;  // not generated for the command line
  }
  expected["unordered"] = unordered;
  expected["compare_message"] = message;
  expected["op"] = describe(op);
  return CliLine{{{"method", kNames[static_cast<int>(op.kind)]}, {"args", args}}, expected};
}

int write_cli(const std::string& dir, std::uint64_t seed, std::size_t ops, const std::string& hub,
              const std::string& node) {
  ModelOptions mo;
  mo.hub = hub;
  mo.local_node = node;
  mo.clock = [] { return std::int64_t{1'700'000'000'000}; };  // no janitor: never read for expiry
  RegistryModel model(mo);
  Generator gen(seed, true);
  std::ofstream batch(dir + "/batch.jsonl");
  std::ofstream expected(dir + "/expected.jsonl");
  std::size_t line = 1;
  auto put = [&](const CliLine& l) {
    batch << l.request.dump() << "\n";
    expected << l.expected.dump() << "\n";
    ++line;
  };
  for (std::size_t i = 0; i < ops; ++i) put(cli_line(model, gen.next(), line));
  for (const std::string table : {"", "side"}) {  // the final state of both tables
    Op all;
    all.kind = OpKind::kDumpAll;
    all.table = table;
    put(cli_line(model, all, line));
  }
  batch << Json{{"method", "last_sequence"}}.dump() << "\n";
  expected << Json{{"line", line},
                   {"result", model.last_sequence()},
                   {"unordered", false},
                   {"compare_message", false},
                   {"op", "last_sequence()"}}
                  .dump()
           << "\n";
  std::ofstream hooks(dir + "/hooks.jsonl");
  for (const auto& h : model.hooks()) {
    hooks << Json{{"seq", h.seq},        {"kind", std::string(hook_topic_name(h.topic))},
                  {"hub", h.hub},        {"table", h.table},
                  {"child", h.child_id}, {"node_pids", json(h.node_pids)}}
                 .dump()
          << "\n";
  }
  if (!batch || !expected || !hooks) {
    std::fprintf(stderr, "model_check: cannot write the workload into %s\n", dir.c_str());
    return 2;
  }
  std::printf("%zu requests, %zu hook events, last seq %llu\n", line, model.hooks().size(),
              static_cast<unsigned long long>(model.last_sequence()));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: model_check [--seed S] [--seeds K] [--ops N]\n"
               "       model_check --cli DIR [--seed S] [--ops N] [--hub H] [--node L]\n");
  return 2;
}

}  // namespace
}  // namespace procreg::model

int main(int argc, char** argv) {
  using namespace procreg::model;
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;
  std::size_t ops = 100'000;
  std::string cli_dir;
  std::string hub = "hub";
  std::string node = "n0";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    try {
      if (a == "--seed") {
        seed = std::stoull(v);
      } else if (a == "--seeds") {
        seeds = std::stoull(v);
      } else if (a == "--ops") {
        ops = std::stoull(v);
      } else if (a == "--cli") {
        cli_dir = v;
      } else if (a == "--hub") {
        hub = v;
      } else if (a == "--node") {
        node = v;
      } else {
        return usage();
      }
    } catch (const std::exception&) {
      return usage();
    }
  }
  if (!cli_dir.empty()) return write_cli(cli_dir, seed, ops, hub, node);
  for (std::uint64_t s = seed; s < seed + seeds; ++s) {
    const auto started = std::chrono::steady_clock::now();
    auto failure = check_seed(s, ops);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (failure) {
      std::cout << *failure;
      return 1;
    }
    std::printf("seed %llu: %zu ops agree (%.1f s, %.0f ops/s)\n",
                static_cast<unsigned long long>(s), ops, secs, static_cast<double>(ops) / secs);
    std::fflush(stdout);
  }
  return 0;
}
