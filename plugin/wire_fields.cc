// The values shared by the wire protocol's bodies (plugin/wire_fields.h, docs/PROTOCOL.md).
//
// Bodies, wire version 1. `?` marks an optional key; "v" comes first, then the keys in the
// order shown, which is the order procreg writes (readers accept any order, skip unknown keys,
// and refuse duplicate keys, missing required keys and wrong types). The bodies are listed in
// plugin/bus_messages.cc, plugin/replay_messages.cc and plugin/command_messages.cc; the value
// they share is:
//
//   status        = map { "code": str code_name, "message": str }
//
// row, entry, spec and node_pids are the event format's (events/row_codec.h). Optional keys
// read as their C++ defaults when absent.

#include "plugin/wire_fields.h"

#include <limits>
#include <optional>
#include <string>

#include "events/row_codec.h"

namespace procreg::plugin::wire::detail {

namespace {

constexpr std::string_view kCode = "code";
constexpr std::string_view kMessage = "message";

enum : std::size_t { kStatusCode, kStatusMessage };
constexpr events::Fields<2> kStatusFields{{kCode, kMessage}, bits(kStatusCode, kStatusMessage)};

// The Code whose code_name is `name`, if any. Codes are numbered from 0 without gaps, and
// code_name answers "unknown" past the last one.
std::optional<Code> code_of(std::string_view name) {
  for (int i = 0;; ++i) {
    const std::string_view known = code_name(static_cast<Code>(i));
    if (known == "unknown") return std::nullopt;
    if (known == name) return static_cast<Code>(i);
  }
}

}  // namespace

bool Plain::read(Decoder& d, std::uint32_t* v) {
  std::uint64_t value = 0;
  if (!d.read_uint(&value)) return false;
  if (value > std::numeric_limits<std::uint32_t>::max()) {
    return d.fail(Code::kCorruption, "integer " + std::to_string(value) + " exceeds uint32");
  }
  *v = static_cast<std::uint32_t>(value);
  return true;
}

bool Plain::read(Decoder& d, std::optional<std::int64_t>* v) {
  std::int64_t value = 0;
  if (!d.read_int(&value)) return false;
  *v = value;
  return true;
}

bool Plain::read(Decoder& d, Status* v) {
  std::string code;
  std::string message;
  const bool ok = d.read_fields(kStatusFields, [&](std::size_t index) {
    return index == kStatusCode ? d.read_string(&code) : d.read_string(&message);
  });
  if (!ok) return false;
  if (const std::optional<Code> known = code_of(code)) {
    *v = Status(*known, std::move(message));
  } else {
    // A code of a newer peer: still an error, with what it said.
    *v = Status(Code::kInternal, "unknown status code " + events::quote(code) + ": " + message);
  }
  return true;
}

void Plain::write(Encoder& e, const Status& v) {
  e.map(2);
  e.str(kCode);
  e.str(code_name(v.code()));
  e.str(kMessage);
  e.str(v.message());
}

bool Plain::read(Decoder& d, NodePids* v) { return events::read_node_pids(d, v); }

bool Plain::read(Decoder& d, ChildSpec* v) { return events::read_spec(d, v); }
void Plain::write(Encoder& e, const ChildSpec& v) { events::write_spec(e, v); }

bool Plain::read(Decoder& d, Entry* v) { return events::read_entry(d, v); }
void Plain::write(Encoder& e, const Entry& v) { events::write_entry(e, v); }

}  // namespace procreg::plugin::wire::detail
