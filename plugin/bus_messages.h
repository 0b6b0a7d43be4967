// procreg::plugin internal: the bodies of the bus messages (frames 1 and 2 after the topic,
// plugin/wire_topics.h) and their MessagePack codec; docs/PROTOCOL.md is the contract.
//
// encode_* append to *out. decode_* read exactly one body occupying all of `bytes`; every
// error is a Status (plugin/wire.h), never an exception.
//
// Thread safety: free functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "events/codec.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::plugin::wire {

// Frame 1 of an event message. With count 1 (header "v" 1), frame 2 is the event's
// EVENT_FORMAT bytes, exactly the log record's payload. With count n > 1 (header "v" 2, key
// "n"), the message carries the events seq, seq+1, ..., seq+n-1, all of the topic's table, and
// frame 2 is an event batch: a MessagePack array of n bin items, each one event's bytes.
// table_prev: the seq of the previous event of the same table before the first one (0: none),
// so a subscriber of one table's topic detects gaps; a subscriber of the whole hub uses seq.
struct EventHeader {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::uint64_t table_prev = 0;
  std::uint32_t count = 1;  // events in the message, 1 .. kMaxBatchEvents (a batch: 2 or more)
  // The writer's term and incarnation (docs/PROTOCOL.md, "Terms and histories"), and the
  // incarnation of event seq - 1 in its log; 0: not said (a writer before terms; pinc: none).
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t prev_incarnation = 0;
  bool operator==(const EventHeader&) const = default;
};
// The version of an EventHeader with count > 1 (every other body is kWireVersion).
inline constexpr std::uint32_t kEventBatchVersion = 2;
// The most events one event message may carry.
inline constexpr std::uint32_t kMaxBatchEvents = 65536;
// The most event bytes a writer puts in one batch: with the bin headers (5 bytes an event at
// most) and the array head, a batch frame stays under the 16 MiB subscribers read.
inline constexpr std::size_t kMaxBatchBytes = 15u << 20;

// Frame 1 of a hook message. One event fires `count` hook events (index 0..count-1), each
// published on its own topic. kind_prev: the seq of the previous event that fired hook events
// of this kind (0: none), so a subscriber of one kind detects gaps; hook_prev: the same over
// both kinds, for a subscriber of all of a hub's hooks.
struct HookHeader {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::uint64_t kind_prev = 0;
  std::uint64_t hook_prev = 0;
  std::uint32_t index = 0;
  std::uint32_t count = 0;
  // The writer's term and incarnation (as in EventHeader); 0: not said.
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;
  bool operator==(const HookHeader&) const = default;
};

// Frame 2 of a hook message: ProcessHub's payload and where it came from.
struct HookPayload {
  std::string hub;
  std::string table;
  ChildId child_id;
  NodePids node_pids;  // child_registered only
  bool operator==(const HookPayload&) const = default;
};

// Frame 1 of a heartbeat: the writer's last published sequence and log identity, and the
// heads of the hook-kind chains (kind_prev of the next hook message of each kind).
struct Heartbeat {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::int64_t time_ms = 0;
  std::uint64_t registered_head = 0;
  std::uint64_t unregistered_head = 0;
  // The writer's term, incarnation and the first seq that incarnation appended; 0: not said.
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t start_seq = 0;
  // Where the writer's replay service and command channel are, for followers that must find a
  // new writer after a failover; "": not said.
  std::string replay_endpoint{};
  std::string command_endpoint{};
  bool operator==(const Heartbeat&) const = default;
};

void encode(const EventHeader& m, std::string* out);
void encode(const HookHeader& m, std::string* out);
void encode(const HookPayload& m, std::string* out);
void encode(const Heartbeat& m, std::string* out);

Result<EventHeader> decode_event_header(std::string_view bytes);
// Frame 2 of an event message with header.count > 1: appends to *out the bytes of each
// event (views into `frame`). The events are not decoded here; each must be at most
// limits.max_string bytes, and the frame at most limits.max_bytes.
Status decode_event_batch(std::string_view frame, std::uint32_t count,
                          const events::DecodeLimits& limits, std::vector<std::string_view>* out);
// Appends an event batch frame holding `events` (each an event's EVENT_FORMAT bytes).
void encode_event_batch(const std::vector<std::string_view>& events, std::string* out);
Result<HookHeader> decode_hook_header(std::string_view bytes);
Result<HookPayload> decode_hook_payload(std::string_view bytes,
                                        const events::DecodeLimits& limits = {});
Result<Heartbeat> decode_heartbeat(std::string_view bytes);

}  // namespace procreg::plugin::wire
