// The wire protocol's topics and MessagePack bodies (plugin/wire.h, docs/PROTOCOL.md).
//
// Bodies, wire version 1. `?` marks an optional key; "v" comes first, then the keys in the
// order shown, which is the order procreg writes (readers accept any order, skip unknown keys,
// and refuse duplicate keys, missing required keys and wrong types):
//
//   status        = map { "code": str code_name, "message": str }
//   EventHeader   = map { "v", "seq": uint, "ep": uint, "prev": uint table_prev }
//   HookHeader    = map { "v", "seq": uint, "ep": uint, "prev": uint kind_prev,
//                         "hprev": uint hook_prev, "i": uint32 index, "n": uint32 count }
//                                                                              (i < n)
//   HookPayload   = map { "v", "hub": str, "tbl": str, "id": str child_id, "np": node_pids }
//   Heartbeat     = map { "v", "seq": uint, "ep": uint, "t": int time_ms,
//                         "reg": uint registered_head, "unreg": uint unregistered_head }
//   ReplayRequest = map { "v", "id": uint, "hub": str, "op": "range" | "snapshot",
//                         "from"?: uint, "to"?: uint, "sid"?: uint snapshot_id,
//                         "off"?: uint offset, "max_n"?: uint32 max_events,
//                         "max_b"?: uint32 max_bytes }
//   ReplayReplyHeader = map { "v", "id": uint, "status": status, "ep": uint, "head": uint,
//                         "first": uint, "last": uint, "n": uint32 count, "end": bool,
//                         "sid": uint snapshot_id, "next": uint next_offset, "total": uint }
//   SnapshotRow   = map { "v", "tbl": str, "row": row, "rev": uint revision }
//   Command       = map { "v", "id": uint, "hub": str, "op": str, "tbl"?: str,
//                         "hk"?: bool hooks, "tmo"?: uint32 timeout_ms, then by op:
//                   insert:      "spec": spec, "np": node_pids, "md": map, "ttl"?: int
//                   bulk_insert: "entries": [entry, ...]
//                   erase:       "cid": str child_id
//                   bulk_delete: "dels": [[str child_id, [str node, ...]], ...]
//                   update:      "cid": str, "rev": uint expect_revision, "entry": entry
//                   clear_all:   nothing }
//   CommandReply  = map { "v", "id": uint, "status": status, "seq": uint, "ep": uint }
//
// "hub" and the "tbl" of a HookPayload or SnapshotRow are not empty; a Command's "tbl" may be
// ("" is the hub's default table). Optional keys read as their C++ defaults when absent.
// row, entry, spec and node_pids are the event format's (events/row_codec.h). A command's op
// keys of another op are read (type-checked) and kept; the writer ignores them.

#include "plugin/wire.h"

#include <array>
#include <cassert>
#include <cstddef>
#include <exception>
#include <limits>
#include <string>

#include "events/decoder.h"
#include "events/encoder.h"
#include "events/row_codec.h"
#include "events/snapshot_row.h"

