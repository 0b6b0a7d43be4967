#include "model/checker.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "model/registry_model.h"
#include "procreg/registry.h"
#include "temp_dir.h"

namespace procreg::model {

namespace {

using Tables = std::map<std::string, Dump>;

constexpr const char* kHub = "hub";
constexpr const char* kLocalNode = "n0";
constexpr std::int64_t kStartMs = 1'700'000'000'000;
constexpr std::chrono::seconds kHookWait{10};

// ---- canonical text of results: equal text, equal result -------------------------------

using model::text;  // NodePids, ChildSpec, Entry (workload.h)
std::string text(const Value& v) { return v.debug_string(); }
std::string text(const Dump& d) {
  std::string out = "{";
  for (const auto& [id, e] : d) out += id + ":" + text(e) + ";";
  return out + "}";
}
std::string text(const Status& s, bool with_message) {
  return std::string("error ") + std::string(code_name(s.code())) +
         (with_message ? ": " + s.message() : "");
}
template <typename T>
std::string text(const Result<T>& r, bool message = false) {
  if (!r.ok()) return text(r.status(), message);
  std::ostringstream os;
  os << "ok " << *r;
  return os.str();
}
// A list whose order is unspecified: sorted text of its items.
std::string unordered(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  std::string out = "[";
  for (const auto& i : items) out += i + ";";
  return out + "]";
}
std::string text(const ChildNodePids& pairs) {
  std::vector<std::string> items;
  for (const auto& [id, np] : pairs) items.push_back(id + ":" + text(np));
  return unordered(std::move(items));
}
std::string text(const std::optional<Pid>& pid) { return pid ? "pid " + *pid : "nil"; }

// The op's call on `r` (the Registry or the model: the same names and arguments).
template <typename R>
std::string outcome(R& r, const Op& op) {
  WriteOptions w;
  w.hooks = op.hooks;
  w.table = op.table;
  ReadOptions ro;
  ro.table = op.table;
  switch (op.kind) {
    case OpKind::kInsert: {
      InsertOptions o;
      static_cast<WriteOptions&>(o) = w;
      o.metadata = op.metadata;
      o.ttl_ms = op.ttl_ms;
      return text(r.insert(op.spec, op.node_pids, o));
    }
    case OpKind::kBulkInsert:
      return text(r.bulk_insert(op.entries, w));
    case OpKind::kErase:
      return text(r.erase(op.child_id, w));
    case OpKind::kBulkDelete:
      return text(r.bulk_delete(op.deletes, w));
    case OpKind::kUpdate: {
      auto fn = [&op](const ChildSpec& s, const NodePids& np, const Metadata& md) {
        return update_result(op, s, np, md);
      };
      auto res = r.update(op.child_id, fn, w);
      // The documented messages of not_found and of an invalid result are part of the API.
      const bool message = !res.ok() && res.status().code() != Code::kInternal;
      return text(res, message);
    }
    case OpKind::kClearAll:
      return text(r.clear_all(w));
    case OpKind::kNodeDown:
      return text(r.node_down(op.node, w));
    case OpKind::kJanitor:
      return text(r.run_janitor());
    case OpKind::kAdvance:
      return "advanced";  // the caller moves the shared clock
    case OpKind::kLookup: {
      LookupOptions lo;
      lo.table = op.table;
      lo.with_metadata = op.with_metadata;
      auto l = r.lookup(op.child_id, lo);
      if (!l) return "nil";
      return text(l->spec) + text(l->node_pids) +
             (l->metadata ? text(Value(*l->metadata)) : std::string("-"));
    }
    case OpKind::kGetPid:
      return text(r.get_pid(op.child_id, ro));
    case OpKind::kGetPids: {
      std::string out;
      for (const auto& p : r.get_pids(op.child_id, ro)) out += p + ",";
      return out;
    }
    case OpKind::kLocalPid:
      return text(r.local_pid(op.child_id, ro));
    case OpKind::kEntryExists:
      return r.entry_exists(op.child_id, ro) ? "true" : "false";
    case OpKind::kDump:
      return text(r.dump(ro));
    case OpKind::kDumpAll:
      return text(r.dump_all(ro));
    case OpKind::kMatchTag:
      return text(r.match_tag(op.tag, ro));
    case OpKind::kProcessList:
      return text(r.process_list(op.scope, ro));
    case OpKind::kContains: {
      std::string out;
      for (const auto& id : r.contains_children(op.ids, ro)) out += id + ",";
      return out;
    }
    case OpKind::kLocalData: {
      std::vector<std::string> items;
      for (const auto& [id, e] : r.local_data(ro)) items.push_back(id + ":" + text(e));
      return unordered(std::move(items));
    }
    case OpKind::kLocalChildren:
      return text(r.local_children(ro));
    case OpKind::kLocalChildSpecs: {
      std::vector<std::string> items;
      for (const auto& s : r.local_child_specs(ro)) items.push_back(text(s));
      return unordered(std::move(items));
    }
    case OpKind::kRegistry: {
      std::string out;
      for (const auto& [id, v] : r.registry(ro)) out += id + ":" + text(v.first) + text(v.second);
      return out;
    }
  }
  return "?";
}

std::string text(const HookEvent& h) {
  std::ostringstream os;
  os << hook_topic_name(h.topic) << "{" << h.table << "," << h.child_id << "," << text(h.node_pids)
     << ",seq " << h.seq << "}";
  return os.str();
}

// Tables compared by name; a table missing on one side is an empty one.
std::optional<std::string> compare_tables(const Tables& registry, const Tables& model) {
  std::set<std::string> names;
  for (const auto& [n, d] : registry) names.insert(n);
  for (const auto& [n, d] : model) names.insert(n);
  for (const auto& n : names) {
    auto a = registry.find(n);
    auto b = model.find(n);
    const Dump empty;
    const Dump& da = a == registry.end() ? empty : a->second;
    const Dump& db = b == model.end() ? empty : b->second;
    if (da != db) {
      return "table " + n + ": registry " + text(da) + "\n  model    " + text(db);
    }
  }
  return std::nullopt;
}

class HookLog {
 public:
  void add(const HookEvent& e) {
    std::lock_guard lock(mu_);
    events_.push_back(e);
  }
  std::vector<HookEvent> since(std::size_t from) const {
    std::lock_guard lock(mu_);
    if (from >= events_.size()) return {};
    return {events_.begin() + static_cast<std::ptrdiff_t>(from), events_.end()};
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<HookEvent> events_;
};

std::string hook_list(const std::vector<HookEvent>& hooks) {
  std::string out;
  for (const auto& h : hooks) out += "\n    " + text(h);
  return out.empty() ? " (none)" : out;
}

}  // namespace

std::optional<Mismatch> check(const std::vector<Op>& ops, const CheckOptions& options) {
  testing::TempDir dir;
  auto clock = std::make_shared<std::atomic<std::int64_t>>(kStartMs);
  RegistryOptions ro;
  ro.hub = kHub;
  ro.log_dir = dir.path();
  ro.local_node = kLocalNode;
  ro.log.durability = Durability::kNone;
  ro.log.segment_bytes = 256u << 10;  // several segments
  ro.janitor_interval = std::chrono::milliseconds(0);
  ro.clock = [clock] { return clock->load(); };
  ModelOptions mo;
  mo.hub = kHub;
  mo.local_node = kLocalNode;
  mo.clock = [clock] { return clock->load(); };
  RegistryModel model(mo);

  auto opened = Registry::open(ro);
  if (!opened.ok()) return Mismatch{0, "Registry::open: " + opened.status().to_string()};
  std::unique_ptr<Registry> registry = std::move(*opened);
  auto hook_log = std::make_shared<HookLog>();
  std::vector<HookSubscription> subs;
  for (HookTopic t : {HookTopic::kChildRegistered, HookTopic::kChildUnregistered}) {
    subs.push_back(registry->subscribe(t, [hook_log](const HookEvent& e) { hook_log->add(e); }));
  }
  std::size_t hooks_checked = 0;

  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (op.kind == OpKind::kAdvance) clock->fetch_add(op.advance_ms);
    const std::uint64_t before = registry->last_sequence();
    const std::string got = outcome(*registry, op);
    std::string want;
    if (options.perturb_model) {
      Op changed = op;
      options.perturb_model(changed);
      want = outcome(model, changed);
    } else {
      want = outcome(model, op);
    }
    if (got != want) {
      return Mismatch{i, describe(op) + "\n  registry: " + got + "\n  model:    " + want};
    }
    const std::uint64_t seq = registry->last_sequence();
    if (seq != model.last_sequence()) {
      return Mismatch{i, describe(op) + "\n  last_sequence: registry " + std::to_string(seq) +
                             ", model " + std::to_string(model.last_sequence())};
    }
    if (seq != before) {
      const Status s = registry->wait_for_hooks(seq, kHookWait);
      if (!s.ok()) return Mismatch{i, describe(op) + "\n  wait_for_hooks: " + s.to_string()};
    }
    if (seq != before || hooks_checked != model.hooks().size()) {
      const std::vector<HookEvent> got_hooks = hook_log->since(hooks_checked);
      const std::vector<HookEvent> want_hooks(
          model.hooks().begin() + static_cast<std::ptrdiff_t>(hooks_checked), model.hooks().end());
      if (got_hooks != want_hooks) {
        return Mismatch{i, describe(op) + "\n  hooks: registry" + hook_list(got_hooks) +
                               "\n  model" + hook_list(want_hooks)};
      }
      hooks_checked = model.hooks().size();
    }
    if (options.full_compare_every != 0 && (i + 1) % options.full_compare_every == 0) {
      if (auto diff = compare_tables(registry->dump_all_tables(), model.dump_all_tables())) {
        return Mismatch{i, describe(op) + "\n  dump_all_tables differ: " + *diff};
      }
    }
  }
  const std::size_t end = ops.size();
  if (auto diff = compare_tables(registry->dump_all_tables(), model.dump_all_tables())) {
    return Mismatch{end, "at the end, dump_all_tables differ: " + *diff};
  }
  const RegistryStats stats = registry->stats();
  if (stats.events_written != registry->last_sequence()) {
    return Mismatch{end, "events_written " + std::to_string(stats.events_written) +
                             " != last_sequence " + std::to_string(registry->last_sequence())};
  }
  if (!options.final_checks) return std::nullopt;
  subs.clear();
  registry.reset();

