// procreg::replay: turning a registry call into the event that records what it did.
//
// Each resolve_* function validates a call's arguments, reads the current state through a
// StateView, applies ProcessHub's rules with procreg's decisions (docs/SEMANTICS.md, "Writes")
// and returns the event body to append, or no body when the call changes nothing and fires no
// hook (docs/SEMANTICS.md, "Events"). They never modify state: the Registry appends the body and
// the projection applies it. Items of one bulk call see the effects of the items before them.
//
// Thread safety: pure functions; the caller holds the writer lock the StateView needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "procreg/event.h"
#include "procreg/options.h"
#include "procreg/status.h"
#include "procreg/types.h"
#include "state/table.h"

namespace procreg::replay {

// The state a writer validates against: the projection plus the events appended but not yet
// applied.
class StateView {
 public:
  virtual ~StateView() = default;
  virtual const StoredRow* find(std::string_view table, std::string_view id) const = 0;
  virtual bool has_rows(std::string_view table) const = 0;
};

struct CommandContext {
  const StateView& view;
  const std::string& table;  // resolved: never empty
  std::int64_t now_ms;       // the writer's clock for this call
  bool hooks;
  std::int64_t tombstone_ttl_ms;
  std::int64_t pending_ttl_ms;
};

using Resolved = Result<std::optional<EventBody>>;

Resolved resolve_insert(const CommandContext& ctx, ChildSpec&& spec, NodePids&& node_pids,
                        const InsertOptions& options);
Resolved resolve_bulk_insert(const CommandContext& ctx, std::vector<Entry> children);
Resolved resolve_delete(const CommandContext& ctx, std::string_view child_id);
Resolved resolve_bulk_delete(
    const CommandContext& ctx,
    const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children);
Resolved resolve_update(const CommandContext& ctx, std::string_view child_id, const UpdateFn& fn);
Resolved resolve_clear(const CommandContext& ctx);

// Argument checks shared with other writers: "" when valid, else what is wrong.
std::string check_spec(const ChildSpec& spec);
std::string check_node_pids(const NodePids& node_pids);
// Args, extra fields and metadata nest no deeper than events::kMaxValueDepth, so that every
// event the writer appends decodes under the limits replay uses.
std::string check_values(const ChildSpec& spec, const Metadata& metadata);

// The largest |ttl| an insert may give, and the largest tombstone/pending TTL: 100 years.
inline constexpr std::int64_t kMaxTtlMs = 100LL * 366 * 24 * 3600 * 1000;

}  // namespace procreg::replay