namespace procreg::plugin::wire {

namespace {

using events::bits;
using events::DecodeLimits;
using events::Decoder;
using events::Encoder;
using events::Fields;

// ---- keys ---------------------------------------------------------------------------------

constexpr std::string_view kV = "v";
constexpr std::string_view kSeq = "seq";
constexpr std::string_view kEpoch = "ep";
constexpr std::string_view kPrev = "prev";
constexpr std::string_view kHookPrev = "hprev";
constexpr std::string_view kIndex = "i";
constexpr std::string_view kCount = "n";
constexpr std::string_view kHub = "hub";
constexpr std::string_view kTable = "tbl";
constexpr std::string_view kChildIdKey = "id";  // HookPayload
constexpr std::string_view kNodePids = "np";
constexpr std::string_view kTime = "t";
constexpr std::string_view kRegistered = "reg";
constexpr std::string_view kUnregistered = "unreg";
constexpr std::string_view kId = "id";
constexpr std::string_view kOp = "op";
constexpr std::string_view kFrom = "from";
constexpr std::string_view kTo = "to";
constexpr std::string_view kSnapshotId = "sid";
constexpr std::string_view kOffset = "off";
constexpr std::string_view kMaxEvents = "max_n";
constexpr std::string_view kMaxBytes = "max_b";
constexpr std::string_view kStatus = "status";
constexpr std::string_view kHead = "head";
constexpr std::string_view kFirst = "first";
constexpr std::string_view kLast = "last";
constexpr std::string_view kEnd = "end";
constexpr std::string_view kNextOffset = "next";
constexpr std::string_view kTotal = "total";
constexpr std::string_view kRevision = "rev";
constexpr std::string_view kHooks = "hk";
constexpr std::string_view kTimeout = "tmo";
constexpr std::string_view kSpec = "spec";
constexpr std::string_view kMetadata = "md";
constexpr std::string_view kTtl = "ttl";
constexpr std::string_view kEntries = "entries";
constexpr std::string_view kChildId = "cid";
constexpr std::string_view kDeletes = "dels";
constexpr std::string_view kEntry = "entry";
constexpr std::string_view kNode = "node";
constexpr std::string_view kCode = "code";
constexpr std::string_view kMessage = "message";

constexpr std::string_view kVersionNoun = "wire version";

// Op names, indexed by the enums' values.
constexpr std::array<std::string_view, 2> kReplayOps = {"range", "snapshot"};
constexpr std::array<std::string_view, 7> kCommandOps = {
    "insert", "bulk_insert", "erase", "bulk_delete", "update", "clear_all", "node_down"};

// ---- topics -------------------------------------------------------------------------------

constexpr std::string_view kEventsPart = "e/";
constexpr std::string_view kHooksPart = "h/";
constexpr std::string_view kHeartbeatPart = "hb";

// ---- encoding -----------------------------------------------------------------------------

void write_status(Encoder& enc, const Status& status) {
  enc.map(2);
  enc.str(kCode);
  enc.str(code_name(status.code()));
  enc.str(kMessage);
  enc.str(status.message());
}

// Starts a body of `pairs` keys besides "v".
void begin(Encoder& enc, std::size_t pairs) {
  enc.map(1 + pairs);
  enc.str(kV);
  enc.uint(kWireVersion);
}

void write_uint(Encoder& enc, std::string_view key, std::uint64_t value) {
  enc.str(key);
  enc.uint(value);
}

void write_str(Encoder& enc, std::string_view key, std::string_view value) {
  enc.str(key);
  enc.str(value);
}

// ---- decoding -----------------------------------------------------------------------------

bool read_u32(Decoder& d, std::uint32_t* out) {
  std::uint64_t value = 0;
  if (!d.read_uint(&value)) return false;
  if (value > std::numeric_limits<std::uint32_t>::max()) {
    return d.fail(Code::kCorruption, "integer " + std::to_string(value) + " exceeds uint32");
  }
  *out = static_cast<std::uint32_t>(value);
  return true;
}

// The value of "v" inside read_fields; check_version has already accepted it.
bool read_version(Decoder& d) {
  std::uint32_t version = 0;
  return d.read_version(kVersionNoun, kWireVersion, &version);
}

template <typename Enum, std::size_t N>
bool read_enum(Decoder& d, const std::array<std::string_view, N>& names, Enum* out) {
  std::string_view name;
  if (!d.read_str(&name)) return false;
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) {
      *out = static_cast<Enum>(i);
      return true;
    }
  }
  return d.fail(Code::kUnsupported, "unknown op " + events::quote(name));
}

// The Code whose code_name is `name`, if any. Codes are numbered from 0 without gaps, and
// code_name answers "unknown" past the last one.
std::optional<Code> code_of(std::string_view name) {
  for (int i = 0;; ++i) {
    const std::string_view known = code_name(static_cast<Code>(i));
    if (known == "unknown") return std::nullopt;
    if (known == name) return static_cast<Code>(i);
  }
}

enum : std::size_t { kStatusCode, kStatusMessage };
constexpr Fields<2> kStatusFields{{kCode, kMessage}, bits(kStatusCode, kStatusMessage)};

bool read_status(Decoder& d, Status* out) {
  std::string code;
  std::string message;
  const bool ok = d.read_fields(kStatusFields, [&](std::size_t index) {
    return index == kStatusCode ? d.read_string(&code) : d.read_string(&message);
  });
  if (!ok) return false;
  if (const std::optional<Code> known = code_of(code)) {
    *out = Status(*known, std::move(message));
  } else {
    // A code of a newer peer: still an error, with what it said.
    *out = Status(Code::kInternal, "unknown status code " + events::quote(code) + ": " + message);
  }
  return true;
}

