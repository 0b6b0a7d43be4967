// The command channel's bodies (plugin/command_messages.h, docs/PROTOCOL.md), read and written
// by their tables (plugin/wire_fields.h says how). Wire version 1, keys in the order procreg
// writes them; `?` marks an optional key, read as its C++ default when absent:
//
//   Command       = map { "v", "id": uint, "hub": str, "op": str, "tbl"?: str,
//                         "hk"?: bool hooks, "tmo"?: uint32 timeout_ms, then by op:
//                   insert:      "spec": spec, "np": node_pids, "md": map, "ttl"?: int
//                   bulk_insert: "entries": [entry, ...]
//                   erase:       "cid": str child_id
//                   bulk_delete: "dels": [[str child_id, [str node, ...]], ...]
//                   update:      "cid": str, "rev": uint expect_revision, "entry": entry
//                   clear_all:   nothing
//                   node_down:   "node": str
//                   reads:       "min"?: uint at_least_seq, "cur"?: bin cursor, "lim"?: uint32,
//                                and by op "cid": str, "cids": [str, ...], "tag": str,
//                                "wmd": bool with_metadata, "scope": "global" | "local" }
//   CommandReply  = map { "v", "id": uint, "status": status, "seq": uint, "ep": uint,
//                         "res"?: any (a read's answer), "next"?: bin (the next page's cursor) }
//
// "hub" is not empty; a Command's "tbl" may be ("" is the hub's default table). A command's op
// keys of another op are read (type-checked) and kept; the writer ignores them. status is
// plugin/wire_fields.cc's; entry, spec and node_pids are the event format's
// (events/row_codec.h).

#include "plugin/command_messages.h"

#include <array>
#include <cassert>
#include <string>

#include "plugin/wire_fields.h"

