// The row, spec, entry and node_pids layouts (events/row_codec.h, docs/EVENT_FORMAT.md).

#include "events/row_codec.h"

#include <cassert>
#include <cstddef>
#include <string>

#include "events/event_keys.h"

namespace procreg::events {

namespace {

enum : std::size_t { kRowSpec, kRowNodePids, kRowMetadata, kRowExpires };
// An entry's keys are a row's without "exp".
constexpr Fields<4> kRowFields{{kSpec, kNodePids, kMetadata, kExpires},
                               bits(kRowSpec, kRowNodePids, kRowMetadata)};
constexpr Fields<3> kEntryFields{{kSpec, kNodePids, kMetadata},
                                 bits(kRowSpec, kRowNodePids, kRowMetadata)};

enum : std::size_t { kSpecId, kSpecStart };
constexpr Fields<2> kSpecFields{{kId, kStart}, bits(kSpecId, kSpecStart)};

bool read_start(Decoder& d, StartSpec* start) {
  if (!d.read_tuple_head(3)) return false;
  {
    Decoder::Scope scope(&d, std::uint32_t{0});
    if (!d.read_string(&start->module)) return false;
  }
  {
    Decoder::Scope scope(&d, std::uint32_t{1});
    if (!d.read_string(&start->function)) return false;
  }
  Decoder::Scope scope(&d, std::uint32_t{2});
  return d.read_value_array(&start->args);
}

// The value of the row or entry key `index` (kRowSpec ... kRowExpires).
bool read_row_field(Decoder& d, std::size_t index, Entry* entry,
                    std::optional<std::int64_t>* expires_at_ms) {
  switch (index) {
    case kRowSpec:
      return read_spec(d, &entry->spec);
    case kRowNodePids:
      return read_node_pids(d, &entry->node_pids);
    case kRowMetadata:
      return d.read_value_map(&entry->metadata);
    default:  // kRowExpires
      return read_expiry(d, expires_at_ms);
  }
}

}  // namespace

void write_spec(Encoder& enc, const ChildSpec& spec) {
  assert(!spec.extra.contains(kId) && !spec.extra.contains(kStart) &&
         "a spec's extra fields must not shadow id or start");
  enc.map(2 + spec.extra.size());
  enc.str(kId);
  enc.str(spec.id);
  enc.str(kStart);
  enc.array(3);
  enc.str(spec.start.module);
  enc.str(spec.start.function);
  enc.value_array(spec.start.args);
  for (const auto& [key, value] : spec.extra) {
    enc.str(key);
    enc.value(value);
  }
}

void write_expiry(Encoder& enc, const std::optional<std::int64_t>& expires_at_ms) {
  if (!expires_at_ms) return;
  enc.str(kExpires);
  enc.int64(*expires_at_ms);
}

void write_row(Encoder& enc, const Entry& entry, const std::optional<std::int64_t>& expires_at_ms,
               EntryPartsAt* at) {
  // Where the part about to be written starts, and its size once written.
  const auto offset = [&enc] {
    assert(enc.size() < 0xffffffffu && "the output is under 4 GiB");
    return static_cast<std::uint32_t>(enc.size());
  };
  EntryPartsAt parts;
  enc.map(expires_at_ms ? 4 : 3);
  enc.str(kSpec);
  parts.spec = offset();
  write_spec(enc, entry.spec);
  parts.spec_size = offset() - parts.spec;
  enc.str(kNodePids);
  parts.node_pids = offset();
  enc.node_pids(entry.node_pids);
  parts.node_pids_size = offset() - parts.node_pids;
  enc.str(kMetadata);
  parts.metadata = offset();
  enc.value_map(entry.metadata);
  parts.metadata_size = offset() - parts.metadata;
  write_expiry(enc, expires_at_ms);
  if (at != nullptr) *at = parts;
}

void write_row(Encoder& enc, const EncodedEntry& entry,
               const std::optional<std::int64_t>& expires_at_ms) {
  enc.map(expires_at_ms ? 4 : 3);
  enc.str(kSpec);
  enc.raw(entry.spec);
  enc.str(kNodePids);
  enc.raw(entry.node_pids);
  enc.str(kMetadata);
  enc.raw(entry.metadata);
  write_expiry(enc, expires_at_ms);
}

void write_row(Encoder& enc, const Row& row, EntryPartsAt* at) {
  write_row(enc, row.entry, row.expires_at_ms, at);
}

void write_entry(Encoder& enc, const Entry& entry) {
  enc.map(3);
  enc.str(kSpec);
  write_spec(enc, entry.spec);
  enc.str(kNodePids);
  enc.node_pids(entry.node_pids);
  enc.str(kMetadata);
  enc.value_map(entry.metadata);
}

bool read_row(Decoder& d, Row* row) {
  return d.read_fields(kRowFields, [&](std::size_t index) {
    return read_row_field(d, index, &row->entry, &row->expires_at_ms);
  });
}

bool read_entry(Decoder& d, Entry* entry) {
  return d.read_fields(kEntryFields, [&](std::size_t index) {
    return read_row_field(d, index, entry, nullptr);  // index < kRowExpires
  });
}

bool read_spec(Decoder& d, ChildSpec* spec) {
  const auto field = [&](std::size_t index) {
    return index == kSpecId ? d.read_string(&spec->id) : read_start(d, &spec->start);
  };
  // Any other key is an extra field of the user's spec: kept, not skipped.
  const auto extra = [&](std::string_view key) {
    const std::size_t size_before = spec->extra.size();
    const auto it = spec->extra.try_emplace(spec->extra.end(), std::string(key));
    if (spec->extra.size() == size_before) return d.fail_duplicate_key(key);
    Decoder::Scope scope(&d, key);
    return d.read_value(&it->second);
  };
  return d.read_fields(kSpecFields, field, extra);
}

bool read_node_pids(Decoder& d, NodePids* out) {
  std::uint32_t count = 0;
  if (!d.read_array_head(&count)) return false;
  out->reserve(initial_capacity(count));
  for (std::uint32_t i = 0; i < count; ++i) {
    Decoder::Scope scope(&d, i);
    NodePid& pair = out->emplace_back();
    if (!d.read_tuple_head(2) || !d.read_string(&pair.node) || !d.read_string(&pair.pid)) {
      return false;
    }
  }
  return true;
}

bool read_expiry(Decoder& d, std::optional<std::int64_t>* out) {
  std::int64_t expires_at_ms = 0;
  if (!d.read_int(&expires_at_ms)) return false;
  *out = expires_at_ms;
  return true;
}

}  // namespace procreg::events
