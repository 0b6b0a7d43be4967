// procreg::plugin internal: the reads of the command channel (docs/PROTOCOL.md, "Reads"),
// answered from a Registry's projection: a writer's, a replica's or a read-only replay's.
//
// Point reads (lookup, get_pid, ...) answer in one reply. Reads of many rows are paged: each
// reply holds at most `lim` rows (kDefaultPageRows when 0, kMaxPageRows at most) and about
// kPageBytes, with a cursor for the next page; a cursor is valid only at the node that issued
// it (plugin/ encodes state/pages.h's position in it).
//
// Thread safety: free functions; the Registry is safe to read from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "plugin/command_messages.h"
#include "procreg/registry.h"

namespace procreg::plugin {

inline constexpr std::uint32_t kDefaultPageRows = 1'000;
inline constexpr std::uint32_t kMaxPageRows = 10'000;
inline constexpr std::size_t kPageBytes = 1u << 20;

// Answers the read `c` from `registry`: reply.status, seq (the state read), epoch, result and
// next. The caller has checked the hub and waited for c.at_least_seq.
wire::CommandReply execute_read(const Registry& registry, const wire::Command& c);

}  // namespace procreg::plugin
