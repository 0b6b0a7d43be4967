#include "state/commands.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <limits>
#include <unordered_map>

#include "events/codec.h"

namespace procreg::replay {

namespace {

constexpr const char* kNoChild = "No child found";
constexpr const char* kInvalidUpdate = "Invalid arguments returned from the update function";

// now + ttl, saturating, and never the projection's no-expiry marker (INT64_MIN): a writer
// clock near either end of int64 must not wrap an expiry into the past or the future.
std::int64_t expiry_after(std::int64_t now_ms, std::int64_t ttl_ms) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(now_ms, ttl_ms, &out)) {
    out = ttl_ms > 0 ? std::numeric_limits<std::int64_t>::max()
                     : std::numeric_limits<std::int64_t>::min() + 1;
  }
  return std::max(out, std::numeric_limits<std::int64_t>::min() + 1);
}

// The state seen by one bulk call: the view, then the rows the call's earlier items wrote.
class BulkState {
 public:
  explicit BulkState(const CommandContext& ctx) : ctx_(ctx) {}
  const StoredRow* find(const std::string& id) const {
    auto it = written_.find(id);
    if (it != written_.end()) return &it->second;
    return ctx_.view.find(ctx_.table, id);
  }
  void write(const std::string& id, StoredRow row) {
    written_.insert_or_assign(id, std::move(row));
  }

 private:
  const CommandContext& ctx_;
  std::unordered_map<std::string, StoredRow> written_;
};

bool has_node(const NodePids& pairs, std::string_view node) {
  return std::any_of(pairs.begin(), pairs.end(), [&](const NodePid& p) { return p.node == node; });
}

// The pid of `node`'s first pair in `pairs` (ProcessHub's Keyword.get), or null.
const Pid* first_pid(const NodePids& pairs, std::string_view node) {
  for (const auto& p : pairs) {
    if (p.node == node) return &p.pid;
  }
  return nullptr;
}

bool same_multiset(NodePids a, NodePids b) {
  if (a.size() != b.size()) return false;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

bool is_pending_forward(const NodePids& node_pids, const Metadata& metadata) {
  if (!node_pids.empty()) return false;
  auto it = metadata.find("pending");
  return it != metadata.end() && it->second == Value(true);
}

// One bulk_insert item over a bound row (docs/SEMANTICS.md, "bulk_insert", cases 2 and 3).
// No item when the row would not change and the item carries no hook to fire.
std::optional<events::BulkInsertItem> merge_bound(const StoredRow& cur, Entry in, bool hooks) {
  NodePids stored = cur.node_pids();
  if (same_multiset(in.node_pids, stored)) {
    // ProcessHub writes nothing here and drops spec and metadata changes; procreg writes them
    // over the stored node list, keeping the row's expiry, and fires no hook.
    if (cur.holds_spec_and_metadata(in.spec, in.metadata)) return std::nullopt;
    in.node_pids = std::move(stored);
    return events::BulkInsertItem{Row{std::move(in), cur.expires_at_ms()}, {}};
  }
  // The hook diff: each incoming pair whose node is new to the row or whose pid differs from
  // the node's first pid in the row, in reverse incoming order.
  NodePids diff;
  for (auto it = in.node_pids.rbegin(); it != in.node_pids.rend(); ++it) {
    const Pid* pid = first_pid(stored, it->node);
    if (pid == nullptr || *pid != it->pid) diff.push_back(*it);
  }
  NodePids merged;
  for (const auto& p : stored) {
    if (!has_node(in.node_pids, p.node)) merged.push_back(p);
  }
  merged.insert(merged.end(), in.node_pids.begin(), in.node_pids.end());
  in.node_pids = std::move(merged);
  // The merged row is written permanent, as ProcessHub writes it.
  if (!cur.has_ttl() && cur.holds(in) && (diff.empty() || !hooks)) return std::nullopt;
  return events::BulkInsertItem{Row{std::move(in), std::nullopt}, std::move(diff)};
}

std::optional<events::BulkInsertItem> merge_item(const StoredRow* cur, Entry in, bool hooks) {
  if (cur != nullptr && cur->bound()) return merge_bound(*cur, std::move(in), hooks);
  // Absent, pending or tombstone: a fresh permanent row; the diff is the whole list.
  if (cur != nullptr && cur->holds(in) && !cur->has_ttl()) return std::nullopt;
  NodePids diff = in.node_pids;
  return events::BulkInsertItem{Row{std::move(in), std::nullopt}, std::move(diff)};
}

}  // namespace

std::string check_spec(const ChildSpec& spec) {
  if (spec.id.empty()) return "child_spec id is empty";
  if (spec.extra.count("id") != 0 || spec.extra.count("start") != 0) {
    return "child_spec extra fields may not be named 'id' or 'start'";
  }
  return "";
}

std::string check_values(const ChildSpec& spec, const Metadata& metadata) {
  const std::uint32_t max = events::kMaxValueDepth;
  const char* what = nullptr;
  if (!events::within_depth(spec.start.args, max)) {
    what = "child_spec start args";
  } else if (!events::within_depth(spec.extra, max)) {
    what = "child_spec extra fields";
  } else if (!events::within_depth(metadata, max)) {
    what = "metadata";
  } else {
    return "";  // the usual case: no message is built
  }
  return std::string(what) + " nests deeper than " + std::to_string(max) + " levels";
}

std::string check_node_pids(const NodePids& node_pids) {
  for (const auto& p : node_pids) {
    if (p.node.empty()) return "a node name is empty";
    if (p.pid.empty()) return "the pid of node '" + p.node + "' is empty";
  }
  return "";
}