// Decodes one body occupying all of `bytes`: the size, then "v" before anything else, then
// read(decoder, &message), then no trailing bytes.
template <typename T, typename Read>
Result<T> decode_body(std::string_view bytes, const DecodeLimits& limits, std::string_view root,
                      Read&& read, std::uint32_t newest = kWireVersion) {
  return events::decode_without_throwing<T>([&]() -> Result<T> {
    Decoder d(bytes, limits, root);
    Result<T> result = T();
    if (!d.check_size(bytes.size()) || !d.check_version(kV, kVersionNoun, newest) ||
        !read(d, &*result) || !d.finish()) {
      result = std::move(d).error();
    }
    return result;
  });
}

// ---- topic parsing ------------------------------------------------------------------------

class TopicParser {
 public:
  explicit TopicParser(std::string_view topic) : topic_(topic), rest_(topic) {}

  bool literal(std::string_view s) {
    if (rest_.substr(0, s.size()) != s) return false;
    rest_.remove_prefix(s.size());
    return true;
  }

  // A netstring holding a non-empty name: digits without leading zeros, ':', the bytes.
  // Returns false (and sets error_) if the input is not one.
  bool netstring(std::string_view what, std::string* out) {
    std::size_t digits = 0;
    std::size_t length = 0;
    while (digits < rest_.size() && rest_[digits] >= '0' && rest_[digits] <= '9') {
      if (digits == 1 && rest_[0] == '0') return fail(what, "length with a leading zero");
      length = length * 10 + static_cast<std::size_t>(rest_[digits] - '0');
      ++digits;
      // The name must fit in what is left, which also keeps `length` from overflowing.
      if (length > rest_.size() - digits) return fail(what, "length exceeds the topic");
    }
    if (digits == 0) return fail(what, "expected a decimal length");
    if (digits == rest_.size() || rest_[digits] != ':') return fail(what, "expected ':'");
    rest_.remove_prefix(digits + 1);
    if (length > rest_.size()) return fail(what, "length exceeds the topic");
    if (length == 0) return fail(what, "empty name");
    out->assign(rest_.substr(0, length));
    rest_.remove_prefix(length);
    return true;
  }

  bool at_end() const { return rest_.empty(); }
  std::size_t position() const { return topic_.size() - rest_.size(); }

  bool fail(std::string_view what, std::string_view detail) {
    error_ = "topic " + events::quote(topic_) + ": " + std::string(what) + ": " +
             std::string(detail) + " at byte " + std::to_string(position());
    return false;
  }
  Status error() const { return Status::corruption(error_); }

 private:
  std::string_view topic_;
  std::string_view rest_;
  std::string error_;
};

}  // namespace

// ---- topics -------------------------------------------------------------------------------

std::string netstring(std::string_view s) {
  std::string out = std::to_string(s.size());
  out += ':';
  out += s;
  return out;
}

std::string hub_prefix(std::string_view hub) {
  std::string out(kTopicRoot);
  out += netstring(hub);
  out += '/';
  return out;
}

std::string events_prefix(std::string_view hub) { return hub_prefix(hub) += kEventsPart; }

std::string event_topic(std::string_view hub, std::string_view table) {
  return events_prefix(hub) += netstring(table);
}

std::string hooks_prefix(std::string_view hub) { return hub_prefix(hub) += kHooksPart; }

std::string hook_kind_prefix(std::string_view hub, HookTopic kind) {
  std::string out = hooks_prefix(hub);
  out += hook_topic_name(kind);
  out += '/';
  return out;
}

std::string hook_topic(std::string_view hub, HookTopic kind, std::string_view child_id) {
  return hook_kind_prefix(hub, kind) += netstring(child_id);
}

std::string heartbeat_topic(std::string_view hub) { return hub_prefix(hub) += kHeartbeatPart; }

