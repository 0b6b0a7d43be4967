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

// The writes, then the reads (docs/PROTOCOL.md, "Reads"); is_read() tells them apart.
enum class CommandOp {
  kInsert,
  kBulkInsert,
  kErase,
  kBulkDelete,
  kUpdate,
  kClearAll,
  kNodeDown,
  kLookup,
  kGetPid,
  kGetPids,
  kLocalPid,
  kEntryExists,
  kContainsChildren,
  kMatchTag,
  kDump,
  kDumpAll,
  kRegistry,
  kProcessList,
  kLocalChildren,
  kLocalData,
  kLocalChildSpecs,
  kDumpAllTables,
  kStats
};
constexpr bool is_read(CommandOp op) { return op >= CommandOp::kLookup; }
// The name of `op` on the wire ("insert", "get_pid", ...).
std::string_view op_name(CommandOp op);
// The op named `name`, if there is one.
std::optional<CommandOp> op_named(std::string_view name);

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
  // Reads. child_id: lookup, get_pid, get_pids, local_pid, entry_exists.
  std::uint64_t at_least_seq = 0;  // answer once the state has applied this seq (0: at once)
  std::string cursor;              // a paged read's next page (opaque; "" = the first)
  std::uint32_t limit = 0;         // a paged read's most rows per page (0 = the default)
  std::string tag;                 // match_tag
  std::vector<ChildId> ids;        // contains_children
  bool with_metadata = false;      // lookup
  bool local = false;              // process_list: the local scope (false: global)
  bool operator==(const Command&) const = default;
};

struct CommandReply {
  std::uint64_t id = 0;
  Status status;
  // ok: the committed event's seq, or (when the call changed nothing) the seq whose state the
  // writer validated against; a replica that has applied `seq` sees the write.
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  // A read's answer: one MessagePack item (docs/PROTOCOL.md, "Reads"), as its bytes; "" for a
  // write or an error.
  std::string result;
  std::string next;  // a paged read: the cursor of the next page ("" = the last page)
  // The answering writer's term and incarnation (a replica's reply: the writer's it follows);
  // 0: not said.
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;
  bool operator==(const CommandReply&) const = default;
};

void encode(const Command& m, std::string* out);
void encode(const CommandReply& m, std::string* out);

Result<Command> decode_command(std::string_view bytes, const events::DecodeLimits& limits = {});
// `limits`: a client reading large answers passes events::record_limits(its reply bound).
Result<CommandReply> decode_command_reply(std::string_view bytes,
                                          const events::DecodeLimits& limits = {});

}  // namespace procreg::plugin::wire
