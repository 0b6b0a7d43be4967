// What the wire protocol's requests share (plugin/wire.h, docs/PROTOCOL.md). The topics and
// the bodies of each protocol are in plugin/wire_topics.cc, plugin/bus_messages.cc,
// plugin/replay_messages.cc and plugin/command_messages.cc.

#include "plugin/wire.h"

#include <exception>

#include "plugin/wire_fields.h"

namespace procreg::plugin::wire {

std::optional<std::uint64_t> read_request_id(std::string_view bytes) {
  try {
    const detail::DecodeLimits limits;
    detail::Decoder d(bytes, limits, "request");
    std::uint32_t count = 0;
    if (!d.check_size(bytes.size()) || !d.read_map_head(&count)) return std::nullopt;
    for (std::uint32_t i = 0; i < count; ++i) {
      std::string_view key;
      if (!d.read_key(&key)) return std::nullopt;
      if (key == "id") {
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
