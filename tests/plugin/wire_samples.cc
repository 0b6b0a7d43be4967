#include "plugin/wire_samples.h"

#include <cassert>
#include <utility>

#include <msgpack.hpp>

#include "events/encoder.h"
#include "events/row_codec.h"

namespace procreg::plugin::wire::test {

Row sample_row(bool ttl) {
  Row row;
  row.entry.spec = make_spec("w1", "M", "f", {Value("a"), Value(1)});
  row.entry.spec.extra["restart"] = Value("temporary");
  row.entry.node_pids = {{"n1", "p1"}, {"n2", "p2"}};
  row.entry.metadata[kTagKey] = Value("db");
  if (ttl) row.expires_at_ms = 1700000060000;
  return row;
}

Entry sample_entry() { return sample_row(false).entry; }

EventHeader sample_event_header() { return EventHeader{7, 3, 5}; }
EventHeader sample_event_batch_header() { return EventHeader{7, 3, 5, 3}; }
HookHeader sample_hook_header() { return HookHeader{7, 3, 4, 6, 1, 2}; }
HookPayload sample_hook_payload() { return HookPayload{"hub", "tbl", "w1", {{"n1", "p1"}}}; }
Heartbeat sample_heartbeat() { return Heartbeat{7, 3, 1700000000000, 6, 5}; }

ReplayRequest sample_range_request() {
  ReplayRequest m;
  m.id = 42;
  m.hub = "hub";
  m.op = ReplayOp::kRange;
  m.from = 8;
  return m;
}

ReplayRequest sample_snapshot_request() {
  ReplayRequest m;
  m.id = 43;
  m.hub = "hub";
  m.op = ReplayOp::kSnapshot;
  m.snapshot_id = 9;
  m.offset = 1024;
  m.max_events = 512;
  return m;
}

ReplayRequest sample_files_request() {
  ReplayRequest m;
  m.id = 44;
  m.hub = "hub";
  m.op = ReplayOp::kFiles;
  return m;
}

ReplayRequest sample_standby_files_request() {
  ReplayRequest m = sample_files_request();
  m.id = 46;
  m.standby = "sb1";
  m.have = 9;
  m.wait_ms = 500;
  m.have_incarnation = kSampleIncarnation;
  return m;
}

ReplayRequest sample_carrying_files_request() {
  ReplayRequest m = sample_standby_files_request();
  m.id = 47;
  m.ahead = true;
  m.name = "00000000000000000001.log";
  m.offset = 4711;
  m.max_bytes = 65536;
  return m;
}

ReplayReplyHeader sample_carrying_files_reply() {
  ReplayReplyHeader m;
  m.id = 47;
  m.epoch = 3;
  m.head = 10;
  m.count = 2;
  m.end = true;
  m.next_offset = 4858;
  m.total = 1;
  return m;
}

ReplayRequest sample_file_request() {
  ReplayRequest m;
  m.id = 45;
  m.hub = "hub";
  m.op = ReplayOp::kFile;
  m.name = "00000000000000000001.log";
  m.offset = 39;
  m.max_bytes = 65536;
  return m;
}

LogFile sample_log_file() {
  return LogFile{"00000000000000000001.log", LogFileKind::kSegment, 4711, 1, 9, false};
}

ReplayReplyHeader sample_file_reply() {
  ReplayReplyHeader m;
  m.id = 45;
  m.epoch = 3;
  m.head = 9;
  m.count = 1;
  m.next_offset = 4711;
  m.total = 4711;
  return m;
}

ReplayReplyHeader sample_range_reply() {
  ReplayReplyHeader m;
  m.id = 42;
  m.epoch = 3;
  m.head = 9;
  m.first = 8;
  m.last = 9;
  m.count = 2;
  m.end = true;
  return m;
}

ReplayReplyHeader sample_snapshot_reply() {
  ReplayReplyHeader m;
  m.id = 43;
  m.epoch = 3;
  m.head = 9;
  m.last = 9;
  m.count = 2;
  m.end = false;
  m.snapshot_id = 9;
  m.next_offset = 2;
  m.total = 3;
  return m;
}

ReplayReplyHeader sample_error_reply() {
  ReplayReplyHeader m;
  m.id = 43;
  m.status = Status::not_found("snapshot 9 expired, start again");  // as the service says it
  m.epoch = 3;
  m.head = 9;
  return m;
}

SnapshotRow sample_snapshot_row() { return SnapshotRow{"tbl", sample_row(true), 7}; }

CommandReply sample_command_reply() { return CommandReply{42, Status(), 8, 3, {}, {}}; }

EventHeader sample_event_header_of_term() {
  EventHeader m = sample_event_header();
  m.term = 2;
  m.incarnation = kSampleIncarnation;
  m.prev_incarnation = kSampleIncarnation;
  return m;
}

Heartbeat sample_heartbeat_of_term() {
  Heartbeat m = sample_heartbeat();
  m.term = 2;
  m.incarnation = kSampleIncarnation;
  m.start_seq = 5;
  return m;
}

Heartbeat sample_heartbeat_with_endpoints() {
  Heartbeat m = sample_heartbeat_of_term();
  m.replay_endpoint = "tcp://h:3";
  m.command_endpoint = "tcp://h:4";
  return m;
}

ReplayReplyHeader sample_range_reply_of_term() {
  ReplayReplyHeader m = sample_range_reply();
  m.term = 2;
  m.incarnation = kSampleIncarnation;
  m.start_seq = 8;
  m.prev_incarnation = kSamplePrevIncarnation;
  m.last_incarnation = kSampleIncarnation;
  return m;
}

CommandReply sample_command_reply_of_term() {
  CommandReply m = sample_command_reply();
  m.term = 2;
  m.incarnation = kSampleIncarnation;
  return m;
}

CommandReply sample_conflict_reply() {
  return CommandReply{42, Status::conflict("row 'w1' is at revision 8, not 7"), 0, 3, {}, {}};
}

namespace {

// id 42, hub "hub", the default table, timeout 5000 ms, nothing else.
Command command_of(CommandOp op) {
  Command m;
  m.id = 42;
  m.hub = "hub";
  m.op = op;
  m.timeout_ms = 5000;
  return m;
}

}  // namespace

Command sample_command(CommandOp op) {
  Command m = command_of(op);
  m.hooks = op != CommandOp::kUpdate && op != CommandOp::kClearAll;
  switch (op) {
    case CommandOp::kInsert: {
      Entry entry = sample_entry();
      m.spec = std::move(entry.spec);
      m.node_pids = std::move(entry.node_pids);
      m.metadata = std::move(entry.metadata);
      m.ttl_ms = 60000;
      break;
    }
    case CommandOp::kBulkInsert:
      m.entries = {sample_entry(), Entry{make_spec("w2", "M", "f"), {}, {}}};
      break;
    case CommandOp::kErase:
      m.child_id = "w1";
      break;
    case CommandOp::kBulkDelete:
      m.deletes = {{"w1", {"n1"}}, {"w2", {}}};
      break;
    case CommandOp::kUpdate:
      m.child_id = "w1";
      m.expect_revision = 7;
      m.entry = sample_entry();
      break;
    case CommandOp::kClearAll:
      break;
    case CommandOp::kNodeDown:
      m.node = "n1";
      break;
    default:  // the reads: sample_read()
      break;
  }
  return m;
}

Command sample_read(CommandOp op) {
  Command m = command_of(op);
  switch (op) {
    case CommandOp::kLookup:
      m.child_id = "w1";
      m.with_metadata = true;
      break;
    case CommandOp::kGetPid:
    case CommandOp::kGetPids:
    case CommandOp::kLocalPid:
    case CommandOp::kEntryExists:
      m.child_id = "w1";
      break;
    case CommandOp::kContainsChildren:
      m.ids = {"w1", "w2"};
      break;
    case CommandOp::kMatchTag:
      m.tag = "db";
      break;
    case CommandOp::kProcessList:
      m.local = true;
      break;
    default:  // no keys of their own
      break;
  }
  return m;
}

std::string sample_cursor_w1() { return from_hex("9501a368756205cf0123456789abcdefa27731"); }

std::string sample_cursor_w2() { return from_hex("9501a368756205cf89abcdef01234567a27732"); }

Command sample_get_pid_request() {
  Command m = sample_read(CommandOp::kGetPid);
  m.at_least_seq = 8;
  return m;
}

CommandReply sample_get_pid_reply() {
  return CommandReply{42, Status(), 8, 3, from_hex("a27031"), {}};
}

Command sample_dump_page_request() {
  Command m = sample_read(CommandOp::kDump);
  m.cursor = sample_cursor_w1();
  m.limit = 1;
  return m;
}

CommandReply sample_dump_page_reply() {
  std::string row;
  events::Encoder e(&row);
  e.array(1);
  e.array(2);
  e.str("w1");
  events::write_entry(e, sample_entry());
  return CommandReply{42, Status(), 9, 3, row, sample_cursor_w2()};
}

namespace {

template <typename T>
std::string encoded(const T& m) {
  std::string out;
  encode(m, &out);
  return out;
}

template <typename T, typename Decode>
Kind make_kind(std::string name, const T& sample, Decode decode) {
  Kind kind;
  kind.name = std::move(name);
  kind.bytes = encoded(sample);
  kind.decode = [decode](std::string_view bytes, const events::DecodeLimits& limits) {
    return decode(bytes, limits).status();
  };
  kind.reencode = [decode](std::string_view bytes) {
    const Result<T> decoded = decode(bytes, events::DecodeLimits{});
    return decoded.ok() ? encoded(*decoded) : std::string();
  };
  return kind;
}

// Decoders without a limits parameter use the defaults; the tests of limits use the others.
template <typename F>
auto ignoring_limits(F f) {
  return [f](std::string_view bytes, const events::DecodeLimits&) { return f(bytes); };
}

// The map at the top of `bytes`, parsed by msgpack-cxx, and its re-encoding after `edit`.
std::string edit(std::string_view bytes,
                 const std::function<void(msgpack::object_map*, msgpack::zone*)>& f) {
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  msgpack::object root = handle.get();
  assert(root.type == msgpack::type::MAP);
  msgpack::zone& zone = *handle.zone();
  f(&root.via.map, &zone);
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, root);
  return std::string(buffer.data(), buffer.size());
}

msgpack::object object_of(std::string_view item, msgpack::zone* zone) {
  return msgpack::unpack(*zone, item.data(), item.size());
}

msgpack::object key_object(std::string_view key, msgpack::zone* zone) {
  return msgpack::object(std::string(key), *zone);
}

bool is_key(const msgpack::object& o, std::string_view key) {
  return o.type == msgpack::type::STR && std::string_view(o.via.str.ptr, o.via.str.size) == key;
}

// Replaces the pairs of `map` with `pairs` (allocated in the zone).
void set_pairs(msgpack::object_map* map, const std::vector<msgpack::object_kv>& pairs,
               msgpack::zone* zone) {
  auto* out = static_cast<msgpack::object_kv*>(
      zone->allocate_align(sizeof(msgpack::object_kv) * (pairs.size() + 1)));
  for (std::size_t i = 0; i < pairs.size(); ++i) out[i] = pairs[i];
  map->ptr = out;
  map->size = static_cast<std::uint32_t>(pairs.size());
}

std::vector<msgpack::object_kv> pairs_of(const msgpack::object_map& map) {
  return {map.ptr, map.ptr + map.size};
}

}  // namespace

