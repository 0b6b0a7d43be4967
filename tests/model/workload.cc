#include "model/workload.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace procreg::model {

namespace {

constexpr int kIds = 24;   // child ids c0..c23
constexpr int kNodes = 4;  // nodes n0..n3 (n0 is the local node)
constexpr int kPids = 3;   // pids p0..p2
constexpr std::size_t kRecent = 64;

std::string str(const Value& v) { return v.debug_string(); }

std::string opts(const Op& op) {
  std::string out;
  if (op.hooks) out += ", hooks";
  if (!op.table.empty()) out += ", table " + op.table;
  return out;
}

}  // namespace

std::string text(const NodePids& pairs) {
  std::string out = "[";
  for (const auto& p : pairs) out += "{" + p.node + "," + p.pid + "}";
  return out + "]";
}

std::string text(const ChildSpec& s) {
  return "S(" + s.id + "," + s.start.module + "," + s.start.function + "," +
         str(Value(s.start.args)) + "," + str(Value(s.extra)) + ")";
}

std::string text(const Entry& e) {
  return "{" + text(e.spec) + "," + text(e.node_pids) + "," + str(Value(e.metadata)) + "}";
}

Entry update_result(const Op& op, const ChildSpec& spec, const NodePids& node_pids,
                    const Metadata& metadata) {
  if (op.update_throws) throw std::runtime_error("update function failed");
  return Entry{op.new_spec.value_or(spec), op.new_node_pids.value_or(node_pids),
               op.new_metadata.value_or(metadata)};
}

std::string describe(const Op& op) {
  std::ostringstream os;
  switch (op.kind) {
    case OpKind::kInsert:
      os << "insert(" << text(op.spec) << ", " << text(op.node_pids) << ", metadata "
         << str(Value(op.metadata));
      if (op.ttl_ms) os << ", ttl_ms " << *op.ttl_ms;
      os << opts(op) << ")";
      break;
    case OpKind::kBulkInsert: {
      os << "bulk_insert([";
      for (std::size_t i = 0; i < op.entries.size(); ++i)
        os << (i ? ", " : "") << text(op.entries[i]);
      os << "]" << opts(op) << ")";
      break;
    }
    case OpKind::kErase:
      os << "erase(" << op.child_id << opts(op) << ")";
      break;
    case OpKind::kBulkDelete: {
      os << "bulk_delete([";
      for (std::size_t i = 0; i < op.deletes.size(); ++i) {
        os << (i ? ", " : "") << "{" << op.deletes[i].first << ",[";
        for (std::size_t j = 0; j < op.deletes[i].second.size(); ++j) {
          os << (j ? "," : "") << op.deletes[i].second[j];
        }
        os << "]}";
      }
      os << "]" << opts(op) << ")";
      break;
    }
    case OpKind::kUpdate:
      os << "update(" << op.child_id << ", fn:";
      if (op.update_throws) os << " throws";
      if (op.new_spec) os << " spec=" << text(*op.new_spec);
      if (op.new_node_pids) os << " node_pids=" << text(*op.new_node_pids);
      if (op.new_metadata) os << " metadata=" << str(Value(*op.new_metadata));
      os << opts(op) << ")";
      break;
    case OpKind::kClearAll:
      os << "clear_all(" << opts(op) << ")";
      break;
    case OpKind::kNodeDown:
      os << "node_down(" << op.node << opts(op) << ")";
      break;
    case OpKind::kJanitor:
      os << "run_janitor()";
      break;
    case OpKind::kAdvance:
      os << "clock += " << op.advance_ms << " ms";
      break;
    case OpKind::kLookup:
      os << "lookup(" << op.child_id << (op.with_metadata ? ", with_metadata" : "") << opts(op)
         << ")";
      break;
    case OpKind::kGetPid:
      os << "get_pid(" << op.child_id << opts(op) << ")";
      break;
    case OpKind::kGetPids:
      os << "get_pids(" << op.child_id << opts(op) << ")";
      break;
    case OpKind::kLocalPid:
      os << "local_pid(" << op.child_id << opts(op) << ")";
      break;
    case OpKind::kEntryExists:
      os << "entry_exists(" << op.child_id << opts(op) << ")";
      break;
    case OpKind::kDump:
      os << "dump(" << opts(op) << ")";
      break;
    case OpKind::kDumpAll:
      os << "dump_all(" << opts(op) << ")";
      break;
    case OpKind::kMatchTag:
      os << "match_tag(" << op.tag << opts(op) << ")";
      break;
    case OpKind::kProcessList:
      os << "process_list(" << (op.scope == Scope::kLocal ? "local" : "global") << opts(op) << ")";
      break;
    case OpKind::kContains: {
      os << "contains_children([";
      for (std::size_t i = 0; i < op.ids.size(); ++i) os << (i ? "," : "") << op.ids[i];
      os << "]" << opts(op) << ")";
      break;
    }
    case OpKind::kLocalData:
      os << "local_data(" << opts(op) << ")";
      break;
    case OpKind::kLocalChildren:
      os << "local_children(" << opts(op) << ")";
      break;
    case OpKind::kLocalChildSpecs:
      os << "local_child_specs(" << opts(op) << ")";
      break;
    case OpKind::kRegistry:
      os << "registry(" << opts(op) << ")";
      break;
  }
  return os.str();
}

