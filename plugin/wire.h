// procreg::plugin internal: the wire protocol's messages and their MessagePack codec.
//
// docs/PROTOCOL.md is the contract; these headers are its C++ mirror, one a protocol:
//   plugin/wire_topics.h       the bus topics (frame 0 of every bus message)
//   plugin/bus_messages.h      event, hook and heartbeat bodies
//   plugin/replay_messages.h   the replay service's requests and replies
//   plugin/command_messages.h  the command channel's commands and replies
// Every message is a ZeroMQ multipart message whose frames are listed beside each type. Every
// MessagePack body is a map with string keys (unknown keys are skipped, so a newer peer may add
// optional keys without a version bump) and carries "v": kWireVersion; a larger "v" is
// kUnsupported. plugin/wire_fields.h is the one reader and writer of those maps.
//
// Decoding takes untrusted frames: sizes are bounded by the DecodeLimits given, and every
// error is a Status (kCorruption for malformed or missing fields, kResourceExhausted for a
// limit, kUnsupported for a version or an unknown op), never an exception or a crash.
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "plugin/bus_messages.h"
#include "plugin/command_messages.h"
#include "plugin/replay_messages.h"
#include "plugin/wire_topics.h"

namespace procreg::plugin::wire {

inline constexpr std::uint32_t kWireVersion = 1;

// The id of a request (ReplayRequest or Command) that failed to decode, so that the service
// can still answer it with an error: the value of the first top-level "id" key, if `bytes`
// starts with a map that can be read (under the default DecodeLimits) up to that key and the
// value is a uint. Nothing otherwise.
std::optional<std::uint64_t> read_request_id(std::string_view bytes);

}  // namespace procreg::plugin::wire