Result<ParsedTopic> parse_topic(std::string_view topic) {
  TopicParser p(topic);
  ParsedTopic out;
  if (!p.literal(kTopicRoot)) {
    p.fail("root", "expected " + events::quote(kTopicRoot));
    return p.error();
  }
  if (!p.netstring("hub", &out.hub)) return p.error();
  if (!p.literal("/")) {
    p.fail("hub", "expected '/'");
    return p.error();
  }
  if (p.literal(kEventsPart)) {
    out.kind = TopicKind::kEvent;
    if (!p.netstring("table", &out.table)) return p.error();
  } else if (p.literal(kHooksPart)) {
    out.kind = TopicKind::kHook;
    if (p.literal(hook_topic_name(HookTopic::kChildRegistered))) {
      out.hook = HookTopic::kChildRegistered;
    } else if (p.literal(hook_topic_name(HookTopic::kChildUnregistered))) {
      out.hook = HookTopic::kChildUnregistered;
    } else {
      p.fail("hook kind", "expected child_registered or child_unregistered");
      return p.error();
    }
    if (!p.literal("/")) {
      p.fail("hook kind", "expected '/'");
      return p.error();
    }
    if (!p.netstring("child id", &out.child_id)) return p.error();
  } else if (p.literal(kHeartbeatPart)) {
    out.kind = TopicKind::kHeartbeat;
  } else {
    p.fail("kind", "expected e/, h/ or hb");
    return p.error();
  }
  if (!p.at_end()) {
    p.fail("topic", "trailing bytes");
    return p.error();
  }
  return out;
}

// ---- encoding -----------------------------------------------------------------------------

void encode(const EventHeader& m, std::string* out) {
  assert(m.count >= 1 && m.count <= kMaxBatchEvents && "an event message holds 1..65536 events");
  Encoder enc(out);
  if (m.count == 1) {  // the version 1 message: one event
    begin(enc, 3);
  } else {
    enc.map(5);
    enc.str(kV);
    enc.uint(kEventBatchVersion);
  }
  write_uint(enc, kSeq, m.seq);
  write_uint(enc, kEpoch, m.epoch);
  write_uint(enc, kPrev, m.table_prev);
  if (m.count != 1) write_uint(enc, kCount, m.count);
}

void encode_event_batch(const std::vector<std::string_view>& events, std::string* out) {
  Encoder enc(out);
  enc.array(events.size());
  for (const std::string_view e : events) enc.bin(e);
}

void encode(const HookHeader& m, std::string* out) {
  assert(m.index < m.count && "a hook message is one of `count` hook events");
  Encoder enc(out);
  begin(enc, 6);
  write_uint(enc, kSeq, m.seq);
  write_uint(enc, kEpoch, m.epoch);
  write_uint(enc, kPrev, m.kind_prev);
  write_uint(enc, kHookPrev, m.hook_prev);
  write_uint(enc, kIndex, m.index);
  write_uint(enc, kCount, m.count);
}

void encode(const HookPayload& m, std::string* out) {
  assert(!m.hub.empty() && !m.table.empty() && "hub and table are never empty");
  Encoder enc(out);
  begin(enc, 4);
  write_str(enc, kHub, m.hub);
  write_str(enc, kTable, m.table);
  write_str(enc, kChildIdKey, m.child_id);
  enc.str(kNodePids);
  enc.node_pids(m.node_pids);
}

void encode(const Heartbeat& m, std::string* out) {
  Encoder enc(out);
  begin(enc, 5);
  write_uint(enc, kSeq, m.seq);
  write_uint(enc, kEpoch, m.epoch);
  enc.str(kTime);
  enc.int64(m.time_ms);
  write_uint(enc, kRegistered, m.registered_head);
  write_uint(enc, kUnregistered, m.unregistered_head);
}

void encode(const ReplayRequest& m, std::string* out) {
  assert(!m.hub.empty() && "the hub is never empty");
  Encoder enc(out);
  begin(enc, 9);
  write_uint(enc, kId, m.id);
  write_str(enc, kHub, m.hub);
  write_str(enc, kOp, kReplayOps[static_cast<std::size_t>(m.op)]);
  write_uint(enc, kFrom, m.from);
  write_uint(enc, kTo, m.to);
  write_uint(enc, kSnapshotId, m.snapshot_id);
  write_uint(enc, kOffset, m.offset);
  write_uint(enc, kMaxEvents, m.max_events);
  write_uint(enc, kMaxBytes, m.max_bytes);
}

void encode(const ReplayReplyHeader& m, std::string* out) {
  Encoder enc(out);
  begin(enc, 11);
  write_uint(enc, kId, m.id);
  enc.str(kStatus);
  write_status(enc, m.status);
  write_uint(enc, kEpoch, m.epoch);
  write_uint(enc, kHead, m.head);
  write_uint(enc, kFirst, m.first);
  write_uint(enc, kLast, m.last);
  write_uint(enc, kCount, m.count);
  enc.str(kEnd);
  enc.boolean(m.end);
  write_uint(enc, kSnapshotId, m.snapshot_id);
  write_uint(enc, kNextOffset, m.next_offset);
  write_uint(enc, kTotal, m.total);
}