Generator::Generator(std::uint64_t seed, bool for_cli) : rng_(seed), for_cli_(for_cli) {}

ChildId Generator::id() { return "c" + std::to_string(pick(0, kIds - 1)); }

NodePid Generator::pair() {
  return NodePid{"n" + std::to_string(pick(0, kNodes - 1)),
                 "p" + std::to_string(pick(0, kPids - 1))};
}

NodePids Generator::pairs() {
  NodePids out;
  for (int i = pick(0, 3); i > 0; --i) out.push_back(pair());
  return out;
}

Metadata Generator::metadata() {
  Metadata md;
  if (chance(50)) md["tag"] = "t" + std::to_string(pick(0, 2));
  if (chance(15)) md["n"] = pick(-2, 2);
  return md;
}

ChildSpec Generator::spec(const ChildId& child) {
  // Few distinct specs, so that specs differing only by id (renames) are common.
  return make_spec(child, "Elixir.W", "start_link", {Value(pick(0, 1))});
}

std::string Generator::table() { return chance(20) ? "side" : ""; }

Entry Generator::entry() {
  if (!recent_.empty() && chance(45)) {
    Entry e = recent_[static_cast<std::size_t>(pick(0, static_cast<int>(recent_.size()) - 1))];
    switch (pick(0, 4)) {
      case 0:
        break;  // the same entry again
      case 1:
        std::shuffle(e.node_pids.begin(), e.node_pids.end(), rng_);
        break;
      case 2:
        if (!e.node_pids.empty()) {
          e.node_pids.erase(e.node_pids.begin() +
                            pick(0, static_cast<int>(e.node_pids.size()) - 1));
        }
        break;
      case 3:
        e.metadata = metadata();
        break;
      default:
        e.node_pids.push_back(pair());
        break;
    }
    return e;
  }
  Entry e{spec(id()), pairs(), metadata()};
  if (recent_.size() < kRecent) {
    recent_.push_back(e);
  } else {
    recent_[static_cast<std::size_t>(pick(0, kRecent - 1))] = e;
  }
  return e;
}