namespace procreg::plugin::wire {

namespace {

using namespace detail;  // the codec's vocabulary

// Op names, indexed by CommandOp's values.
constexpr std::array<std::string_view, 23> kCommandOps = {"insert",
                                                          "bulk_insert",
                                                          "erase",
                                                          "bulk_delete",
                                                          "update",
                                                          "clear_all",
                                                          "node_down",
                                                          "lookup",
                                                          "get_pid",
                                                          "get_pids",
                                                          "local_pid",
                                                          "entry_exists",
                                                          "contains_children",
                                                          "match_tag",
                                                          "dump",
                                                          "dump_all",
                                                          "registry",
                                                          "process_list",
                                                          "local_children",
                                                          "local_data",
                                                          "local_child_specs",
                                                          "dump_all_tables",
                                                          "stats"};

// "cids": [str, ...]
struct Ids {
  static bool read(Decoder& d, std::vector<ChildId>* out) {
    std::uint32_t count = 0;
    if (!d.read_array_head(&count)) return false;
    out->reserve(events::initial_capacity(count));
    for (std::uint32_t i = 0; i < count; ++i) {
      Decoder::Scope item(&d, i);
      if (!d.read_string(&out->emplace_back())) return false;
    }
    return true;
  }
  static void write(Encoder& e, const std::vector<ChildId>& ids) {
    e.array(ids.size());
    for (const ChildId& id : ids) e.str(id);
  }
};

// "scope": "global" or "local"
struct ScopeName {
  static bool read(Decoder& d, bool* local) {
    std::string_view name;
    if (!d.read_str(&name)) return false;
    if (name != "global" && name != "local") {
      return d.fail(Code::kInvalidArgument,
                    "scope " + events::quote(name) + R"( is neither "global" nor "local")");
    }
    *local = name == "local";
    return true;
  }
  static void write(Encoder& e, bool local) { e.str(local ? "local" : "global"); }
};

// A bin holding bytes (a cursor).
struct Bin {
  static bool read(Decoder& d, std::string* out) {
    std::string_view bytes;
    if (!d.read_bin(&bytes)) return false;
    out->assign(bytes);
    return true;
  }
  static void write(Encoder& e, const std::string& bytes) { e.bin(std::string_view(bytes)); }
};

// Any one item, kept as its bytes (a read's result).
struct Raw {
  static bool read(Decoder& d, std::string* out) {
    std::string_view bytes;
    if (!d.read_raw(&bytes)) return false;
    out->assign(bytes);
    return true;
  }
  static void write(Encoder& e, const std::string& bytes) { e.raw(bytes); }
};

// "entries": [entry, ...]
struct Entries {
  static bool read(Decoder& d, std::vector<Entry>* out) {
    std::uint32_t count = 0;
    if (!d.read_array_head(&count)) return false;
    out->reserve(events::initial_capacity(count));
    for (std::uint32_t i = 0; i < count; ++i) {
      Decoder::Scope item(&d, i);
      if (!Plain::read(d, &out->emplace_back())) return false;
    }
    return true;
  }
  static void write(Encoder& e, const std::vector<Entry>& entries) {
    e.array(entries.size());
    for (const Entry& entry : entries) Plain::write(e, entry);
  }
};

// "dels": [[str child_id, [str node, ...]], ...]
struct Deletes {
  using Value = std::vector<std::pair<ChildId, std::vector<NodeName>>>;
  static bool read(Decoder& d, Value* out) {
    std::uint32_t count = 0;
    if (!d.read_array_head(&count)) return false;
    out->reserve(events::initial_capacity(count));
    for (std::uint32_t i = 0; i < count; ++i) {
      Decoder::Scope item(&d, i);
      auto& [child_id, nodes] = out->emplace_back();
      if (!d.read_tuple_head(2)) return false;
      {
        Decoder::Scope first(&d, std::uint32_t{0});
        if (!d.read_string(&child_id)) return false;
      }
      Decoder::Scope second(&d, std::uint32_t{1});
      std::uint32_t n = 0;
      if (!d.read_array_head(&n)) return false;
      nodes.reserve(events::initial_capacity(n));
      for (std::uint32_t j = 0; j < n; ++j) {
        Decoder::Scope node(&d, j);
        if (!d.read_string(&nodes.emplace_back())) return false;
      }
    }
    return true;
  }
  static void write(Encoder& e, const Value& deletes) {
    e.array(deletes.size());
    for (const auto& [child_id, nodes] : deletes) {
      e.array(2);
      e.str(child_id);
      e.array(nodes.size());
      for (const NodeName& node : nodes) e.str(node);
    }
  }
};

// The keys of a Command, "v" first.
// clang-format off
enum : std::size_t {
  kCv, kCid, kChub, kCop, kCtable, kChooks, kCtimeout,  // every op
  kCspec, kCnp, kCmd, kCttl,                            // insert
  kCentries,                                            // bulk_insert
  kCchild,                                              // erase, update
  kCdels,                                               // bulk_delete
  kCrev, kCentry,                                       // update
  kCnode,                                               // node_down
  kCmin, kCcur, kClim,                                  // reads
  kCtag, kCcids, kCwmd, kCscope                         // reads, by op
};
// clang-format on

// The keys `op` requires besides the common ones.
std::uint32_t required_by(CommandOp op) {
  switch (op) {
    case CommandOp::kInsert:
      return bits(kCspec, kCnp, kCmd);
    case CommandOp::kBulkInsert:
      return bits(kCentries);
    case CommandOp::kErase:
      return bits(kCchild);
    case CommandOp::kBulkDelete:
      return bits(kCdels);
    case CommandOp::kUpdate:
      return bits(kCchild, kCrev, kCentry);
    case CommandOp::kClearAll:
      return 0;
    case CommandOp::kNodeDown:
      return bits(kCnode);
    case CommandOp::kLookup:
    case CommandOp::kGetPid:
    case CommandOp::kGetPids:
    case CommandOp::kLocalPid:
    case CommandOp::kEntryExists:
      return bits(kCchild);
    case CommandOp::kContainsChildren:
      return bits(kCcids);
    case CommandOp::kMatchTag:
      return bits(kCtag);
    default:
      return 0;
  }
}

// The keys a command is written with: the common ones and its op's (with "ttl" if it has one).
std::uint32_t written_keys(const Command& m) {
  if (is_read(m.op)) {
    return bits(kCv, kCid, kChub, kCop, kCtable, kCtimeout) | required_by(m.op) |
           (m.at_least_seq != 0 ? bits(kCmin) : 0u) | (!m.cursor.empty() ? bits(kCcur) : 0u) |
           (m.limit != 0 ? bits(kClim) : 0u) | (m.op == CommandOp::kLookup ? bits(kCwmd) : 0u) |
           (m.op == CommandOp::kProcessList ? bits(kCscope) : 0u);
  }
  const bool ttl = m.op == CommandOp::kInsert && m.ttl_ms.has_value();
  return bits(kCv, kCid, kChub, kCop, kCtable, kChooks, kCtimeout) | required_by(m.op) |
         (ttl ? bits(kCttl) : 0u);
}

bool check_op_keys(Decoder& d, Command* m, const ReadState& state);

constexpr auto kCommand = make_request_body<Command, kCommandOps>(
    "command",
    std::array{field<&Command::table>("tbl", kOptional),
               field<&Command::hooks>("hk", kOptional),
               field<&Command::timeout_ms>("tmo", kOptional),
               field<&Command::spec>("spec", kOptional),
               field<&Command::node_pids>("np", kOptional),
               field<&Command::metadata>("md", kOptional),
               field<&Command::ttl_ms>("ttl", kOptional),
               field<&Command::entries, Entries>("entries", kOptional),
               field<&Command::child_id>("cid", kOptional),
               field<&Command::deletes, Deletes>("dels", kOptional),
               field<&Command::expect_revision>("rev", kOptional),
               field<&Command::entry>("entry", kOptional),
               field<&Command::node>("node", kOptional),
               field<&Command::at_least_seq>("min", kOptional),
               field<&Command::cursor, Bin>("cur", kOptional),
               field<&Command::limit>("lim", kOptional),
               field<&Command::tag>("tag", kOptional),
               field<&Command::ids, Ids>("cids", kOptional),
               field<&Command::with_metadata>("wmd", kOptional),
               field<&Command::local, ScopeName>("scope", kOptional)},
    {.written = written_keys, .check = check_op_keys});

// The keys its op requires must be present.
bool check_op_keys(Decoder& d, Command* m, const ReadState& state) {
  const std::uint32_t missing = required_by(m->op) & ~state.seen;
  for (std::size_t i = 0; i < kCommand.keys.keys.size(); ++i) {
    if ((missing >> i) & 1u) {
      return d.fail(Code::kCorruption,
                    "missing key " + events::quote(kCommand.keys.keys[i]) + " of op " +
                        std::string(kCommandOps[static_cast<std::size_t>(m->op)]),
                    false);
    }
  }
  return true;
}

// A reply has "res" and "next" only when they are not empty.
std::uint32_t reply_keys(const CommandReply& m) {
  return bits(0, 1, 2, 3, 4) | (!m.result.empty() ? bits(5) : 0u) |
         (!m.next.empty() ? bits(6) : 0u) | (m.term != 0 ? bits(7) : 0u) |
         (m.incarnation != 0 ? bits(8) : 0u);
}

constexpr auto kReply = make_body<CommandReply>(
    "command_reply",
    std::array{field<&CommandReply::id>("id"), field<&CommandReply::status>("status"),
               field<&CommandReply::seq>("seq"), field<&CommandReply::epoch>("ep"),
               field<&CommandReply::result, Raw>("res", kOptional),
               field<&CommandReply::next, Bin>("next", kOptional),
               field<&CommandReply::term>("tm", kOptional),
               field<&CommandReply::incarnation>("inc", kOptional)},
    {.written = reply_keys});

}  // namespace

std::string_view op_name(CommandOp op) { return kCommandOps[static_cast<std::size_t>(op)]; }

std::optional<CommandOp> op_named(std::string_view name) {
  for (std::size_t i = 0; i < kCommandOps.size(); ++i) {
    if (kCommandOps[i] == name) return static_cast<CommandOp>(i);
  }
  return std::nullopt;
}

void encode(const Command& m, std::string* out) {
  assert(!m.hub.empty() && "the hub is never empty");
  encode_body(kCommand, m, out);
}

Result<Command> decode_command(std::string_view bytes, const DecodeLimits& limits) {
  return decode_body(kCommand, bytes, limits);
}

void encode(const CommandReply& m, std::string* out) { encode_body(kReply, m, out); }

Result<CommandReply> decode_command_reply(std::string_view bytes, const DecodeLimits& limits) {
  return decode_body(kReply, bytes, limits);
}

}  // namespace procreg::plugin::wire
