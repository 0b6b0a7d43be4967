// The command channel's reads (plugin/read_requests.h). Each result is one MessagePack item,
// written with the event format's encodings of a spec, node pairs and an entry
// (events/row_codec.h); docs/PROTOCOL.md, "Reads", lists them per op.
#include "plugin/read_requests.h"

#include <algorithm>
#include <optional>

#include "events/decoder.h"
#include "events/encoder.h"
#include "events/row_codec.h"
#include "registry/registry_access.h"

namespace procreg::plugin {

namespace {

using events::Decoder;
using events::Encoder;
using wire::CommandOp;

constexpr std::uint64_t kCursorVersion = 1;

// A cursor: the bytes of [1, table, token, key, id] (opaque to clients).
std::string encode_cursor(const std::string& table, const replay::PagePosition& at) {
  std::string out;
  Encoder e(&out);
  e.array(5);
  e.uint(kCursorVersion);
  e.str(table);
  e.uint(at.token);
  e.uint(at.key);
  e.str(at.id);
  return out;
}

Status decode_cursor(const std::string& bytes, std::string* table,
                     std::optional<replay::PagePosition>* at) {
  Status bad = Status::invalid_argument(
      "malformed cursor: send back the \"next\" of the previous page unchanged");
  const events::DecodeLimits limits{};  // (the decoder keeps a reference)
  Decoder d(bytes, limits, "cursor");
  std::uint64_t version = 0;
  replay::PagePosition p;
  if (!d.read_tuple_head(5) || !d.read_uint(&version) || version != kCursorVersion ||
      !d.read_string(table) || !d.read_uint(&p.token) || !d.read_uint(&p.key) ||
      !d.read_string(&p.id) || !d.finish()) {
    return bad;
  }
  // A token of 0 starts the named table at its first row (dump_all_tables moving on).
  if (p.token != 0) *at = std::move(p);
  return Status();
}

void write_pairs(Encoder& e, const ChildId& id, const NodePids& node_pids) {
  e.array(2);
  e.str(id);
  e.node_pids(node_pids);
}

// The result of a paged op: an array of one item per row.
void write_rows(Encoder& e, CommandOp op, const replay::RowsPage& page) {
  e.array(page.rows.size());
  for (const auto& [id, entry] : page.rows) {
    switch (op) {
      case CommandOp::kMatchTag:
      case CommandOp::kProcessList:
        write_pairs(e, id, entry.node_pids);
        break;
      case CommandOp::kRegistry:
        e.array(3);
        e.str(id);
        events::write_spec(e, entry.spec);
        e.node_pids(entry.node_pids);
        break;
      case CommandOp::kLocalChildSpecs:
        events::write_spec(e, entry.spec);
        break;
      case CommandOp::kDumpAllTables:
        e.array(3);
        e.str(page.table);
        e.str(id);
        events::write_entry(e, entry);
        break;
      default:  // dump, dump_all, local_children, local_data
        e.array(2);
        e.str(id);
        events::write_entry(e, entry);
        break;
    }
  }
}

// The rows each paged op reads.
replay::PageQuery query_of(const wire::Command& c) {
  replay::PageQuery q;
  q.table = c.table;
  q.limits.rows = c.limit == 0 ? kDefaultPageRows : std::min(c.limit, kMaxPageRows);
  q.limits.bytes = kPageBytes;
  switch (c.op) {
    case CommandOp::kMatchTag:
      q.source = replay::PageSource::kTagged;
      q.tag = c.tag;
      break;
    case CommandOp::kDump:
    case CommandOp::kRegistry:
      q.bound_only = true;
      break;
    case CommandOp::kProcessList:
      if (c.local) {
        q.source = replay::PageSource::kLocal;
        q.local_pid = true;
      } else {
        q.bound_only = true;
      }
      break;
    case CommandOp::kLocalChildren:
    case CommandOp::kLocalData:
    case CommandOp::kLocalChildSpecs:
      q.source = replay::PageSource::kLocal;
      break;
    case CommandOp::kDumpAllTables:
      q.all_tables = true;
      q.table.clear();
      break;
    default:  // dump_all
      break;
  }
  return q;
}

Status read_paged(const Registry& r, const wire::Command& c, wire::CommandReply* reply) {
  replay::PageQuery q = query_of(c);
  if (!c.cursor.empty()) {
    std::string table;
    Status s = decode_cursor(c.cursor, &table, &q.from);
    if (!s.ok()) return s;
    if (c.op == CommandOp::kDumpAllTables) {
      q.table = table;
    } else if (table != (c.table.empty() ? r.hub() : c.table)) {
      return Status::invalid_argument("the cursor is of table '" + table + "', not this read's");
    }
  }
  Result<replay::RowsPage> page = replay::RegistryAccess::read_page(r, q);
  if (!page.ok()) return page.status();
  if (c.op == CommandOp::kProcessList && c.local) {
    for (auto& [id, entry] : page->rows) {  // {id, [{local_node, its first pid}]}
      auto it = std::find_if(entry.node_pids.begin(), entry.node_pids.end(),
                             [&](const NodePid& np) { return np.node == r.local_node(); });
      entry.node_pids = NodePids{*it};
    }
  }
  Encoder e(&reply->result);
  write_rows(e, c.op, *page);
  reply->seq = page->seq;
  reply->epoch = page->epoch;
  if (page->more) {
    reply->next =
        encode_cursor(page->next_table, page->next.value_or(replay::PagePosition{0, 0, {}}));
  }
  return Status();
}

void write_stats(Encoder& e, const Registry& r) {
  const RegistryStats s = r.stats();
  const std::pair<const char*, std::uint64_t> fields[] = {
      {"events_written", s.events_written},
      {"bytes_written", s.bytes_written},
      {"writes_without_event", s.writes_without_event},
      {"invalid_calls", s.invalid_calls},
      {"rows_expired", s.rows_expired},
      {"hook_events", s.hook_events},
      {"hook_handler_errors", s.hook_handler_errors},
      {"snapshots_written", s.snapshots_written},
      {"snapshot_failures", s.snapshot_failures},
      {"last_snapshot_seq", s.last_snapshot_seq},
      {"segments_compacted", s.segments_compacted},
      {"log_syncs", s.log_syncs},
      {"log_synced_events", s.log_synced_events},
      {"log_largest_sync_group", s.log_largest_sync_group},
      {"write_calls", s.write_calls},
      {"write_groups", s.write_groups},
      {"largest_write_group", s.largest_write_group},
      {"write_calls_queued", s.write_calls_queued}};
  e.map(std::size(fields) + 6);
  for (const auto& [key, value] : fields) {
    e.str(key);
    e.uint(value);
  }
  e.str("last_snapshot_error");
  e.str(s.last_snapshot_error);
  e.str("hub");
  e.str(r.hub());
  e.str("local_node");
  e.str(r.local_node());
  e.str("role");
  e.str(r.is_replica() ? "replica" : r.read_only() ? "read_only" : "writer");
  e.str("last_sequence");
  e.uint(r.last_sequence());
  e.str("epoch");
  e.uint(r.epoch());
}

// The point reads and stats: one answer.
void read_point(const Registry& r, const wire::Command& c, Encoder& e) {
  ReadOptions o;
  o.table = c.table;
  switch (c.op) {
    case CommandOp::kLookup: {
      // The row's revision too: what a remote update sends back ("rev").
      auto found = replay::RegistryAccess::lookup_revision(r, c.table, c.child_id);
      if (!found) return e.nil();
      e.map(c.with_metadata ? 4 : 3);
      e.str("spec");
      events::write_spec(e, found->lookup.spec);
      e.str("np");
      e.node_pids(found->lookup.node_pids);
      if (c.with_metadata) {
        e.str("md");
        e.value_map(*found->lookup.metadata);
      }
      e.str("rev");
      e.uint(found->revision);
      return;
    }
    case CommandOp::kGetPid:
    case CommandOp::kLocalPid: {
      std::optional<Pid> pid =
          c.op == CommandOp::kGetPid ? r.get_pid(c.child_id, o) : r.local_pid(c.child_id, o);
      if (!pid) return e.nil();
      return e.str(*pid);
    }
    case CommandOp::kGetPids: {
      std::vector<Pid> pids = r.get_pids(c.child_id, o);
      e.array(pids.size());
      for (const Pid& p : pids) e.str(p);
      return;
    }
    case CommandOp::kEntryExists:
      return e.boolean(r.entry_exists(c.child_id, o));
    case CommandOp::kContainsChildren: {
      std::vector<ChildId> ids = r.contains_children(c.ids, o);
      e.array(ids.size());
      for (const ChildId& id : ids) e.str(id);
      return;
    }
    default:  // stats
      return write_stats(e, r);
  }
}

bool is_paged(CommandOp op) {
  switch (op) {
    case CommandOp::kMatchTag:
    case CommandOp::kDump:
    case CommandOp::kDumpAll:
    case CommandOp::kRegistry:
    case CommandOp::kProcessList:
    case CommandOp::kLocalChildren:
    case CommandOp::kLocalData:
    case CommandOp::kLocalChildSpecs:
    case CommandOp::kDumpAllTables:
      return true;
    default:
      return false;
  }
}

}  // namespace

wire::CommandReply execute_read(const Registry& registry, const wire::Command& c) {
  wire::CommandReply reply;
  reply.id = c.id;
  if (is_paged(c.op)) {
    Status s = read_paged(registry, c, &reply);
    if (!s.ok()) {
      reply.result.clear();
      reply.next.clear();
      reply.epoch = registry.epoch();
      reply.status = std::move(s);
    }
    return reply;
  }
  // The state read is at least the one at this seq (a later event may be applied meanwhile).
  reply.seq = registry.last_sequence();
  reply.epoch = registry.epoch();
  Encoder e(&reply.result);
  read_point(registry, c, e);
  return reply;
}

}  // namespace procreg::plugin