Op Generator::write(OpKind kind) {
  Op op;
  op.kind = kind;
  op.table = table();
  op.hooks = chance(50);
  switch (kind) {
    case OpKind::kInsert: {
      Entry e = entry();
      op.spec = std::move(e.spec);
      op.node_pids = std::move(e.node_pids);
      op.metadata = std::move(e.metadata);
      if (chance(25)) op.ttl_ms = pick(0, 3) == 0 ? -1000 : pick(0, 60'000);
      if (op.node_pids.empty() && chance(50)) op.metadata["pending"] = true;
      if (chance(2)) op.node_pids.push_back(NodePid{"n1", ""});   // invalid
      if (!for_cli_ && chance(1)) op.spec.extra["id"] = "x";      // invalid (JSON cannot say it)
      if (chance(1)) op.ttl_ms = 200LL * 366 * 24 * 3600 * 1000;  // invalid
      break;
    }
    case OpKind::kBulkInsert:
      for (int i = pick(1, 4); i > 0; --i) op.entries.push_back(entry());
      if (chance(2)) op.entries.back().spec.id.clear();  // invalid: the whole call
      break;
    case OpKind::kErase:
      op.child_id = id();
      if (chance(1)) op.child_id.clear();
      break;
    case OpKind::kBulkDelete:
      for (int i = pick(1, 3); i > 0; --i) {
        std::vector<NodeName> nodes;
        for (int j = pick(0, 2); j > 0; --j) nodes.push_back(pair().node);
        op.deletes.emplace_back(id(), std::move(nodes));
      }
      break;
    case OpKind::kUpdate:
      op.child_id = id();
      switch (pick(0, 6)) {
        case 0:
          op.new_metadata = metadata();
          break;
        case 1:
          op.new_node_pids = pairs();
          break;
        case 2:
          op.new_spec = spec(id());
          break;  // a rename, often onto an existing row
        case 3:
          op.new_spec = spec(op.child_id);
          break;
        case 4:
          op.new_spec = spec("");
          break;  // invalid
        case 5:
          op.new_spec = spec(id());
          op.new_node_pids = pairs();
          op.new_metadata = metadata();
          break;
        default:
          if (for_cli_) {
            op.new_node_pids = NodePids{NodePid{"", "p1"}};  // invalid
          } else {
            op.update_throws = true;
          }
          break;
      }
      break;
    case OpKind::kNodeDown:
      op.node = pair().node;
      break;
    default:
      break;
  }
  return op;
}

Op Generator::read(OpKind kind) {
  Op op;
  op.kind = kind;
  op.table = table();
  op.child_id = id();
  op.tag = "t" + std::to_string(pick(0, 2));
  op.with_metadata = chance(50);
  op.scope = chance(50) ? Scope::kLocal : Scope::kGlobal;
  for (int i = pick(0, 4); i > 0; --i) op.ids.push_back(id());
  return op;
}

Op Generator::next() {
  const int r = pick(0, 99);
  if (!for_cli_) {
    if (r < 4) {
      Op op;
      op.kind = OpKind::kAdvance;
      op.advance_ms = chance(70) ? pick(0, 2'000) : pick(20'000, 700'000);
      return op;
    }
    if (r < 7) {
      Op op;
      op.kind = OpKind::kJanitor;
      return op;
    }
  }
  if (r < 20) return write(OpKind::kInsert);
  if (r < 36) return write(OpKind::kBulkInsert);
  if (r < 41) return write(OpKind::kErase);
  if (r < 51) return write(OpKind::kBulkDelete);
  if (r < 59) return write(OpKind::kUpdate);
  if (r < 60) return write(OpKind::kClearAll);
  if (r < 62) return write(OpKind::kNodeDown);
  static constexpr OpKind kReads[] = {
      OpKind::kLookup,          OpKind::kGetPid,   OpKind::kGetPids,   OpKind::kLocalPid,
      OpKind::kEntryExists,     OpKind::kDump,     OpKind::kDumpAll,   OpKind::kMatchTag,
      OpKind::kProcessList,     OpKind::kContains, OpKind::kLocalData, OpKind::kLocalChildren,
      OpKind::kLocalChildSpecs, OpKind::kRegistry};
  return read(kReads[pick(0, static_cast<int>(std::size(kReads)) - 1)]);
}

}  // namespace procreg::model
