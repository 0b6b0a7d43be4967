// procreg: hook events and in-process hook subscriptions (docs/SEMANTICS.md, "Hooks").
//
// Hooks are topics: an event written with hooks on yields hook events, which reach the hook
// topics only after the event is durable and applied. The writer never runs user code on its
// write path; handlers run on the registry's hook thread, one hook event at a time in sequence
// order, several handlers of one topic by priority (higher first; ties in subscription order).
// A handler may itself write to the registry. A handler that throws is reported (counted, and
// passed to RegistryOptions-independent error sinks) and never touches the registry. Once its
// subscription is reset (outside a handler) the handler is not running and never runs again;
// a handler may reset its own subscription or another's, which then takes effect after the
// current invocation (see HookSubscription in registry.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/event.h"
#include "procreg/types.h"

namespace procreg {

enum class HookTopic { kChildRegistered, kChildUnregistered };
// "child_registered" / "child_unregistered".
std::string_view hook_topic_name(HookTopic topic);

// ProcessHub's hook payloads plus where the event came from.
// child_registered: {child_id, node_pids}; child_unregistered: {child_id} (node_pids empty).
struct HookEvent {
  HookTopic topic = HookTopic::kChildRegistered;
  std::string hub;
  std::string table;
  ChildId child_id;
  NodePids node_pids;
  std::uint64_t seq = 0;  // the sequence of the event that fired it
  bool operator==(const HookEvent&) const = default;
};

// The hook events an event fires, in ProcessHub's order (one per affected child, in the order
// the call processed them). Empty unless event.hooks.
std::vector<HookEvent> hook_events_of(const Event& event);
// Whether hook_events_of(event) holds at least one event of `topic` (without building them).
bool fires_hooks(const Event& event, HookTopic topic);

using HookHandler = std::function<void(const HookEvent&)>;
// Receives a handler's exception (what() or "unknown exception") and the hook event.
using HookErrorSink = std::function<void(std::string_view error, const HookEvent&)>;

}  // namespace procreg