void encode(const SnapshotRow& m, std::string* out) {
  events::encode_snapshot_row(m.table, m.row.entry, m.row.expires_at_ms, m.revision, out);
}

void encode(const Command& m, std::string* out) {
  assert(!m.hub.empty() && "the hub is never empty");
  Encoder enc(out);
  std::size_t op_pairs = 0;
  switch (m.op) {
    case CommandOp::kInsert:
      op_pairs = m.ttl_ms ? 4 : 3;
      break;
    case CommandOp::kBulkInsert:
    case CommandOp::kErase:
    case CommandOp::kBulkDelete:
      op_pairs = 1;
      break;
    case CommandOp::kUpdate:
      op_pairs = 3;
      break;
    case CommandOp::kClearAll:
      op_pairs = 0;
      break;
    case CommandOp::kNodeDown:
      op_pairs = 1;
      break;
  }
  begin(enc, 6 + op_pairs);
  write_uint(enc, kId, m.id);
  write_str(enc, kHub, m.hub);
  write_str(enc, kOp, kCommandOps[static_cast<std::size_t>(m.op)]);
  write_str(enc, kTable, m.table);
  enc.str(kHooks);
  enc.boolean(m.hooks);
  write_uint(enc, kTimeout, m.timeout_ms);
  switch (m.op) {
    case CommandOp::kInsert:
      enc.str(kSpec);
      events::write_spec(enc, m.spec);
      enc.str(kNodePids);
      enc.node_pids(m.node_pids);
      enc.str(kMetadata);
      enc.value_map(m.metadata);
      if (m.ttl_ms) {
        enc.str(kTtl);
        enc.int64(*m.ttl_ms);
      }
      break;
    case CommandOp::kBulkInsert:
      enc.str(kEntries);
      enc.array(m.entries.size());
      for (const Entry& entry : m.entries) events::write_entry(enc, entry);
      break;
    case CommandOp::kErase:
      write_str(enc, kChildId, m.child_id);
      break;
    case CommandOp::kBulkDelete:
      enc.str(kDeletes);
      enc.array(m.deletes.size());
      for (const auto& [child_id, nodes] : m.deletes) {
        enc.array(2);
        enc.str(child_id);
        enc.array(nodes.size());
        for (const NodeName& node : nodes) enc.str(node);
      }
      break;
    case CommandOp::kUpdate:
      write_str(enc, kChildId, m.child_id);
      write_uint(enc, kRevision, m.expect_revision);
      enc.str(kEntry);
      events::write_entry(enc, m.entry);
      break;
    case CommandOp::kClearAll:
      break;
    case CommandOp::kNodeDown:
      write_str(enc, kNode, m.node);
      break;
  }
}

void encode(const CommandReply& m, std::string* out) {
  Encoder enc(out);
  begin(enc, 4);
  write_uint(enc, kId, m.id);
  enc.str(kStatus);
  write_status(enc, m.status);
  write_uint(enc, kSeq, m.seq);
  write_uint(enc, kEpoch, m.epoch);
}

// ---- decoding -----------------------------------------------------------------------------

Result<EventHeader> decode_event_header(std::string_view bytes) {
  enum : std::size_t { kFv, kFseq, kFep, kFprev, kFcount };
  // "n" is required in version 2 only (checked below); version 1 skips it as an unknown key.
  static constexpr Fields<5> kFields{{kV, kSeq, kEpoch, kPrev, kCount},
                                     bits(kFv, kFseq, kFep, kFprev)};
  return decode_body<EventHeader>(
      bytes, {}, "event_header",
      [](Decoder& d, EventHeader* m) {
        std::uint32_t version = 0;
        std::optional<std::size_t> count_at;  // where "n"'s value is; read in version 2 only
        const bool ok = d.read_fields(kFields, [&](std::size_t index) {
          switch (index) {
            case kFv:
              return d.read_version(kVersionNoun, kEventBatchVersion, &version);
            case kFseq:
              return d.read_uint(&m->seq);
            case kFep:
              return d.read_uint(&m->epoch);
            case kFprev:
              return d.read_uint(&m->table_prev);
            default:  // kFcount
              count_at = d.position();
              return d.skip();
          }
        });
        if (!ok) return false;
        if (version < kEventBatchVersion) return true;  // one event; "n" is not version 1's
        if (!count_at) return d.fail_missing_key(kCount);
        const std::size_t end = d.position();
        d.seek(*count_at);
        std::uint64_t count = 0;
        {
          Decoder::Scope scope(&d, kCount);
          if (!d.read_uint(&count)) return false;
        }
        d.seek(end);
        if (count < 2 || count > kMaxBatchEvents) {
          return d.fail(
              Code::kCorruption,
              "n " + std::to_string(count) + " is not in 2.." + std::to_string(kMaxBatchEvents),
              false);
        }
        m->count = static_cast<std::uint32_t>(count);
        return true;
      },
      kEventBatchVersion);
}

