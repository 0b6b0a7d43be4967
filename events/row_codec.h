// procreg::events internal: the row, spec, entry and node_pids layouts, shared by the event
// codec (events/codec.cc, events/event_decoder.cc) and the wire protocol
// (plugin/command_messages.cc, plugin/replay_messages.cc).
//
// The layouts are specified in docs/EVENT_FORMAT.md, "Rows, specs and node lists":
//
//   row       = map { "spec": spec, "np": node_pids, "md": map of Value, "exp"?: int }
//   entry     = map { "spec": spec, "np": node_pids, "md": map of Value }   (a row without "exp")
//   spec      = map { "id": str, "start": [ str module, str function, array of Value args ],
//                     <extra key>: Value, ... }
//   node_pids = [ [ str node, str pid ], ... ]
//
// Writers write the keys in the order shown (a spec's extra keys after "start", in ascending
// byte order); readers accept any order, skip unknown keys of row and entry maps, read unknown
// keys of a spec map as its extra fields, and refuse missing or duplicate keys (kCorruption).
//
// Thread safety: as the Encoder's and the Decoder's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "events/decoder.h"
#include "events/encoder.h"
#include "procreg/event.h"
#include "procreg/types.h"

namespace procreg::events {

// An entry held as its encoded parts: each view is exactly one item of the layout above (the
// projection stores rows this way, state/table_row.h, and writes snapshot rows from them).
struct EncodedEntry {
  std::string_view spec;       // spec
  std::string_view node_pids;  // node_pids
  std::string_view metadata;   // map of Value
};

// Where write_row put an entry's parts: offsets into the encoder's output string (offsets,
// not views, because the string may move as more is appended).
struct EntryPartsAt {
  std::uint32_t spec = 0, spec_size = 0;
  std::uint32_t node_pids = 0, node_pids_size = 0;
  std::uint32_t metadata = 0, metadata_size = 0;

  // The parts as views of `out`, the whole output string the offsets are into.
  EncodedEntry in(std::string_view out) const {
    return EncodedEntry{out.substr(spec, spec_size), out.substr(node_pids, node_pids_size),
                        out.substr(metadata, metadata_size)};
  }
};

// Precondition (asserted): no extra field of the spec is named "id" or "start".
void write_spec(Encoder& enc, const ChildSpec& spec);
// With `at`, also records where the parts went (precondition: the output is under 4 GiB).
void write_row(Encoder& enc, const Row& row, EntryPartsAt* at = nullptr);
// The same for a row held as its parts.
void write_row(Encoder& enc, const Entry& entry, const std::optional<std::int64_t>& expires_at_ms,
               EntryPartsAt* at = nullptr);
void write_row(Encoder& enc, const EncodedEntry& entry,
               const std::optional<std::int64_t>& expires_at_ms);
void write_entry(Encoder& enc, const Entry& entry);
// The key "exp" and its int, or nothing when `expires_at_ms` is empty.
void write_expiry(Encoder& enc, const std::optional<std::int64_t>& expires_at_ms);

// Each reads one item at the decoder's position. They return false after the decoder has
// recorded the error; the output is then partly written and must be discarded.
bool read_spec(Decoder& decoder, ChildSpec* spec);
bool read_row(Decoder& decoder, Row* row);
bool read_entry(Decoder& decoder, Entry* entry);
bool read_node_pids(Decoder& decoder, NodePids* node_pids);
// The value of an "exp" key: an int.
bool read_expiry(Decoder& decoder, std::optional<std::int64_t>* expires_at_ms);

}  // namespace procreg::events
