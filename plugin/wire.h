// procreg::plugin internal: the wire protocol's messages and their MessagePack codec.
//
// docs/PROTOCOL.md is the contract; this file is its C++ mirror. Every message is a ZeroMQ
// multipart message whose frames are listed beside each type below. Every MessagePack body is
// a map with string keys (unknown keys are skipped, so a newer peer may add optional keys
// without a version bump) and carries "v": kWireVersion; a larger "v" is kUnsupported.
//
// Decoding takes untrusted frames: sizes are bounded by the DecodeLimits given, and every
// error is a Status (kCorruption for malformed or missing fields, kResourceExhausted for a
// limit, kUnsupported for a version or an unknown op), never an exception or a crash.
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/codec.h"
#include "events/snapshot_row.h"
#include "procreg/event.h"
#include "procreg/hooks.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::plugin::wire {

inline constexpr std::uint32_t kWireVersion = 1;
// Every topic starts with this; the version of the topic scheme is part of it.
inline constexpr std::string_view kTopicRoot = "prc1/";

// ---- topics (frame 0 of every bus message) -----------------------------------------------
// A name inside a topic is a netstring: decimal length, ':', the bytes ("3:hub"), so that no
// hub, table or child id is a prefix of another's topic, and a subscriber builds the exact
// prefix it wants.
//   prc1/<hub>/                          everything of a hub
//   prc1/<hub>/e/<table>                 events of one table (frames: topic, EventHeader, event)
//   prc1/<hub>/h/<kind>/<child>          hook events (frames: topic, HookHeader, HookPayload)
//   prc1/<hub>/hb                        heartbeats (frames: topic, Heartbeat)
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

// ---- bus messages ----------------------------------------------------------------------

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
  bool operator==(const Heartbeat&) const = default;
};

// ---- the replay service (ROUTER on the writer; clients use DEALER) ----------------------
// Request: one frame, a ReplayRequest. Reply: frame 0 a ReplayReplyHeader, then `count`
// frames: EVENT_FORMAT events (kRange) or SnapshotRows (kSnapshot).

enum class ReplayOp { kRange, kSnapshot };
struct ReplayRequest {
  std::uint64_t id = 0;  // echoed in the reply
  std::string hub;
  ReplayOp op = ReplayOp::kRange;
  // kRange: events from `from` (>= 1) up to `to` (0: the writer's head), at most max_events
  // events and about max_bytes bytes per reply; the reply's `end` says whether `to` (or the
  // head) was reached. The client asks again from last + 1 until `end`.
  std::uint64_t from = 1;
  std::uint64_t to = 0;
  // kSnapshot: snapshot_id 0 starts a new snapshot (the projection at the writer's head);
  // continuing chunks name the snapshot_id and offset of the previous reply.
  std::uint64_t snapshot_id = 0;
  std::uint64_t offset = 0;
  std::uint32_t max_events = 1024;     // events or rows per reply, at most kMaxChunkItems
  std::uint32_t max_bytes = 1u << 20;  // at most kMaxChunkBytes
  bool operator==(const ReplayRequest&) const = default;
};
inline constexpr std::uint32_t kMaxChunkItems = 65536;
inline constexpr std::uint32_t kMaxChunkBytes = 16u << 20;

struct ReplayReplyHeader {
  std::uint64_t id = 0;
  Status status;  // not ok: no payload frames follow
  std::uint64_t epoch = 0;
  std::uint64_t head = 0;   // the writer's last committed seq when it replied
  std::uint64_t first = 0;  // kRange: seq of the first event in this reply (0 if none)
  std::uint64_t last = 0;   // kRange: seq of the last event; kSnapshot: the snapshot's seq
  std::uint32_t count = 0;  // payload frames that follow
  bool end = false;         // the range or snapshot is complete
  std::uint64_t snapshot_id = 0;
  std::uint64_t next_offset = 0;
  std::uint64_t total = 0;  // kSnapshot: rows in the whole snapshot
  bool operator==(const ReplayReplyHeader&) const = default;
};

// One row of a snapshot (events/snapshot_row.h: the layout is shared with snapshot files).
using SnapshotRow = events::SnapshotRow;

// ---- the command channel (ROUTER on the writer; clients use DEALER) ----------------------
// Request: one frame, a Command. Reply: one frame, a CommandReply.

enum class CommandOp { kInsert, kBulkInsert, kErase, kBulkDelete, kUpdate, kClearAll, kNodeDown };
struct Command {
  std::uint64_t id = 0;
  std::string hub;
  CommandOp op = CommandOp::kInsert;
  std::string table;  // "" = the hub's default table
  bool hooks = false;
  std::uint32_t timeout_ms = 10'000;
  // kInsert: spec, node_pids, metadata, ttl_ms.
  // kBulkInsert: entries. kErase: child_id. kBulkDelete: deletes.
  // kUpdate: child_id, expect_revision (the row's revision the client's function saw) and
  //   entry (the function's result); a row with another revision is kConflict.
  ChildSpec spec;
  NodePids node_pids;
  Metadata metadata;
  std::optional<std::int64_t> ttl_ms;
  std::vector<Entry> entries;
  ChildId child_id;
  std::vector<std::pair<ChildId, std::vector<NodeName>>> deletes;
  std::uint64_t expect_revision = 0;
  Entry entry;
  NodeName node;  // kNodeDown: the node whose pairs go (hooks always on)
  bool operator==(const Command&) const = default;
};

struct CommandReply {
  std::uint64_t id = 0;
  Status status;
  // ok: the committed event's seq, or (when the call changed nothing) the seq whose state the
  // writer validated against; a replica that has applied `seq` sees the write.
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  bool operator==(const CommandReply&) const = default;
};

// ---- codec ------------------------------------------------------------------------------
// encode_* append to *out. decode_* read exactly one body occupying all of `bytes`.

void encode(const EventHeader& m, std::string* out);
void encode(const HookHeader& m, std::string* out);
void encode(const HookPayload& m, std::string* out);
void encode(const Heartbeat& m, std::string* out);
void encode(const ReplayRequest& m, std::string* out);
void encode(const ReplayReplyHeader& m, std::string* out);
void encode(const SnapshotRow& m, std::string* out);
void encode(const Command& m, std::string* out);
void encode(const CommandReply& m, std::string* out);
// The bytes of encode(SnapshotRow{table, Row{entry, expires_at_ms}, revision}), from a row held
// as its parts (the replay service encodes the projection's rows without copying them).
using events::encode_snapshot_row;

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
Result<ReplayRequest> decode_replay_request(std::string_view bytes);
Result<ReplayReplyHeader> decode_replay_reply_header(std::string_view bytes);
using events::decode_snapshot_row;
Result<Command> decode_command(std::string_view bytes, const events::DecodeLimits& limits = {});
Result<CommandReply> decode_command_reply(std::string_view bytes);

// The id of a request (ReplayRequest or Command) that failed to decode, so that the service
// can still answer it with an error: the value of the first top-level "id" key, if `bytes`
// starts with a map that can be read (under the default DecodeLimits) up to that key and the
// value is a uint. Nothing otherwise.
std::optional<std::uint64_t> read_request_id(std::string_view bytes);

}  // namespace procreg::plugin::wire