Status decode_event_batch(std::string_view frame, std::uint32_t count,
                          const events::DecodeLimits& limits, std::vector<std::string_view>* out) {
  try {
    Decoder d(frame, limits, "event_batch");
    if (!d.check_size(frame.size()) || !d.read_tuple_head(count)) return std::move(d).error();
    out->reserve(out->size() + count);
    for (std::uint32_t i = 0; i < count; ++i) {
      Decoder::Scope scope(&d, i);
      std::string_view event;
      if (!d.read_bin(&event)) return std::move(d).error();
      out->push_back(event);
    }
    if (!d.finish()) return std::move(d).error();
    return Status();
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory while decoding");
  }
}

Result<HookHeader> decode_hook_header(std::string_view bytes) {
  enum : std::size_t { kFv, kFseq, kFep, kFprev, kFhprev, kFindex, kFcount };
  static constexpr Fields<7> kFields{{kV, kSeq, kEpoch, kPrev, kHookPrev, kIndex, kCount},
                                     bits(kFv, kFseq, kFep, kFprev, kFhprev, kFindex, kFcount)};
  return decode_body<HookHeader>(bytes, {}, "hook_header", [](Decoder& d, HookHeader* m) {
    const bool ok = d.read_fields(kFields, [&](std::size_t index) {
      switch (index) {
        case kFv:
          return read_version(d);
        case kFseq:
          return d.read_uint(&m->seq);
        case kFep:
          return d.read_uint(&m->epoch);
        case kFprev:
          return d.read_uint(&m->kind_prev);
        case kFhprev:
          return d.read_uint(&m->hook_prev);
        case kFindex:
          return read_u32(d, &m->index);
        default:  // kFcount
          return read_u32(d, &m->count);
      }
    });
    if (!ok) return false;
    if (m->index >= m->count) {
      return d.fail(
          Code::kCorruption,
          "index " + std::to_string(m->index) + " is not below count " + std::to_string(m->count),
          false);
    }
    return true;
  });
}

Result<HookPayload> decode_hook_payload(std::string_view bytes, const DecodeLimits& limits) {
  enum : std::size_t { kFv, kFhub, kFtable, kFid, kFnp };
  static constexpr Fields<5> kFields{{kV, kHub, kTable, kChildIdKey, kNodePids},
                                     bits(kFv, kFhub, kFtable, kFid, kFnp)};
  return decode_body<HookPayload>(bytes, limits, "hook_payload", [](Decoder& d, HookPayload* m) {
    return d.read_fields(kFields, [&](std::size_t index) {
      switch (index) {
        case kFv:
          return read_version(d);
        case kFhub:
          return d.read_non_empty_string(&m->hub);
        case kFtable:
          return d.read_non_empty_string(&m->table);
        case kFid:
          return d.read_string(&m->child_id);
        default:  // kFnp
          return events::read_node_pids(d, &m->node_pids);
      }
    });
  });
}

Result<Heartbeat> decode_heartbeat(std::string_view bytes) {
  enum : std::size_t { kFv, kFseq, kFep, kFtime, kFreg, kFunreg };
  static constexpr Fields<6> kFields{{kV, kSeq, kEpoch, kTime, kRegistered, kUnregistered},
                                     bits(kFv, kFseq, kFep, kFtime, kFreg, kFunreg)};
  return decode_body<Heartbeat>(bytes, {}, "heartbeat", [](Decoder& d, Heartbeat* m) {
    return d.read_fields(kFields, [&](std::size_t index) {
      switch (index) {
        case kFv:
          return read_version(d);
        case kFseq:
          return d.read_uint(&m->seq);
        case kFep:
          return d.read_uint(&m->epoch);
        case kFtime:
          return d.read_int(&m->time_ms);
        case kFreg:
          return d.read_uint(&m->registered_head);
        default:  // kFunreg
          return d.read_uint(&m->unregistered_head);
      }
    });
  });
}

