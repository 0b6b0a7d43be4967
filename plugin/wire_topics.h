// procreg::plugin internal: the bus topics (frame 0 of every bus message), docs/PROTOCOL.md.
//
// A name inside a topic is a netstring: decimal length, ':', the bytes ("3:hub"), so that no
// hub, table or child id is a prefix of another's topic, and a subscriber builds the exact
// prefix it wants.
//   prc1/<hub>/                          everything of a hub
//   prc1/<hub>/e/<table>                 events of one table (frames: topic, EventHeader, event)
//   prc1/<hub>/h/<kind>/<child>          hook events (frames: topic, HookHeader, HookPayload)
//   prc1/<hub>/hb                        heartbeats (frames: topic, Heartbeat)
//
// Thread safety: free functions over values.
#pragma once

#include <string>
#include <string_view>

#include "procreg/hooks.h"
#include "procreg/status.h"

namespace procreg::plugin::wire {

// Every topic starts with this; the version of the topic scheme is part of it.
inline constexpr std::string_view kTopicRoot = "prc1/";

std::string netstring(std::string_view s);
std::string hub_prefix(std::string_view hub);
std::string events_prefix(std::string_view hub);  // all tables
std::string event_topic(std::string_view hub, std::string_view table);
std::string hooks_prefix(std::string_view hub);  // both kinds
std::string hook_kind_prefix(std::string_view hub, HookTopic kind);
std::string hook_topic(std::string_view hub, HookTopic kind, std::string_view child_id);
std::string heartbeat_topic(std::string_view hub);

enum class TopicKind { kEvent, kHook, kHeartbeat };
struct ParsedTopic {
  TopicKind kind = TopicKind::kEvent;
  std::string hub;
  std::string table;                             // kEvent
  HookTopic hook = HookTopic::kChildRegistered;  // kHook
  std::string child_id;                          // kHook
};
// kCorruption for anything that is not exactly one of the topics above.
Result<ParsedTopic> parse_topic(std::string_view topic);

}  // namespace procreg::plugin::wire