Kind with_newest(Kind kind, std::uint32_t newest) {
  kind.newest = newest;
  return kind;
}

std::vector<Kind> kinds() {
  const auto command = [](std::string_view b, const events::DecodeLimits& l) {
    return decode_command(b, l);
  };
  Command insert_without_ttl = sample_command(CommandOp::kInsert);
  insert_without_ttl.ttl_ms.reset();
  return {
      with_newest(
          make_kind("event_header", sample_event_header(), ignoring_limits(decode_event_header)),
          kEventBatchVersion),
      with_newest(make_kind("event_batch_header", sample_event_batch_header(),
                            ignoring_limits(decode_event_header)),
                  kEventBatchVersion),
      make_kind("hook_header", sample_hook_header(), ignoring_limits(decode_hook_header)),
      make_kind("hook_payload", sample_hook_payload(),
                [](std::string_view b, const events::DecodeLimits& l) {
                  return decode_hook_payload(b, l);
                }),
      make_kind("heartbeat", sample_heartbeat(), ignoring_limits(decode_heartbeat)),
      make_kind("range_request", sample_range_request(), ignoring_limits(decode_replay_request)),
      make_kind("snapshot_request", sample_snapshot_request(),
                ignoring_limits(decode_replay_request)),
      make_kind("range_reply", sample_range_reply(), ignoring_limits(decode_replay_reply_header)),
      make_kind("snapshot_reply", sample_snapshot_reply(),
                ignoring_limits(decode_replay_reply_header)),
      make_kind("error_reply", sample_error_reply(), ignoring_limits(decode_replay_reply_header)),
      make_kind("snapshot_row", sample_snapshot_row(),
                [](std::string_view b, const events::DecodeLimits& l) {
                  return decode_snapshot_row(b, l);
                }),
      make_kind("insert", sample_command(CommandOp::kInsert), command),
      make_kind("insert_without_ttl", insert_without_ttl, command),
      make_kind("bulk_insert", sample_command(CommandOp::kBulkInsert), command),
      make_kind("erase", sample_command(CommandOp::kErase), command),
      make_kind("bulk_delete", sample_command(CommandOp::kBulkDelete), command),
      make_kind("update", sample_command(CommandOp::kUpdate), command),
      make_kind("clear_all", sample_command(CommandOp::kClearAll), command),
      make_kind("node_down", sample_command(CommandOp::kNodeDown), command),
      make_kind("command_reply", sample_command_reply(), decode_command_reply),
      make_kind("conflict_reply", sample_conflict_reply(), decode_command_reply),
  };
}