Result<ReplayRequest> decode_replay_request(std::string_view bytes) {
  enum : std::size_t { kFv, kFid, kFhub, kFop, kFfrom, kFto, kFsid, kFoff, kFmaxn, kFmaxb };
  static constexpr Fields<10> kFields{
      {kV, kId, kHub, kOp, kFrom, kTo, kSnapshotId, kOffset, kMaxEvents, kMaxBytes},
      bits(kFv, kFid, kFhub, kFop)};
  return decode_body<ReplayRequest>(bytes, {}, "replay_request", [](Decoder& d, ReplayRequest* m) {
    return d.read_fields(kFields, [&](std::size_t index) {
      switch (index) {
        case kFv:
          return read_version(d);
        case kFid:
          return d.read_uint(&m->id);
        case kFhub:
          return d.read_non_empty_string(&m->hub);
        case kFop:
          return read_enum(d, kReplayOps, &m->op);
        case kFfrom:
          return d.read_uint(&m->from);
        case kFto:
          return d.read_uint(&m->to);
        case kFsid:
          return d.read_uint(&m->snapshot_id);
        case kFoff:
          return d.read_uint(&m->offset);
        case kFmaxn:
          return read_u32(d, &m->max_events);
        default:  // kFmaxb
          return read_u32(d, &m->max_bytes);
      }
    });
  });
}

Result<ReplayReplyHeader> decode_replay_reply_header(std::string_view bytes) {
  // clang-format off
  enum : std::size_t {
    kFv, kFid, kFstatus, kFep, kFhead, kFfirst, kFlast, kFcount, kFend, kFsid, kFnext, kFtotal
  };
  // clang-format on
  static constexpr Fields<12> kFields{{kV, kId, kStatus, kEpoch, kHead, kFirst, kLast, kCount, kEnd,
                                       kSnapshotId, kNextOffset, kTotal},
                                      bits(kFv, kFid, kFstatus, kFep, kFhead, kFfirst, kFlast,
                                           kFcount, kFend, kFsid, kFnext, kFtotal)};
  return decode_body<ReplayReplyHeader>(bytes, {}, "replay_reply",
                                        [](Decoder& d, ReplayReplyHeader* m) {
                                          return d.read_fields(kFields, [&](std::size_t index) {
                                            switch (index) {
                                              case kFv:
                                                return read_version(d);
                                              case kFid:
                                                return d.read_uint(&m->id);
                                              case kFstatus:
                                                return read_status(d, &m->status);
                                              case kFep:
                                                return d.read_uint(&m->epoch);
                                              case kFhead:
                                                return d.read_uint(&m->head);
                                              case kFfirst:
                                                return d.read_uint(&m->first);
                                              case kFlast:
                                                return d.read_uint(&m->last);
                                              case kFcount:
                                                return read_u32(d, &m->count);
                                              case kFend:
                                                return d.read_bool(&m->end);
                                              case kFsid:
                                                return d.read_uint(&m->snapshot_id);
                                              case kFnext:
                                                return d.read_uint(&m->next_offset);
                                              default:  // kFtotal
                                                return d.read_uint(&m->total);
                                            }
                                          });
                                        });
}

namespace {

// clang-format off
enum : std::size_t {
  kCv, kCid, kChub, kCop, kCtable, kChooks, kCtimeout,  // every op
  kCspec, kCnp, kCmd, kCttl,                            // insert
  kCentries,                                            // bulk_insert
  kCchild,                                              // erase, update
  kCdels,                                               // bulk_delete
  kCrev, kCentry,                                       // update
  kCnode                                                // node_down
};
// clang-format on
constexpr Fields<17> kCommandFields{
    {kV, kId, kHub, kOp, kTable, kHooks, kTimeout, kSpec, kNodePids, kMetadata, kTtl, kEntries,
     kChildId, kDeletes, kRevision, kEntry, kNode},
    bits(kCv, kCid, kChub, kCop)};

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
  }
  return 0;
}

