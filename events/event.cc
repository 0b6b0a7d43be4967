#include "procreg/event.h"

#include <algorithm>

#include "procreg/hooks.h"

namespace procreg {

std::string_view event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::kInsert:
      return "insert";
    case EventKind::kBulkInsert:
      return "bulk_insert";
    case EventKind::kDelete:
      return "delete";
    case EventKind::kBulkDelete:
      return "bulk_delete";
    case EventKind::kUpdate:
      return "update";
    case EventKind::kClear:
      return "clear";
    case EventKind::kExpire:
      return "expire";
  }
  return "unknown";
}

std::string_view hook_topic_name(HookTopic topic) {
  return topic == HookTopic::kChildRegistered ? "child_registered" : "child_unregistered";
}

std::vector<HookEvent> hook_events_of(const Event& event) {
  std::vector<HookEvent> out;
  if (!event.hooks) return out;
  auto add = [&](HookTopic topic, const ChildId& id, const NodePids& node_pids) {
    out.push_back(HookEvent{topic, event.hub, event.table, id, node_pids, event.seq});
  };
  const auto& body = event.body;
  if (const auto* ins = std::get_if<events::Insert>(&body)) {
    add(HookTopic::kChildRegistered, ins->row.entry.spec.id, ins->row.entry.node_pids);
  } else if (const auto* bulk = std::get_if<events::BulkInsert>(&body)) {
    for (const auto& item : bulk->items) {
      if (!item.diff.empty()) add(HookTopic::kChildRegistered, item.row.entry.spec.id, item.diff);
    }
  } else if (const auto* del = std::get_if<events::Delete>(&body)) {
    add(HookTopic::kChildUnregistered, del->child_id, {});
  } else if (const auto* bdel = std::get_if<events::BulkDelete>(&body)) {
    for (const auto& item : bdel->items) add(HookTopic::kChildUnregistered, item.child_id, {});
  }
  return out;
}

bool fires_hooks(const Event& event, HookTopic topic) {
  if (!event.hooks) return false;
  const auto& body = event.body;
  if (topic == HookTopic::kChildRegistered) {
    if (std::holds_alternative<events::Insert>(body)) return true;
    if (const auto* bulk = std::get_if<events::BulkInsert>(&body)) {
      return std::any_of(bulk->items.begin(), bulk->items.end(),
                         [](const events::BulkInsertItem& i) { return !i.diff.empty(); });
    }
    return false;
  }
  if (std::holds_alternative<events::Delete>(body)) return true;
  if (const auto* bdel = std::get_if<events::BulkDelete>(&body)) return !bdel->items.empty();
  return false;
}

}  // namespace procreg
