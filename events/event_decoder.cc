#include "events/event_decoder.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "events/event_keys.h"
#include "events/row_codec.h"

namespace procreg::events {

namespace {

enum : std::size_t {
  kEnvVersion,
  kEnvKind,
  kEnvHub,
  kEnvTable,
  kEnvSeq,
  kEnvEpoch,
  kEnvTime,
  kEnvHooks,
  kEnvBody
};
constexpr std::string_view kVersionNoun = "schema version";

constexpr Fields<9> kEnvelopeFields{
    {kVersion, kKind, kHub, kTable, kSeq, kEpoch, kTime, kHooks, kBody},
    bits(kEnvVersion, kEnvKind, kEnvHub, kEnvTable, kEnvSeq, kEnvEpoch, kEnvTime, kEnvHooks,
         kEnvBody)};

// Bodies.
constexpr Fields<1> kRowBodyFields{{kRow}, bits(0)};
constexpr Fields<1> kItemsBodyFields{{kItems}, bits(0)};
constexpr Fields<1> kIdBodyFields{{kId}, bits(0)};
enum : std::size_t { kUpdateId, kUpdateRow };
constexpr Fields<2> kUpdateFields{{kId, kRow}, bits(kUpdateId, kUpdateRow)};
constexpr Fields<0> kClearFields{{}, 0};

// Items.
enum : std::size_t { kInsRow, kInsDiff };
constexpr Fields<2> kBulkInsertItemFields{{kRow, kDiff}, bits(kInsRow, kInsDiff)};
enum : std::size_t { kDelId, kDelChanged, kDelNodePids, kDelExpires };
constexpr Fields<4> kBulkDeleteItemFields{{kId, kChanged, kNodePids, kExpires},
                                          bits(kDelId, kDelChanged, kDelNodePids)};
enum : std::size_t { kExpId, kExpRowSeq };
constexpr Fields<2> kExpireItemFields{{kId, kRowSeq}, bits(kExpId, kExpRowSeq)};

// Reads the event layout; every method returns false after `d_` recorded an error.
class EventReader {
 public:
  explicit EventReader(Decoder& decoder) : d_(decoder) {}

  bool read_event(Event* event);

 private:
  bool check_version();
  bool read_kind(EventKind* out);
  bool read_body(EventKind kind, EventBody* body);
  template <typename Item>
  bool read_items(std::vector<Item>* items);
  bool read_item(BulkInsertItem* item);
  bool read_item(BulkDeleteItem* item);
  bool read_item(ExpireItem* item);