bool read_deletes(Decoder& d, std::vector<std::pair<ChildId, std::vector<NodeName>>>* out) {
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

bool read_entries(Decoder& d, std::vector<Entry>* out) {
  std::uint32_t count = 0;
  if (!d.read_array_head(&count)) return false;
  out->reserve(events::initial_capacity(count));
  for (std::uint32_t i = 0; i < count; ++i) {
    Decoder::Scope item(&d, i);
    if (!events::read_entry(d, &out->emplace_back())) return false;
  }
  return true;
}

bool read_command(Decoder& d, Command* m) {
  std::uint32_t seen = 0;
  const bool ok = d.read_fields(kCommandFields, [&](std::size_t index) {
    seen |= std::uint32_t{1} << index;
    switch (index) {
      case kCv:
        return read_version(d);
      case kCid:
        return d.read_uint(&m->id);
      case kChub:
        return d.read_non_empty_string(&m->hub);
      case kCop:
        return read_enum(d, kCommandOps, &m->op);
      case kCtable:
        return d.read_string(&m->table);
      case kChooks:
        return d.read_bool(&m->hooks);
      case kCtimeout:
        return read_u32(d, &m->timeout_ms);
      case kCspec:
        return events::read_spec(d, &m->spec);
      case kCnp:
        return events::read_node_pids(d, &m->node_pids);
      case kCmd:
        return d.read_value_map(&m->metadata);
      case kCttl: {
        std::int64_t ttl = 0;
        if (!d.read_int(&ttl)) return false;
        m->ttl_ms = ttl;
        return true;
      }
      case kCentries:
        return read_entries(d, &m->entries);
      case kCchild:
        return d.read_string(&m->child_id);
      case kCdels:
        return read_deletes(d, &m->deletes);
      case kCrev:
        return d.read_uint(&m->expect_revision);
      case kCentry:
        return events::read_entry(d, &m->entry);
      default:  // kCnode
        return d.read_string(&m->node);
    }
  });
  if (!ok) return false;
  const std::uint32_t missing = required_by(m->op) & ~seen;
  for (std::size_t i = 0; i < kCommandFields.keys.size(); ++i) {
    if ((missing >> i) & 1u) {
      return d.fail(Code::kCorruption,
                    "missing key " + events::quote(kCommandFields.keys[i]) + " of op " +
                        std::string(kCommandOps[static_cast<std::size_t>(m->op)]),
                    false);
    }
  }
  return true;
}

}  // namespace

Result<Command> decode_command(std::string_view bytes, const DecodeLimits& limits) {
  return decode_body<Command>(bytes, limits, "command", read_command);
}

Result<CommandReply> decode_command_reply(std::string_view bytes) {
  enum : std::size_t { kFv, kFid, kFstatus, kFseq, kFep };
  static constexpr Fields<5> kFields{{kV, kId, kStatus, kSeq, kEpoch},
                                     bits(kFv, kFid, kFstatus, kFseq, kFep)};
  return decode_body<CommandReply>(bytes, {}, "command_reply", [](Decoder& d, CommandReply* m) {
    return d.read_fields(kFields, [&](std::size_t index) {
      switch (index) {
        case kFv:
          return read_version(d);
        case kFid:
          return d.read_uint(&m->id);
        case kFstatus:
          return read_status(d, &m->status);
        case kFseq:
          return d.read_uint(&m->seq);
        default:  // kFep
          return d.read_uint(&m->epoch);
      }
    });
  });
}

std::optional<std::uint64_t> read_request_id(std::string_view bytes) {
  try {
    const DecodeLimits limits;
    Decoder d(bytes, limits, "request");
    std::uint32_t count = 0;
    if (!d.check_size(bytes.size()) || !d.read_map_head(&count)) return std::nullopt;
    for (std::uint32_t i = 0; i < count; ++i) {
      std::string_view key;
      if (!d.read_key(&key)) return std::nullopt;
      if (key == kId) {
        std::uint64_t id = 0;
        if (!d.read_uint(&id)) return std::nullopt;
        return id;
      }
      if (!d.skip()) return std::nullopt;
    }
  } catch (const std::exception&) {
    // Out of memory while building an error message: no id.
  }
  return std::nullopt;
}

}  // namespace procreg::plugin::wire