  auto replayed = Registry::open_replay(ReplayOptions{dir.path(), kLocalNode, 0});
  if (!replayed.ok()) return Mismatch{end, "open_replay: " + replayed.status().to_string()};
  if ((*replayed)->last_sequence() != model.last_sequence()) {
    return Mismatch{end, "replayed to seq " + std::to_string((*replayed)->last_sequence())};
  }
  if (auto diff = compare_tables((*replayed)->dump_all_tables(), model.dump_all_tables())) {
    return Mismatch{end, "replayed from the log: " + *diff};
  }
  replayed->reset();
  auto reopened = Registry::open(ro);
  if (!reopened.ok()) return Mismatch{end, "reopen: " + reopened.status().to_string()};
  if (auto diff = compare_tables((*reopened)->dump_all_tables(), model.dump_all_tables())) {
    return Mismatch{end, "reopened: " + *diff};
  }
  return std::nullopt;
}

std::vector<Op> minimise(std::vector<Op> ops, const Mismatch& first, const CheckOptions& options,
                         std::size_t budget, std::chrono::seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  if (first.op < ops.size()) ops.resize(first.op + 1);
  std::size_t runs = 0;
  auto fails = [&](const std::vector<Op>& candidate) {
    ++runs;
    return check(candidate, options).has_value();
  };
  for (std::size_t chunk = std::max<std::size_t>(ops.size() / 2, 1); chunk >= 1; chunk /= 2) {
    for (std::size_t at = 0; at < ops.size();) {
      if (runs >= budget || std::chrono::steady_clock::now() > until) return ops;
      std::vector<Op> candidate(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(at));
      const std::size_t skip = std::min(at + chunk, ops.size());
      candidate.insert(candidate.end(), ops.begin() + static_cast<std::ptrdiff_t>(skip), ops.end());
      if (!candidate.empty() && fails(candidate)) {
        ops = std::move(candidate);  // keep the removal; try the same place again
      } else {
        at += chunk;
      }
    }
    if (chunk == 1) break;
  }
  return ops;
}

std::string report(std::uint64_t seed, const std::vector<Op>& minimised, const Mismatch& mismatch,
                   const CheckOptions& options) {
  std::ostringstream os;
  os << "registry and model differ (seed " << seed << "), after op " << mismatch.op << ":\n  "
     << mismatch.what << "\nminimised to " << minimised.size() << " ops:\n";
  for (std::size_t i = 0; i < minimised.size(); ++i)
    os << "  " << i << ": " << describe(minimised[i]) << "\n";
  if (auto again = check(minimised, options)) os << "which fail with:\n  " << again->what << "\n";
  return os.str();
}

std::optional<std::string> check_seed(std::uint64_t seed, std::size_t count,
                                      const CheckOptions& options) {
  Generator gen(seed, false);
  std::vector<Op> ops;
  ops.reserve(count);
  for (std::size_t i = 0; i < count; ++i) ops.push_back(gen.next());
  auto mismatch = check(ops, options);
  if (!mismatch) return std::nullopt;
  return report(seed, minimise(ops, *mismatch, options), *mismatch, options);
}

}  // namespace procreg::model