std::string replace_value(std::string_view bytes, std::string_view key, std::string_view item) {
  return edit(bytes, [&](msgpack::object_map* map, msgpack::zone* zone) {
    for (std::uint32_t i = 0; i < map->size; ++i) {
      if (is_key(map->ptr[i].key, key)) map->ptr[i].val = object_of(item, zone);
    }
  });
}

std::string remove_key(std::string_view bytes, std::string_view key) {
  return edit(bytes, [&](msgpack::object_map* map, msgpack::zone* zone) {
    std::vector<msgpack::object_kv> pairs;
    for (const msgpack::object_kv& kv : pairs_of(*map)) {
      if (!is_key(kv.key, key)) pairs.push_back(kv);
    }
    set_pairs(map, pairs, zone);
  });
}

std::string duplicate_key(std::string_view bytes, std::string_view key) {
  return edit(bytes, [&](msgpack::object_map* map, msgpack::zone* zone) {
    std::vector<msgpack::object_kv> pairs = pairs_of(*map);
    for (const msgpack::object_kv& kv : pairs_of(*map)) {
      if (is_key(kv.key, key)) pairs.push_back(kv);
    }
    set_pairs(map, pairs, zone);
  });
}

std::string add_key(std::string_view bytes, std::string_view key, std::string_view item) {
  return edit(bytes, [&](msgpack::object_map* map, msgpack::zone* zone) {
    std::vector<msgpack::object_kv> pairs = pairs_of(*map);
    pairs.push_back(msgpack::object_kv{key_object(key, zone), object_of(item, zone)});
    set_pairs(map, pairs, zone);
  });
}

std::string move_last(std::string_view bytes, std::string_view key) {
  return edit(bytes, [&](msgpack::object_map* map, msgpack::zone* zone) {
    std::vector<msgpack::object_kv> pairs;
    std::vector<msgpack::object_kv> moved;
    for (const msgpack::object_kv& kv : pairs_of(*map)) {
      (is_key(kv.key, key) ? moved : pairs).push_back(kv);
    }
    pairs.insert(pairs.end(), moved.begin(), moved.end());
    set_pairs(map, pairs, zone);
  });
}

std::vector<std::string> keys(std::string_view bytes) {
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  const msgpack::object root = handle.get();
  assert(root.type == msgpack::type::MAP);
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object& key = root.via.map.ptr[i].key;
    out.emplace_back(key.via.str.ptr, key.via.str.size);
  }
  return out;
}

}  // namespace procreg::plugin::wire::test