Resolved resolve_insert(const CommandContext& ctx, ChildSpec&& spec, NodePids&& node_pids,
                        const InsertOptions& options) {
  std::string bad = check_spec(spec);
  if (bad.empty()) bad = check_node_pids(node_pids);
  if (bad.empty()) bad = check_values(spec, options.metadata);
  if (bad.empty() && options.ttl_ms &&
      (*options.ttl_ms > kMaxTtlMs || *options.ttl_ms < -kMaxTtlMs)) {
    bad = "ttl_ms is beyond +-100 years";
  }
  if (!bad.empty()) return Status::invalid_argument("insert: " + bad);
  std::optional<std::int64_t> expires;
  if (options.ttl_ms) {
    expires = expiry_after(ctx.now_ms, *options.ttl_ms);
  } else if (is_pending_forward(node_pids, options.metadata)) {
    expires = expiry_after(ctx.now_ms, ctx.pending_ttl_ms);
  }
  Row row{Entry{std::move(spec), std::move(node_pids), options.metadata}, expires};
  const StoredRow* cur = ctx.view.find(ctx.table, row.entry.spec.id);
  if (!ctx.hooks && cur != nullptr && cur->holds(row.entry) &&
      cur->expires_at_ms() == row.expires_at_ms) {
    return std::optional<EventBody>();
  }
  return std::optional<EventBody>(events::Insert{std::move(row)});
}

Resolved resolve_bulk_insert(const CommandContext& ctx, std::vector<Entry> children) {
  for (const auto& e : children) {
    std::string bad = check_spec(e.spec);
    if (bad.empty()) bad = check_node_pids(e.node_pids);
    if (bad.empty()) bad = check_values(e.spec, e.metadata);
    if (!bad.empty()) return Status::invalid_argument("bulk_insert: " + bad);
  }
  BulkState state(ctx);
  events::BulkInsert body;
  for (auto& in : children) {
    const std::string id = in.spec.id;
    auto item = merge_item(state.find(id), std::move(in), ctx.hooks);
    if (!item) continue;
    state.write(id, StoredRow{item->row.entry, item->row.expires_at_ms, 0});
    body.items.push_back(std::move(*item));
  }
  if (body.items.empty()) return std::optional<EventBody>();
  return std::optional<EventBody>(std::move(body));
}

Resolved resolve_delete(const CommandContext& ctx, std::string_view child_id) {
  if (child_id.empty()) return Status::invalid_argument("delete: child id is empty");
  if (!ctx.hooks && ctx.view.find(ctx.table, child_id) == nullptr) {
    return std::optional<EventBody>();
  }
  return std::optional<EventBody>(events::Delete{ChildId(child_id)});
}

Resolved resolve_bulk_delete(
    const CommandContext& ctx,
    const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children) {
  for (const auto& [id, nodes] : children) {
    if (id.empty()) return Status::invalid_argument("bulk_delete: child id is empty");
  }
  BulkState state(ctx);
  events::BulkDelete body;
  for (auto& [id, nodes] : children) {
    const StoredRow* cur = state.find(id);
    if (cur == nullptr || !cur->bound()) continue;  // no bound row: skipped, no hook
    events::BulkDeleteItem item{id, false, {}, std::nullopt};
    const NodePids stored = cur->node_pids();
    for (const auto& p : stored) {
      if (std::find(nodes.begin(), nodes.end(), p.node) == nodes.end()) item.node_pids.push_back(p);
    }
    item.changed = item.node_pids != stored || cur->has_ttl();
    if (item.node_pids.empty()) item.expires_at_ms = expiry_after(ctx.now_ms, ctx.tombstone_ttl_ms);
    if (!item.changed) item.node_pids.clear();
    if (!item.changed && !ctx.hooks) continue;
    if (item.changed) {
      state.write(id, cur->with_nodes(item.node_pids, item.expires_at_ms, 0));
    }
    body.items.push_back(std::move(item));
  }
  if (body.items.empty()) return std::optional<EventBody>();
  return std::optional<EventBody>(std::move(body));
}

Resolved resolve_update(const CommandContext& ctx, std::string_view child_id, const UpdateFn& fn) {
  if (child_id.empty()) return Status::invalid_argument("update: child id is empty");
  if (!fn) return Status::invalid_argument("update: no update function");
  const StoredRow* cur = ctx.view.find(ctx.table, child_id);
  if (cur == nullptr || !cur->bound()) return Status::not_found(kNoChild);
  Entry next;
  try {
    next = fn(cur->spec(), cur->node_pids(), cur->metadata());
  } catch (const std::exception& e) {
    return Status::internal(std::string("update function threw: ") + e.what());
  } catch (...) {
    return Status::internal("update function threw a non-standard exception");
  }
  if (!check_spec(next.spec).empty() || !check_node_pids(next.node_pids).empty() ||
      !check_values(next.spec, next.metadata).empty()) {
    return Status::invalid_argument(kInvalidUpdate);
  }
  // The row the result is written over: this one, or another when the id changed.
  const StoredRow* target = next.spec.id == child_id ? cur : ctx.view.find(ctx.table, next.spec.id);
  if (target != nullptr && target->holds(next) && !target->has_ttl()) {
    return std::optional<EventBody>();
  }
  return std::optional<EventBody>(events::Update{ChildId(child_id), Row{std::move(next), {}}});
}

Resolved resolve_clear(const CommandContext& ctx) {
  if (!ctx.view.has_rows(ctx.table)) return std::optional<EventBody>();
  return std::optional<EventBody>(events::Clear{});
}

}  // namespace procreg::replay