  Decoder& d_;
};

bool EventReader::read_event(Event* event) {
  if (!check_version()) return false;
  std::optional<EventKind> kind;
  std::optional<std::size_t> deferred_body;  // where "b" starts if it came before "k"
  const bool ok = d_.read_fields(kEnvelopeFields, [&](std::size_t index) {
    switch (index) {
      case kEnvVersion:
        return d_.read_version(kVersionNoun, kEventSchemaVersion, &event->schema_version);
      case kEnvKind: {
        EventKind k{};
        if (!read_kind(&k)) return false;
        kind = k;
        return true;
      }
      case kEnvHub:
        return d_.read_non_empty_string(&event->hub);
      case kEnvTable:
        return d_.read_non_empty_string(&event->table);
      case kEnvSeq:
        return d_.read_uint(&event->seq);
      case kEnvEpoch:
        return d_.read_uint(&event->epoch);
      case kEnvTime:
        return d_.read_int(&event->writer_time_ms);
      case kEnvHooks:
        return d_.read_bool(&event->hooks);
      default:  // kEnvBody
        if (kind) return read_body(*kind, &event->body);
        deferred_body = d_.position();
        return d_.skip();
    }
  });
  if (!ok || !deferred_body) return ok;
  // read_fields saw "k", so *kind is set.
  const std::size_t end = d_.position();
  d_.seek(*deferred_body);
  Decoder::Scope scope(&d_, kBody);
  if (!read_body(*kind, &event->body)) return false;
  d_.seek(end);
  return true;
}

// "v" is found and checked before anything else is interpreted, so that an event of a newer
// schema is refused as kUnsupported, not misread as v1.
bool EventReader::check_version() {
  return d_.check_version(kVersion, kVersionNoun, kEventSchemaVersion);
}

bool EventReader::read_kind(EventKind* out) {
  std::string_view name;
  if (!d_.read_str(&name)) return false;
  // Kinds are numbered as the alternatives of EventBody (Event::kind()).
  for (std::size_t i = 0; i < std::variant_size_v<EventBody>; ++i) {
    if (event_kind_name(static_cast<EventKind>(i)) == name) {
      *out = static_cast<EventKind>(i);
      return true;
    }
  }
  return d_.fail(Code::kUnsupported, "unknown event kind " + quote(name));
}

bool EventReader::read_body(EventKind kind, EventBody* body) {
  switch (kind) {
    case EventKind::kInsert: {
      auto& insert = body->emplace<Insert>();
      return d_.read_fields(kRowBodyFields, [&](std::size_t) { return read_row(d_, &insert.row); });
    }
    case EventKind::kBulkInsert:
      return read_items(&body->emplace<BulkInsert>().items);
    case EventKind::kDelete: {
      auto& del = body->emplace<Delete>();
      return d_.read_fields(kIdBodyFields,
                            [&](std::size_t) { return d_.read_string(&del.child_id); });
    }
    case EventKind::kBulkDelete:
      return read_items(&body->emplace<BulkDelete>().items);
    case EventKind::kUpdate: {
      auto& update = body->emplace<Update>();
      return d_.read_fields(kUpdateFields, [&](std::size_t index) {
        return index == kUpdateId ? d_.read_string(&update.child_id) : read_row(d_, &update.row);
      });
    }
    case EventKind::kClear:
      body->emplace<Clear>();
      return d_.read_fields(kClearFields, [](std::size_t) { return true; });
    case EventKind::kExpire:
      return read_items(&body->emplace<Expire>().items);
  }
  return d_.fail(Code::kInternal, "an event kind without a body reader", false);
}

template <typename Item>
bool EventReader::read_items(std::vector<Item>* items) {
  return d_.read_fields(kItemsBodyFields, [&](std::size_t) {
    std::uint32_t count = 0;
    if (!d_.read_array_head(&count)) return false;
    items->reserve(initial_capacity(count));
    for (std::uint32_t i = 0; i < count; ++i) {
      Decoder::Scope scope(&d_, i);
      if (!read_item(&items->emplace_back())) return false;
    }
    return true;
  });
}

bool EventReader::read_item(BulkInsertItem* item) {
  return d_.read_fields(kBulkInsertItemFields, [&](std::size_t index) {
    return index == kInsRow ? read_row(d_, &item->row) : read_node_pids(d_, &item->diff);
  });
}

bool EventReader::read_item(BulkDeleteItem* item) {
  return d_.read_fields(kBulkDeleteItemFields, [&](std::size_t index) {
    switch (index) {
      case kDelId:
        return d_.read_string(&item->child_id);
      case kDelChanged:
        return d_.read_bool(&item->changed);
      case kDelNodePids:
        return read_node_pids(d_, &item->node_pids);
      default:  // kDelExpires
        return read_expiry(d_, &item->expires_at_ms);
    }
  });
}

bool EventReader::read_item(ExpireItem* item) {
  return d_.read_fields(kExpireItemFields, [&](std::size_t index) {
    return index == kExpId ? d_.read_string(&item->child_id) : d_.read_uint(&item->row_seq);
  });
}

}  // namespace

bool read_event(Decoder& decoder, Event* event) { return EventReader(decoder).read_event(event); }

}  // namespace procreg::events
