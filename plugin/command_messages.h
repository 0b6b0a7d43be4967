// procreg::plugin internal: the command channel's messages and their MessagePack codec;
// docs/PROTOCOL.md is the contract.
//
// The command channel is a ROUTER on the writer; clients use DEALER. Request: one frame, a
// Command. Reply: one frame, a CommandReply.
//
// encode_* append to *out. decode_* read exactly one body occupying all of `bytes`; every
// error is a Status (plugin/wire.h), never an exception.
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
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::plugin::wire {

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

void encode(const Command& m, std::string* out);
void encode(const CommandReply& m, std::string* out);

Result<Command> decode_command(std::string_view bytes, const events::DecodeLimits& limits = {});
Result<CommandReply> decode_command_reply(std::string_view bytes);

}  // namespace procreg::plugin::wire
