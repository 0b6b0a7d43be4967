// procreg::events: the MessagePack codec of events.
//
// Layout, schema version 1. docs/EVENT_FORMAT.md is the full specification (types, limits,
// compatibility rules, annotated hex dumps); this is the summary. `?` marks an optional key.
//
//   event     = map { "v": uint schema_version, "k": str kind, "hub": str, "tbl": str,
//                     "seq": uint, "ep": uint epoch, "t": int writer_time_ms, "hk": bool hooks,
//                     "b": body }
//   body      = insert       map { "row": row }
//             | bulk_insert  map { "items": [ map { "row": row, "diff": node_pids }, ... ] }
//             | delete       map { "id": str }
//             | bulk_delete  map { "items": [ map { "id": str, "chg": bool, "np": node_pids,
//                                                  "exp"?: int }, ... ] }
//             | update       map { "id": str, "row": row }
//             | clear        map { }
//             | expire       map { "items": [ map { "id": str, "rs": uint row_seq }, ... ] }
//   row       = map { "spec": spec, "np": node_pids, "md": map of Value, "exp"?: int }
//   spec      = map { "id": str, "start": [ str module, str function, array of Value args ],
//                     <extra key>: Value, ... }
//   node_pids = [ [ str node, str pid ], ... ]
//
// "k" is event_kind_name(kind). "hub" and "tbl" are non-empty. "exp" is present exactly when the
// expiry has a value. Values are encoded as in events/value_codec.cc; rows, specs and node_pids
// as in events/row_codec.cc (shared with the wire protocol).
//
// Writing: keys in the order shown, a spec's extra keys after "start" in ascending byte order,
// integers in their smallest format, so equal events give equal bytes.
// Reading: keys in any order. "v" is found and checked before anything else is interpreted:
// 0 is kCorruption, above kEventSchemaVersion kUnsupported, as is an unknown "k". Unknown keys
// in event, body, item and row maps are skipped (optional additions of a newer writer); unknown
// keys in a spec map are its extra fields. Missing or duplicate keys, wrong types and trailing
// bytes are kCorruption.

#include "events/codec.h"

#include <cassert>
#include <utility>
#include <variant>

#include "events/decoder.h"
#include "events/encoder.h"
#include "events/event_decoder.h"
#include "events/event_keys.h"
#include "events/row_codec.h"

namespace procreg::events {

namespace {

constexpr std::size_t kTypicalEventBytes = 256;

// `rows`, when not null, receives where each row of the body went (events/codec.h).
using RowsAt = std::vector<EntryPartsAt>;

EntryPartsAt* next_row(RowsAt* rows) { return rows == nullptr ? nullptr : &rows->emplace_back(); }

void write_item(Encoder& enc, const BulkInsertItem& item, RowsAt* rows) {
  enc.map(2);
  enc.str(kRow);
  write_row(enc, item.row, next_row(rows));
  enc.str(kDiff);
  enc.node_pids(item.diff);
}

void write_item(Encoder& enc, const BulkDeleteItem& item, RowsAt*) {
  enc.map(item.expires_at_ms ? 4 : 3);
  enc.str(kId);
  enc.str(item.child_id);
  enc.str(kChanged);
  enc.boolean(item.changed);
  enc.str(kNodePids);
  enc.node_pids(item.node_pids);
  write_expiry(enc, item.expires_at_ms);
}

void write_item(Encoder& enc, const ExpireItem& item, RowsAt*) {
  enc.map(2);
  enc.str(kId);
  enc.str(item.child_id);
  enc.str(kRowSeq);
  enc.uint(item.row_seq);
}

template <typename Item>
void write_items(Encoder& enc, const std::vector<Item>& items, RowsAt* rows) {
  enc.map(1);
  enc.str(kItems);
  enc.array(items.size());
  for (const Item& item : items) write_item(enc, item, rows);
}

void write_body(Encoder& enc, const Insert& body, RowsAt* rows) {
  enc.map(1);
  enc.str(kRow);
  write_row(enc, body.row, next_row(rows));
}
void write_body(Encoder& enc, const BulkInsert& body, RowsAt* rows) {
  write_items(enc, body.items, rows);
}
void write_body(Encoder& enc, const Delete& body, RowsAt*) {
  enc.map(1);
  enc.str(kId);
  enc.str(body.child_id);
}
void write_body(Encoder& enc, const BulkDelete& body, RowsAt* rows) {
  write_items(enc, body.items, rows);
}
void write_body(Encoder& enc, const Update& body, RowsAt* rows) {
  enc.map(2);
  enc.str(kId);
  enc.str(body.child_id);
  enc.str(kRow);
  write_row(enc, body.row, next_row(rows));
}
void write_body(Encoder& enc, const Clear&, RowsAt*) { enc.map(0); }
void write_body(Encoder& enc, const Expire& body, RowsAt* rows) {
  write_items(enc, body.items, rows);
}

}  // namespace

// Preconditions (asserted): the event is of this build's schema version, hub and table are not
// empty, no extra spec field is named "id" or "start", and no string, binary, array or map
// reaches 2^32 bytes or elements. The registry's validation guarantees all of them.
void encode(const Event& event, std::string* out) { encode(event, out, nullptr); }

void encode(const Event& event, std::string* out, std::vector<EntryPartsAt>* rows) {
  assert(event.schema_version == kEventSchemaVersion && "this build writes only its own schema");
  assert(!event.hub.empty() && !event.table.empty() && "hub and table are never empty");
  // One allocation for an event of the usual size where the string would grow several times.
  out->reserve(out->size() + kTypicalEventBytes);
  Encoder enc(out);
  enc.map(9);
  enc.str(kVersion);
  enc.uint(event.schema_version);
  enc.str(kKind);
  enc.str(event_kind_name(event.kind()));
  enc.str(kHub);
  enc.str(event.hub);
  enc.str(kTable);
  enc.str(event.table);
  enc.str(kSeq);
  enc.uint(event.seq);
  enc.str(kEpoch);
  enc.uint(event.epoch);
  enc.str(kTime);
  enc.int64(event.writer_time_ms);
  enc.str(kHooks);
  enc.boolean(event.hooks);
  enc.str(kBody);
  if (rows != nullptr) rows->clear();
  std::visit([&](const auto& body) { write_body(enc, body, rows); }, event.body);
}

std::string encode(const Event& event) {
  std::string out;
  encode(event, &out);
  return out;
}

Result<Event> decode(std::string_view bytes, const DecodeLimits& limits) {
  return decode_without_throwing<Event>([&]() -> Result<Event> {
    Decoder decoder(bytes, limits, "event");
    Result<Event> result = Event();  // decoded in place, returned without a copy
    if (!decoder.check_size(bytes.size()) || !read_event(decoder, &*result) || !decoder.finish()) {
      result = std::move(decoder).error();
    }
    return result;
  });
}

}  // namespace procreg::events
