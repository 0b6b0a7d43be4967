// procreg::plugin internal: the replay service's messages and their MessagePack codec;
// docs/PROTOCOL.md is the contract.
//
// The replay service is a ROUTER on the writer; clients use DEALER. Request: one frame, a
// ReplayRequest. Reply: frame 0 a ReplayReplyHeader, then `count` frames: EVENT_FORMAT events
// (kRange) or SnapshotRows (kSnapshot).
//
// encode_* append to *out. decode_* read exactly one body occupying all of `bytes`; every
// error is a Status (plugin/wire.h), never an exception.
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "events/snapshot_row.h"
#include "procreg/status.h"

namespace procreg::plugin::wire {

enum class ReplayOp { kRange, kSnapshot, kFiles, kFile, kPosition };
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
  // kFile: the file (a name a kFiles reply listed); its bytes from `offset`, at most max_bytes.
  // kPosition: a durable hook subscriber's name. Written only when not empty.
  std::string name;
  // kFiles from a standby: its name, the highest seq its copy holds on its disk (its
  // acknowledgement, for synchronous replication), and how long the service may hold the
  // request until the writer's disk holds more than `have` (0: answer at once; at most
  // kMaxFilesWaitMs). Each written only when set.
  // kPosition: the subscriber's position (every event up to it handled), recorded by the
  // writer for compaction; 0 asks for the recorded one without changing it (the reply's
  // `last`, 0: none).
  std::string standby;
  std::uint64_t have = 0;
  std::uint32_t wait_ms = 0;
  // The incarnation that wrote record `have` in the copy (docs/PROTOCOL.md, "Terms and
  // histories"): the writer counts the acknowledgement only if its own record `have` is of it.
  std::uint64_t have_incarnation = 0;
  // kFiles and kFile: list and serve the writer's records as far as they are written, not only
  // as far as they are durable on its disk (a standby's copy then syncs in parallel with the
  // writer). Written only when true.
  bool ahead = false;
  bool operator==(const ReplayRequest&) const = default;
};
inline constexpr std::uint32_t kMaxChunkItems = 65536;
inline constexpr std::uint32_t kMaxChunkBytes = 16u << 20;
inline constexpr std::uint32_t kMaxFilesWaitMs = 60'000;
inline constexpr std::size_t kMaxStandbyNameBytes = 256;

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
  // The writer's term, incarnation and that incarnation's first seq (docs/PROTOCOL.md, "Terms
  // and histories"); kRange: the incarnation of seq `from` - 1 in the writer's log, and of
  // `last` (kSnapshot: of the seq the snapshot is at). 0: not said, or unknown.
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t start_seq = 0;
  std::uint64_t prev_incarnation = 0;
  std::uint64_t last_incarnation = 0;
  bool operator==(const ReplayReplyHeader&) const = default;
};

// One file of the writer's log directory, a frame of a kFiles reply.
enum class LogFileKind { kSegment, kSnapshot };
struct LogFile {
  std::string name;  // a segment's or a snapshot file's name (docs/LOG_FORMAT.md)
  LogFileKind kind = LogFileKind::kSegment;
  // The bytes a copy may take now: a segment's header and its records up to the writer's
  // head; a snapshot file's every byte.
  std::uint64_t size = 0;
  std::uint64_t first = 0;  // a segment's first_seq; a snapshot's seq
  std::uint64_t last = 0;   // a segment's last record within `size` (0: none); a snapshot's seq
  bool sealed = false;      // no byte will be added: a segment with a later one, a snapshot
  bool operator==(const LogFile&) const = default;
};

// One row of a snapshot (events/snapshot_row.h: the layout is shared with snapshot files).
using SnapshotRow = events::SnapshotRow;

void encode(const ReplayRequest& m, std::string* out);
void encode(const ReplayReplyHeader& m, std::string* out);
void encode(const SnapshotRow& m, std::string* out);
// The bytes of encode(SnapshotRow{table, Row{entry, expires_at_ms}, revision}), from a row held
// as its parts (the replay service encodes the projection's rows without copying them).
using events::encode_snapshot_row;

void encode(const LogFile& m, std::string* out);
Result<ReplayRequest> decode_replay_request(std::string_view bytes);
Result<LogFile> decode_log_file(std::string_view bytes);
Result<ReplayReplyHeader> decode_replay_reply_header(std::string_view bytes);
using events::decode_snapshot_row;

}  // namespace procreg::plugin::wire
